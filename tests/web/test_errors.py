"""Errors as a citizen meets them on the portal: every problem of the form at once, each in the
page's language beside its field (aria-describedby, aria-invalid), an error summary at the top
with a link to each field, nothing written before the whole request is checked, and a way
forward where there was a dead end (a wrong code: get a new one; an erased account: sign up)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.web.site import Site, in_language, screenshot

pytestmark = pytest.mark.browser

SAINT_VICTOR = "7510501"


async def citizens_kept(site: Site) -> list[str]:
    """Every citizen and address the store holds for Paris (what a refused form must not make)."""
    found = [k async for k in site.redis.scan_iter("n:{paris}:citizen:*")]
    found += [k async for k in site.redis.scan_iter("n:{paris}:address:*")]
    return sorted(k.decode() if isinstance(k, bytes) else k for k in found)


async def described_by(page: Page, selector: str) -> str:
    """The text of what the field's aria-describedby points at, as a screen reader reads it."""
    return str(
        await page.locator(selector).evaluate(
            """el => (el.getAttribute("aria-describedby") || "").split(/\\s+/)
                 .map((id) => document.getElementById(id)?.textContent || "").join(" | ")"""
        )
    )


async def test_a_bad_email_and_a_20_km_radius_are_both_shown_beside_their_fields_nothing_made(
    page: Page, site: Site
) -> None:
    await page.goto("/")
    await page.locator("#where-mode-point").check()
    await page.locator("svg.map").click(position={"x": 330, "y": 200})
    await page.locator("#where-radius").fill("20000")
    await page.get_by_label("Adresse e-mail").fill("pas une adresse")
    await page.get_by_role("button", name="M'abonner").click()

    # the summary at the top: both problems, in French, each a link to its field; it has focus
    summary = page.locator("#errors")
    await expect(summary.get_by_role("heading")).to_have_text("Il y a un problème")
    await expect(summary.get_by_role("link")).to_have_text(
        [
            "Saisissez une adresse e-mail au bon format, comme nom@exemple.fr.",
            "Choisissez un rayon entre 50 m et 5 km (5 000 m).",
        ]
    )
    await expect(summary).to_be_focused()
    assert (await page.title()).startswith("Erreur : ")  # the first thing a screen reader says
    # beside each field, read with it
    email = page.locator("#email")
    await expect(email).to_have_attribute("aria-invalid", "true")
    assert "Saisissez une adresse e-mail au bon format" in await described_by(page, "#email")
    assert "Choisissez un rayon entre 50 m et 5 km" in await described_by(page, "#where-radius")
    await expect(page.locator("#where-radius")).to_have_attribute("aria-invalid", "true")
    body = await page.locator("main").inner_text()
    assert "not an email address" not in body and "radius_m" not in body  # nothing raw
    await screenshot(page, "portal-errors-fr")
    # the summary's link leads to the field
    await summary.get_by_role("link").first.click()
    await expect(email).to_be_focused()
    # nothing was made: no account, no address kept
    assert await citizens_kept(site) == []

    # in English, the same errors in English
    await in_language(page, "en")
    await expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    await expect(page).to_have_title(re.compile("^Error: "))
    assert "Enter an email address in the correct format" in await described_by(page, "#email")
    assert "Choose a radius between 50 m and 5 km" in await described_by(page, "#where-radius")
    await screenshot(page, "portal-errors-en")

    # corrected, the errors go and the subscription is made
    await email.fill("ines@example.org")
    await page.locator("#where-radius").fill("800")
    await page.get_by_role("button", name="Subscribe").click()
    await expect(page.get_by_role("heading", name="Almost done")).to_be_visible()
    assert await citizens_kept(site) != []


async def test_a_point_outside_the_city_is_named_on_the_map_before_any_account_exists(
    page: Page, site: Site
) -> None:
    await page.goto("/")
    await page.locator("#where-mode-point").check()
    await page.locator("details.coordinates summary").click()  # typed, as an expert may
    await page.locator("#where-lat").fill("45.7640")  # Lyon
    await page.locator("#where-lon").fill("4.8357")
    await page.get_by_label("Adresse e-mail").fill("jules@example.org")
    await page.get_by_role("button", name="M'abonner").click()
    where = page.locator("#map").locator("xpath=ancestor::fieldset")
    await expect(where.locator(".error-message")).to_have_text(
        "Erreur : Ce point et ce rayon sont en dehors de Paris. Placez le point dans Paris."
    )
    await expect(page.locator("#errors")).to_be_focused()
    assert await citizens_kept(site) == []
    await expect(page.get_by_role("heading", name="Presque terminé")).to_be_hidden()


async def test_missing_choices_are_all_named_at_once(page: Page, site: Site) -> None:
    await page.goto("/")
    await page.locator("#channel-email").uncheck()
    await page.get_by_role("button", name="M'abonner").click()
    await expect(page.locator("#errors").get_by_role("listitem")).to_have_text(
        [
            "Choisissez au moins un quartier ou un arrondissement sur la carte.",
            "Choisissez au moins un moyen de recevoir les messages.",
            "Donnez une adresse e-mail ou un numéro de téléphone.",
        ]
    )
    assert "Choisissez au moins un moyen" in await described_by(page, "#channels")


async def test_a_wrong_code_is_said_beside_the_code_field_with_a_way_to_get_a_new_one(
    page: Page, site: Site
) -> None:
    await page.goto("/")
    await page.locator(f"path[data-code='{SAINT_VICTOR}']").click()
    await page.locator("#channel-email").uncheck()
    await page.locator("#channel-sms").check()
    await page.get_by_label("Téléphone mobile").fill("06 12 34 56 78")
    await page.get_by_role("button", name="M'abonner").click()
    await expect(page.get_by_role("heading", name="Presque terminé")).to_be_visible()

    code = page.locator("#code")
    await code.fill("000000")
    await page.locator("#code-form").get_by_role("button", name="Confirmer le numéro").click()
    await expect(page.locator("#code-form .error-message")).to_have_text(
        "Erreur : Ce code ne correspond pas. Vérifiez le SMS reçu, ou demandez un nouveau code."
    )
    await expect(code).to_have_attribute("aria-invalid", "true")
    assert "Ce code ne correspond pas" in await described_by(page, "#code")
    await screenshot(page, "portal-wrong-code-fr")
    again = page.get_by_role("button", name="Recevoir un nouveau code")
    await again.click()
    await expect(page.locator("#code-status")).to_have_text(
        "Un nouveau code a été envoyé au +33612345678."
    )
    await expect(page.locator("#code-form .error-message")).to_have_count(0)
    await expect(code).to_be_focused()
    # in English, a code that is not 6 digits is said before anything is sent
    await in_language(page, "en")
    await code.fill("12")
    await page.locator("#code-form").get_by_role("button", name="Confirm the number").click()
    await expect(page.locator("#code-form .error-message")).to_have_text(
        "Error: Enter the 6 digits of the code you received by text message."
    )


async def test_an_erased_account_says_so_and_offers_to_sign_up_again(
    page: Page, site: Site
) -> None:
    r = await site.api.post("/v1/cities/paris/citizens", json={"email": "leo@example.org"})
    body = await r.json()
    token, cid = body["token"], body["citizen"]["id"]
    await page.goto(f"/?city=paris#{token}")
    await expect(page.locator("#adding")).to_be_visible()
    r = await site.api.delete(
        f"/v1/cities/paris/citizens/{cid}", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status in (200, 204), await r.text()

    await page.locator(f"path[data-code='{SAINT_VICTOR}']").click()
    await page.get_by_role("button", name="M'abonner").click()
    summary = page.locator("#errors")
    await expect(summary).to_contain_text("Il y a un problème")
    text = await summary.inner_text()
    assert "Ce compte n'existe plus" in text or "Ce lien de gestion n'est plus valable" in text
    assert "cit_" not in text and "revoked" not in text
    again = summary.get_by_role("link", name="S'inscrire à nouveau")
    await again.click()
    await expect(page.locator("#contact-fields")).to_be_visible()
