"""The portal and the console of another city than Paris, in Chromium: Paris Centre (a second
tenant made from real boundaries, tests/data/cities) shows its name, colour, categories and
areas, and a citizen subscribes to one of its quartiers by clicking it; a city of one level with
the default kinds; an unknown city is a 404 page that leads to the others."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from notifier.api.auth import create_department_key
from subscriptions.city_document import put_city
from tests.paris_centre import centre_doc, make_centre
from tests.web.site import Site, in_language, screenshot

pytestmark = pytest.mark.browser

CATEGORIES = ["roadworks", "water", "waste", "transport", "events", "safety"]  # city.json
ARCHIVES = "7510303"  # a quartier of the 3rd arrondissement, in Paris Centre only


async def values(page: Page, selector: str) -> list[str]:
    return list(await page.locator(selector).evaluate_all("(es) => es.map((e) => e.value)"))


async def expect_areas(page: Page, **counts: int) -> None:
    """The map draws this many areas of each kind (and of no other)."""
    for kind, n in counts.items():
        await expect(page.locator(f"svg.map g[data-kind={kind}] path.area")).to_have_count(n)
    await expect(page.locator("svg.map path.area")).to_have_count(sum(counts.values()))


def payload(token: str) -> dict[str, Any]:
    """What a management token says (its first part is not secret: the pages read it too)."""
    part = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


async def test_the_portal_of_paris_centre_and_a_subscription_to_one_of_its_quartiers(
    page: Page, site: Site
) -> None:
    await make_centre(site.redis)  # as `notifier city create` does, by another process
    await page.goto("/?city=paris_centre")
    await expect(page.locator("header .brand")).to_have_text("Alertes de Paris Centre")
    await expect(page).to_have_title("Alertes de Paris Centre – s'abonner")
    header = page.locator("header.top")
    await expect(header).to_have_css("background-color", "rgb(200, 16, 46)")  # #c8102e
    await expect(page.locator("#categories input")).to_have_count(len(CATEGORIES))
    assert await values(page, "#categories input") == CATEGORIES
    await expect(page.locator("#categories")).to_contain_text("Travaux de voirie")
    await expect_areas(page, arrondissement=4, quartier=16)
    await expect(page.locator("svg.map text.label")).to_have_text(
        ["Louvre", "Bourse", "Temple", "Hôtel-de-Ville"]
    )
    # both cities in the picker, this one chosen
    await expect(page.locator("#city-form")).to_be_visible()
    assert await values(page, "#city-picker option") == ["paris", "paris_centre"]
    await expect(page.locator("#city-picker")).to_have_value("paris_centre")
    await screenshot(page, "portal-paris-centre-fr")

    # a quartier by a click: named by its name alone (Paris's ordinals are Paris's)
    await page.locator(f"path[data-code='{ARCHIVES}']").click()
    await expect(page.locator("#where-summary")).to_have_text("1 zone choisie :")
    await expect(page.locator(".selection-list li")).to_have_text(["Archives×"])
    await page.locator("#category-water").check()
    await page.get_by_label("Adresse e-mail").fill("zoe@example.org")
    await page.get_by_role("button", name="M'abonner").click()
    await expect(page.get_by_role("heading", name="Presque terminé")).to_be_visible()
    await screenshot(page, "portal-paris-centre-subscribed-fr")

    # the subscription is Paris Centre's, to that quartier
    manage = str(await page.locator("#manage-link").get_attribute("href"))
    token = manage.split("#", 1)[1]
    who = payload(token)
    assert who["c"] == "paris_centre"
    r = await site.api.get(
        f"/v1/cities/paris_centre/citizens/{who['s']}",
        headers={"Authorization": f"Bearer {token}"},
    )
    [sub] = (await r.json())["subscriptions"]
    assert (sub["area"], sub["categories"]) == (ARCHIVES, ["water"])

    # the management page names the city and the quartier, and adds through this city's portal
    await page.goto(manage)
    await expect(page.locator("header .brand")).to_have_text("Alertes de Paris Centre")
    await expect(page.locator("#subs")).to_contain_text("Archives")
    await expect(page.locator("#add-sub")).to_have_attribute("href", f"/?city=paris_centre#{token}")
    # the token in another city's portal: it leads to this citizen's city, adding to them
    await page.goto(f"/?city=paris#{token}")
    await expect(page).to_have_url(f"{site.url}/?city=paris_centre")
    await expect(page.locator("header .brand")).to_have_text("Alertes de Paris Centre")
    await expect(page.locator("#adding")).to_be_visible()

    # in English, the city's name follows
    await page.goto("/?city=paris_centre")
    await in_language(page, "en")
    await expect(page.locator("header .brand")).to_have_text("Paris Centre alerts")
    await expect(page.locator("svg.map g[data-kind=quartier]")).to_have_attribute(
        "aria-label", "Neighbourhoods of Paris Centre"
    )


async def test_the_console_of_paris_centre(page: Page, site: Site) -> None:
    await make_centre(site.redis)
    key = await create_department_key(site.redis, "paris_centre", "voirie")
    await page.goto("/console?city=paris_centre")
    await expect(page.locator("header .brand")).to_have_text(
        "Console des directions – Paris Centre"
    )
    await page.get_by_label("Clé de la direction").fill(key)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", name="Rédiger")).to_be_visible()
    assert await values(page, "#category option") == CATEGORIES
    await expect_areas(page, arrondissement=4, quartier=16)
    await page.locator(f"path[data-code='{ARCHIVES}']").click()
    await page.locator("fieldset[lang=fr]").get_by_label("Titre").fill("Travaux rue des Archives")
    await page.locator("fieldset[lang=fr]").get_by_label("Texte").fill("Fermée le 3 mars.")
    await page.get_by_role("button", name="Aperçu").click()
    await expect(page.locator("#preview-panel")).to_be_visible()
    await screenshot(page, "console-paris-centre-fr")


async def test_a_city_of_one_level_shows_its_areas_by_name(page: Page, site: Site) -> None:
    doc = centre_doc()
    del doc["subareas"], doc["areas"]["kind"]  # one level, of the default kind ("area")
    await put_city(site.redis, {**doc, "id": "centre_seul", "name": "Centre", "languages": ["fr"]})
    await page.goto("/?city=centre_seul")
    await expect(page.locator("header .brand")).to_have_text("Alertes de Centre")
    await expect_areas(page, area=4)
    await expect(page.locator("#where-level-area")).to_be_hidden()  # nothing to choose
    await expect(page.locator("#where-mode-areas + span")).to_have_text("Zones de la carte")
    await expect(page.locator("#languages button")).to_have_count(0)  # French only
    assert await values(page, "#language option") == ["fr"]
    await page.get_by_role("button", name="M'abonner").click()
    await expect(page.get_by_role("alert").get_by_role("listitem").first).to_have_text(
        "Choisissez au moins une zone sur la carte."
    )
    await page.locator("path[data-code='75104']").click()
    await expect(page.locator(".selection-list li")).to_have_text(["Hôtel-de-Ville×"])
    await screenshot(page, "portal-one-level-fr")


async def test_an_unknown_city_is_a_404_page_that_leads_to_the_others(
    page: Page, site: Site
) -> None:
    await make_centre(site.redis)
    for path in ("/", "/console"):
        r = await page.goto(f"{path}?city=atlantis")
        assert r is not None and r.status == 404
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Ville inconnue")
        await expect(page.locator("main")).to_contain_text("« atlantis »")
        await expect(page.locator("#cities a")).to_have_text(["Paris", "Paris Centre"])
    await screenshot(page, "unknown-city")
    await page.get_by_role("link", name="Paris Centre").click()
    await expect(page).to_have_url(f"{site.url}/console?city=paris_centre")
    await expect(page.locator("header .brand")).to_contain_text("Paris Centre")


async def test_a_citys_logo_shows_in_its_pages_and_its_csp_lets_only_that_origin_in(
    page: Page, site: Site
) -> None:
    doc = centre_doc()
    doc["branding"] = {**doc.get("branding", {}), "logo_url": "https://cdn.centre.example/l.png"}
    await put_city(site.redis, doc)
    png = (Path(__file__).parents[2] / "notifier" / "web" / "static" / "icon-192.png").read_bytes()
    fetched: list[str] = []

    async def cdn(route: Route) -> None:  # the city's CDN, as Chromium would reach it
        fetched.append(route.request.url)
        await route.fulfill(status=200, content_type="image/png", body=png)

    await page.route("https://cdn.centre.example/**", cdn)
    for path in ("/", "/console"):
        r = await page.goto(f"{path}?city=paris_centre")
        assert r is not None
        csp = (await r.all_headers())["content-security-policy"]
        assert "img-src 'self' data: https://cdn.centre.example;" in csp
        logo = page.locator("header.top img.logo")
        await expect(logo).to_have_attribute("src", "https://cdn.centre.example/l.png")
        assert await logo.evaluate("(img) => img.complete && img.naturalWidth") == 192
    assert fetched == ["https://cdn.centre.example/l.png"] * 2
    # Paris has no logo: no image, and images from this origin only
    r = await page.goto("/?city=paris")
    assert (
        r is not None
        and "img-src 'self' data:;" in (await r.all_headers())["content-security-policy"]
    )
    await expect(page.locator("header.top img.logo")).to_have_count(0)
