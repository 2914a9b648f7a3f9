"""The department console in Chromium: sign in with the key, compose on the map, preview the
reach and the messages, publish, watch the figures move, update, cancel."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.web.site import Site, in_language, screenshot

pytestmark = pytest.mark.browser

SAINT_VICTOR = "7510501"


async def confirmed_subscriber(site: Site, email: str, area: str) -> None:
    """A citizen who registered, confirmed by the emailed link and subscribed (by the API)."""
    r = await site.api.post("/v1/cities/paris/citizens", json={"email": email, "language": "fr"})
    citizen = await r.json()
    text = await site.mail(email, r"/v1/confirm/", "the confirmation email")
    token = re.search(r"/v1/confirm/(\S+)", text).group(1)  # type: ignore[union-attr]
    assert (await site.api.post(f"/v1/confirm/{token}")).status == 200
    r = await site.api.post(
        f"/v1/cities/paris/citizens/{citizen['citizen']['id']}/subscriptions",
        json={"area": area},
        headers={"Authorization": f"Bearer {citizen['token']}"},
    )
    assert r.status == 201, await r.text()


async def sign_in(page: Page, key: str) -> None:
    await page.goto("/console")
    await page.get_by_label("Clé de la direction").fill(key)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", name="Rédiger")).to_be_visible()


async def compose(page: Page, title: str) -> None:
    await page.locator(f"path[data-code='{SAINT_VICTOR}']").click()
    await page.get_by_label("Catégorie").select_option("roadworks")
    await page.get_by_label("Gravité").select_option("moderate")
    french = page.locator("fieldset[lang=fr]")
    await french.get_by_label("Titre").fill(title)
    await french.get_by_label("Texte").fill("La rue Monge est fermée du 1er au 5 décembre.")
    english = page.locator("fieldset[lang=en]")
    await english.get_by_label("Titre").fill("Roadworks on rue Monge")
    await english.get_by_label("Texte").fill("Rue Monge is closed 1-5 December.")


async def test_a_department_previews_publishes_and_sees_the_figures_move(
    page: Page, site: Site, worker: Any
) -> None:
    await confirmed_subscriber(site, "alice@example.org", SAINT_VICTOR)
    key = await site.department_key()

    await page.goto("/console")
    await page.get_by_label("Clé de la direction").fill("not-a-key")
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.locator("#signin-status")).to_have_text("Cette clé est refusée.")
    await sign_in(page, key)
    await compose(page, "Travaux rue Monge")

    await page.get_by_role("button", name="Aperçu avant envoi").click()
    # one subscriber, shown rounded up to tens (notifier.actions.preview)
    await expect(page.locator("#reach")).to_contain_text("Au plus 10 personnes abonnées")
    await expect(page.locator("#reach")).to_contain_text("Saint-Victor")
    await expect(page.locator("#reach-table tr[data-channel=email] td")).to_have_text("10")
    email_fr = page.locator("pre[data-channel=email][lang=fr]")
    await expect(email_fr).to_contain_text("Travaux rue Monge")
    await expect(page.locator("pre[data-channel=sms][lang=en]")).to_contain_text(
        "Roadworks on rue Monge"
    )
    await expect(page.locator("#messages")).to_contain_text("SMS (GSM-7")
    await screenshot(page, "console-preview-fr")

    await page.get_by_role("button", name="Publier", exact=True).click()
    figures = page.locator("#figures tr[data-channel=email]")
    await expect(figures.locator("td[data-series=sent]")).to_have_text("1", timeout=60_000)
    await expect(page.locator("#event-summary")).to_contain_text("envoyée, version 1")
    sent_line = page.locator("#charts svg[data-channel=email] polyline[data-series=sent]")
    await expect(sent_line).to_have_count(1)
    await expect(page.locator("#charts svg[data-channel=email]")).to_have_attribute(
        "aria-label", re.compile("E-mail")
    )
    await screenshot(page, "console-figures-fr")
    [mail] = [m for m in site.smtp.to("alice@example.org") if "rue Monge" in m["Subject"]]
    assert mail["Subject"] == "Travaux rue Monge"

    # an update: version 2, which she gets as an update
    french_title = page.locator("fieldset[lang=fr]").get_by_label("Titre")
    await french_title.fill("Travaux rue Monge prolongés")
    await page.get_by_role("button", name="Publier une mise à jour").click()
    await expect(page.locator("#event-summary")).to_contain_text("version 2")
    await expect(figures.locator("td[data-series=sent]")).to_have_text("2", timeout=60_000)

    # cancelled: the page says so and offers a new announcement
    await page.get_by_label("Motif (facultatif)").fill("Chantier reporté")
    await page.get_by_role("button", name="Annuler l'annonce").click()
    await expect(page.locator("#event-summary")).to_contain_text("annulée")
    await expect(page.get_by_role("button", name="Nouvelle annonce")).to_be_visible()

    await in_language(page, "en")
    await expect(page.locator("#event-summary")).to_contain_text("cancelled")
    await screenshot(page, "console-cancelled-en")


async def test_the_console_names_what_is_wrong_in_a_draft(page: Page, site: Site) -> None:
    await sign_in(page, await site.department_key())
    await page.get_by_role("button", name="Aperçu avant envoi").click()
    await expect(page.get_by_role("alert")).to_contain_text("target.areas")
    await page.locator(f"path[data-code='{SAINT_VICTOR}']").click()
    await page.get_by_role("button", name="Aperçu avant envoi").click()
    await expect(page.get_by_role("alert")).to_contain_text("content.fr.title")
    title = page.locator("fieldset[lang=fr]").get_by_label("Titre")
    await expect(title).to_have_attribute("aria-invalid", "true")
    await expect(title).to_be_focused()
