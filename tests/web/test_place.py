"""Finding where you live on the portal, in Chromium: an address typed (real addresses of the
shipped Paris extract, none of them in a test fixture of the pages) selects its quartier or
centres a radius on it, said in words; "Ma position" refused says so and leads to the search;
on a phone every area can be zoomed to a target of 24 px or more; the keyboard alone places a
point, draws an area, and never lands on an invisible element; the map is a group of options,
not an image."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from tests.web.site import SCREENSHOTS, NewPage, Site, in_language, screenshot

pytestmark = pytest.mark.browser


async def search(page: Page, typed: str, choose: str) -> None:
    await page.get_by_label("Votre adresse").fill(typed)
    await page.get_by_role("button", name="Rechercher").click()
    await page.get_by_role("button", name=choose).click()


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


async def subscriptions_made(page: Page, site: Site) -> list[dict[str, Any]]:
    await page.get_by_label("Adresse e-mail").fill("camille@example.org")
    await page.get_by_role("button", name="M'abonner").click()
    await expect(page.get_by_role("heading", name="Presque terminé")).to_be_visible()
    token = str(await page.locator("#manage-link").get_attribute("href")).split("#", 1)[1]
    r = await site.api.get(
        f"/v1/cities/paris/citizens/{payload(token)['s']}",
        headers={"Authorization": f"Bearer {token}"},
    )
    return list((await r.json())["subscriptions"])


async def test_an_address_typed_in_the_portal_selects_its_quartier(page: Page, site: Site) -> None:
    await page.goto("/")
    await search(page, "111 rue de tolbiac", "111 Rue de Tolbiac, 75013 Paris")
    chosen = page.locator("#place-chosen")
    await expect(chosen).to_be_focused()
    await expect(chosen).to_contain_text(
        "111 Rue de Tolbiac, 75013 Paris est dans le quartier Gare (13e), ajouté à votre choix."
    )
    await expect(page.locator("#where-summary")).to_have_text("1 zone choisie :")
    await expect(page.locator(".selection-list")).to_contain_text("Gare (13e)")
    await screenshot(page, "portal-address-quartier-fr")
    [sub] = await subscriptions_made(page, site)
    assert sub["area"] == "7511302"  # the quartier de la Gare


async def test_a_radius_around_an_address_is_said_in_words(page: Page, site: Site) -> None:
    await page.goto("/")
    await page.get_by_label("Un point et un rayon").check()
    await expect(page.get_by_label("Latitude")).to_be_hidden()  # nobody is asked for one
    await search(page, "8 Place d'Italie", "8 Place d'Italie, 75013 Paris")
    summary = page.locator("#where-summary")
    await expect(summary).to_have_text("300 m autour du 8 Place d'Italie, 75013 Paris")
    await page.get_by_label("Rayon (mètres)").first.fill("800")
    await expect(summary).to_have_text("800 m autour du 8 Place d'Italie, 75013 Paris")
    await expect(page.locator("#place-chosen")).to_contain_text("800 m autour du 8 Place")
    await screenshot(page, "portal-address-radius-fr")
    await in_language(page, "en")
    await expect(summary).to_have_text("800 m around 8 Place d'Italie, 75013 Paris")
    await in_language(page, "fr")
    [sub] = await subscriptions_made(page, site)
    assert (sub["point"], sub["radius_m"]) == ({"lon": 2.354181, "lat": 48.8316}, 800)


async def test_an_address_found_for_a_quartier_can_become_a_radius(page: Page) -> None:
    await page.goto("/")
    await search(page, "rue du moulin des pres", "Rue du Moulin des Prés, 75013 Paris")
    await expect(page.locator(".selection-list")).to_contain_text("Maison-Blanche (13e)")
    await page.get_by_role("button", name="Plutôt un rayon autour de cette adresse").click()
    await expect(page.get_by_label("Un point et un rayon")).to_be_checked()
    await expect(page.locator("#where-summary")).to_have_text(
        "300 m autour de : Rue du Moulin des Prés, 75013 Paris"
    )
    await page.get_by_label("Quartiers et arrondissements").check()
    await expect(page.locator("#where-summary")).to_have_text("Aucune zone choisie.")


async def test_an_address_not_found_says_what_to_do(page: Page) -> None:
    await page.goto("/")
    await page.get_by_label("Votre adresse").fill("3 impasse imaginaire")
    await page.get_by_label("Votre adresse").press("Enter")  # searches; never sends the form
    await expect(page.locator("#place-status")).to_have_text(
        "Aucune adresse trouvée pour « 3 impasse imaginaire ». Vérifiez l'orthographe, essayez "
        "sans le numéro, ou choisissez votre quartier sur la carte."
    )
    await expect(page.locator("#done")).to_be_hidden()


async def test_a_refused_location_says_so_and_offers_the_search(page: Page) -> None:
    await page.goto("/")  # the context grants no geolocation: Chromium refuses it
    await page.get_by_label("Un point et un rayon").check()
    await page.get_by_role("button", name="Utiliser ma position").click()
    status = page.locator("#where-locate-status")
    await expect(status).to_contain_text("l'autorisation a été refusée")
    await page.get_by_role("button", name="Chercher mon adresse").click()
    await expect(page.get_by_label("Votre adresse")).to_be_focused()
    await screenshot(page, "portal-location-refused-fr")


async def test_a_location_given_is_said_in_words_and_one_outside_the_city_is_not_taken(
    page: Page, site: Site
) -> None:
    await page.context.grant_permissions(["geolocation"], origin=site.url)
    await page.context.set_geolocation({"latitude": 48.8462, "longitude": 2.3520})  # rue Monge
    await page.goto("/")
    await page.get_by_label("Un point et un rayon").check()
    await page.get_by_role("button", name="Utiliser ma position").click()
    await expect(page.locator("#where-summary")).to_have_text(
        "300 m autour de votre position, dans Saint-Victor (5e)"
    )
    await page.context.set_geolocation({"latitude": 45.7640, "longitude": 4.8357})  # Lyon
    await page.get_by_role("button", name="Utiliser ma position").click()
    await expect(page.locator("#where-locate-status")).to_contain_text(
        "Votre position semble être hors de Paris."
    )
    await expect(page.locator("#where-summary")).to_contain_text("votre position, dans Saint")


async def test_on_a_phone_every_area_can_be_zoomed_to_a_24px_target(new_page: NewPage) -> None:
    phone = await new_page(width=390, height=844)
    await phone.goto("/")
    svg = phone.locator("svg.map")
    await expect(svg).to_be_visible()
    assert (await svg.bounding_box() or {"width": 0})["width"] >= 340
    zoom_in = phone.get_by_role("button", name="Agrandir la carte")
    for name in ("Agrandir la carte", "Réduire la carte", "Toute la ville"):
        box = await phone.get_by_role("button", name=name).bounding_box()
        assert box and box["width"] >= 24 and box["height"] >= 24, name
    smallest = """() => Math.min(...[...document.querySelectorAll(
        'svg.map g[data-kind=quartier] path.area')].map((p) => {
          const r = p.getBoundingClientRect(); return Math.min(r.width, r.height); }))"""
    before = await phone.evaluate(smallest)
    while await zoom_in.is_enabled():
        await zoom_in.click()
    after = await phone.evaluate(smallest)
    assert before < 24 <= after, (before, after)
    # zoomed in, the quartiers are named on the map, and one is chosen by a tap
    await expect(phone.locator("svg.map g.sublabels")).to_have_attribute("display", "inline")
    await phone.get_by_role("button", name="Toute la ville").click()
    await expect(phone.locator("svg.map g.sublabels")).to_have_attribute("display", "none")
    await phone.get_by_label("Votre adresse").fill("62 boulevard de l'hopital")
    await phone.get_by_role("button", name="Rechercher").click()
    await phone.get_by_role("button", name="62 Boulevard de l'Hôpital, 75013 Paris").click()
    assert await svg.get_attribute("viewBox") != "0 0 1000 " + str(
        await phone.evaluate("document.querySelector('svg.map').viewBox.baseVal.height")
    )
    await screenshot(phone, "portal-phone-address-fr")
    await svg.screenshot(path=str(SCREENSHOTS / "portal-phone-address-map-fr.png"))


async def focus_problem(page: Page) -> str | None:
    """What is wrong with the focused element, if anything: none (the focus went where the page
    cannot say, as into a <use> copy of an area), hidden, or of no size."""
    problem = await page.evaluate(
        """(() => { const e = document.activeElement;
          if (!e || e === document.body) return 'the focus is on nothing the page shows';
          if (e.tagName.toLowerCase() === 'use') return 'a <use> copy';
          const r = e.getBoundingClientRect();
          if (!r.width || !r.height) return `${e.id || e.tagName} has no size`;
          if (!e.checkVisibility({ visibilityProperty: true, opacityProperty: true }))
            return `${e.id || e.tagName} is invisible`;
          return null; })()"""
    )
    return None if problem is None else str(problem)


async def test_tabbing_through_the_map_never_lands_on_an_invisible_element(page: Page) -> None:
    await page.goto("/")
    last = page.locator("#magic button[type=submit]")  # the page's last tab stop
    for mode in ("Quartiers et arrondissements", "Un point et un rayon", "Dessiner une zone"):
        await page.get_by_label(mode).check()
        await page.locator("body").focus()
        for _ in range(60):
            await page.keyboard.press("Tab")
            assert await focus_problem(page) is None, f"{mode}: {await focus_problem(page)}"
            if await last.evaluate("(e) => e === document.activeElement"):
                break
        else:
            raise AssertionError(f"{mode}: Tab never reached the end of the page")
    # the map is a group of options screen readers reach, not an image
    await expect(page.get_by_role("group", name="Carte de Paris")).to_be_visible()
    await expect(page.get_by_role("img", name="Carte de Paris")).to_have_count(0)
    await page.get_by_label("Quartiers et arrondissements").check()
    await expect(page.get_by_role("option", name="Saint-Victor (5e)")).to_have_count(1)


async def test_the_keyboard_alone_places_a_point_and_draws_an_area(page: Page) -> None:
    await page.goto("/")
    await page.get_by_label("Dessiner une zone").check()
    svg = page.locator("svg.map")
    await svg.focus()
    for keys in (["Enter"], ["ArrowRight"] * 4 + ["Enter"], ["ArrowDown"] * 4 + ["Enter"]):
        for key in keys:
            await page.keyboard.press(key)
    await expect(page.locator("#where-summary")).to_have_text(
        "3 sommets posés (il en faut au moins 3)."
    )
    await page.keyboard.press("+")
    assert not str(await svg.get_attribute("viewBox")).startswith("0 0 1000")
    await page.get_by_label("Un point et un rayon").check()
    await svg.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#where-summary")).to_contain_text(
        "300 m autour du point choisi sur la carte, dans"
    )


async def serious(page: Page, state: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is."""
    found = (await Axe().run(page)).response["violations"]
    return [
        f"{state}: {v['id']} {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", [1280, 390])
async def test_axe_finds_nothing_serious_in_each_way_of_saying_where(
    new_page: NewPage, width: int
) -> None:
    page = await new_page(width=width, height=844)
    await page.goto("/")
    problems = []
    for language in ("fr", "en"):
        await in_language(page, language)
        await page.locator("#place-address").fill("8 place d'italie")
        await page.locator("#place-go").click()
        await page.locator(".place-hit").first.wait_for()
        problems += await serious(page, f"{language} addresses found")
        await page.locator(".place-hit").first.click()
        problems += await serious(page, f"{language} an address chosen")
        await page.locator("#where-mode-point").check()
        await page.locator("#where-locate").click()  # refused: the message and its button
        await page.locator("#where-locate-search").wait_for()
        await page.locator("#where-svg").focus()
        problems += await serious(page, f"{language} a point, the cross-hair")
        await page.locator("#where-mode-polygon").check()
        await page.locator("#where-zoom-in").click()
        problems += await serious(page, f"{language} drawing, zoomed in")
        await page.locator("#where-mode-areas").check()
    assert problems == []
