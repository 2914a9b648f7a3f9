"""The department console in Chromium: sign in with the key, compose on the map, preview the
reach and the messages, publish, watch the figures move, update, cancel."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.web.site import NewPage, Site, in_language, screenshot

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
    await page.get_by_role("button", name="Vérifier la mise à jour").click()
    await page.get_by_role("button", name="Envoyer la mise à jour").click()
    await expect(page.locator("#event-summary")).to_contain_text("version 2")
    await expect(figures.locator("td[data-series=sent]")).to_have_text("2", timeout=60_000)

    # cancelled: the page says so and offers a new announcement
    await page.get_by_label("Motif en français (facultatif)").fill("Chantier reporté")
    await page.get_by_role("button", name="Annuler l'annonce").click()
    await expect(page.locator("#event-summary")).to_contain_text("annulée")
    await expect(page.get_by_role("button", name="Nouvelle annonce")).to_be_visible()

    await in_language(page, "en")
    await expect(page.locator("#event-summary")).to_contain_text("cancelled")
    await screenshot(page, "console-cancelled-en")


async def test_the_console_names_what_is_wrong_in_a_draft(page: Page, site: Site) -> None:
    await sign_in(page, await site.department_key())
    await page.get_by_role("button", name="Aperçu avant envoi").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "Choisissez au moins une zone sur la carte."
    )
    await page.locator(f"path[data-code='{SAINT_VICTOR}']").click()
    await page.get_by_role("button", name="Aperçu avant envoi").click()
    await expect(page.get_by_role("alert")).to_contain_text("Titre : Ce champ est obligatoire.")
    title = page.locator("fieldset[lang=fr]").get_by_label("Titre")
    await expect(title).to_have_attribute("aria-invalid", "true")
    await expect(title).to_be_focused()


# ---- drafts, the check step, the department's list (issue #20) ---------------------------------

ANNOUNCEMENTS = "/v1/cities/paris/announcements"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def events_of(site: Site, department: str = "voirie") -> list[str]:
    """The ids of the department's events in the store, however they were made."""
    ids = []
    async for name in site.redis.scan_iter(match="n:{paris}:event:evt_*"):
        if re.fullmatch(r"n:{paris}:event:evt_[0-9a-f]{20}", name):
            if await site.redis.hget(name, "department") == department:
                ids.append(name.rsplit(":", 1)[1])
    return ids


async def test_a_double_click_on_publier_publishes_once(page: Page, site: Site) -> None:
    key = await site.department_key()
    await sign_in(page, key)
    await compose(page, "Travaux rue Monge")
    await page.get_by_role("button", name="Aperçu avant envoi").click()
    await page.get_by_role("button", name="Publier", exact=True).dblclick()
    await expect(page.locator("#event-summary")).to_contain_text("Travaux rue Monge")
    assert len(await events_of(site)) == 1
    rows = page.locator("#recent-rows tr")  # the department's list, from the server
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Travaux rue Monge")
    assert len(await events_of(site)) == 1
    # what is on screen says it in words: the department, no raw key, no id
    await expect(page.locator("#signed-in")).to_have_text(
        "Connecté en tant que Direction de la voirie et des déplacements (Paris)."
    )
    text = await page.locator("main").inner_text()
    assert not re.search(r"evt_[0-9a-f]|drf_[0-9a-f]|console\.|event\.", text), text


async def test_the_check_step_shows_the_reach_and_warns_before_anything_goes(
    page: Page, site: Site, worker: Any
) -> None:
    await confirmed_subscriber(site, "alice@example.org", SAINT_VICTOR)
    await sign_in(page, await site.department_key())
    await compose(page, "Coupure d'eau rue Monge")
    works = "Les équipes remplacent la canalisation principale sous la chaussée. " * 6
    french = page.locator("fieldset[lang=fr]").get_by_label("Texte")
    await french.fill(f"Coupure le 5 décembre de 8 h à 12 h, 300 foyers. {works}")
    english = page.locator("fieldset[lang=en]").get_by_label("Texte")
    await english.fill("Water cut on December 6 from 8 am to 12 pm, 30 homes.")
    await page.get_by_role("button", name="Aperçu avant envoi").click()

    await expect(page.locator("#reach-table tr[data-channel=email] td")).to_have_text("10")
    await expect(page.locator("#reach-table tr[data-channel=sms]")).to_be_visible()
    await expect(page.locator("#check-when")).to_contain_text("dès que vous cliquez")
    warnings = page.locator("#warnings")
    await expect(warnings.locator("li[data-kind=sms_cut]")).to_contain_text(
        "Le SMS en français est coupé"
    )
    dates = warnings.locator("li[data-what=dates]")
    await expect(dates).to_contain_text("Seulement en français : 5 décembre")
    await expect(dates).to_contain_text("Seulement en anglais : 6 décembre")
    await expect(warnings.locator("li[data-what=numbers]")).to_contain_text("300")
    await screenshot(page, "console-check-fr")
    assert await events_of(site) == []  # nothing went out

    # the agent fixes the English: the check is done again, the date warning goes
    await english.fill("Water cut on December 5 from 8 am to 12 pm, 300 homes.")
    await expect(warnings.locator("li[data-what=dates]")).to_have_count(0)
    await expect(warnings.locator("li[data-what=numbers]")).to_have_count(0)
    await expect(warnings.locator("li[data-kind=sms_cut]")).to_have_count(1)
    await in_language(page, "en")
    await expect(warnings.locator("li[data-kind=sms_cut]")).to_contain_text(
        "The text message in French is cut"
    )
    await screenshot(page, "console-check-en")


async def test_a_draft_survives_a_reload_and_is_published_once_from_two_tabs(
    new_page: NewPage, site: Site
) -> None:
    key = await site.department_key()
    first = await new_page()
    await sign_in(first, key)
    await compose(first, "Travaux rue Monge")
    await expect(first.locator("#draft-status")).to_contain_text("Brouillon enregistré")
    await expect(first).to_have_url(re.compile(r"draft=drf_"))
    address = first.url.removeprefix(site.url)

    second = await new_page()  # another tab: the same draft, from the server
    await second.goto(address)
    await second.get_by_label("Clé de la direction").fill(key)
    await second.get_by_role("button", name="Se connecter").click()
    await expect(second.locator("fieldset[lang=fr]").get_by_label("Titre")).to_have_value(
        "Travaux rue Monge"
    )
    for tab in (first, second):
        await tab.get_by_role("button", name="Aperçu avant envoi").click()
        await expect(tab.locator("#publish")).to_be_enabled()
    for tab in (first, second):
        await tab.get_by_role("button", name="Publier", exact=True).click()
        await expect(tab.locator("#event-summary")).to_contain_text("Travaux rue Monge")
    assert len(await events_of(site)) == 1


async def test_the_list_shows_what_another_tab_published_and_opens_it_by_its_address(
    new_page: NewPage, site: Site
) -> None:
    key = await site.department_key()
    later = (datetime.now(UTC) + timedelta(days=2)).replace(hour=14, minute=0, second=0)
    expires = later + timedelta(days=3)
    body: dict[str, Any] = {
        "category": "water",
        "severity": "moderate",
        "target": {"circles": [{"lon": 2.3522, "lat": 48.8443, "radius_m": 800}]},
        "content": {
            "fr": {"title": "Coupure d'eau rue Monge", "body": "Eau coupée."},
            "en": {"title": "Water cut rue Monge", "body": "No water."},
        },
        "expires_at": expires.isoformat(),
        "scheduled_at": later.isoformat(),
    }
    r = await site.api.post(ANNOUNCEMENTS, json=body, headers=bearer(key))  # another tab's
    assert r.status == 202, await r.text()
    eid = (await r.json())["id"]
    other = {**body, "category": "roadworks", "content": {"fr": {"title": "Travaux", "body": "."}}}
    del other["scheduled_at"]
    assert (await site.api.post(ANNOUNCEMENTS, json=other, headers=bearer(key))).status == 202

    page = await new_page()
    await sign_in(page, key)
    rows = page.locator("#recent-rows tr")
    await expect(rows).to_have_count(2)
    scheduled = page.locator(f"#recent-rows tr[data-id={eid}]")
    await expect(scheduled).to_contain_text("Coupure d'eau rue Monge")
    await expect(scheduled).to_contain_text("programmée pour le")
    await expect(scheduled).to_contain_text("14:00")
    await page.get_by_label("Filtrer par état").select_option("scheduled")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(rows).to_have_count(1)
    await page.get_by_label("Rechercher dans les titres").fill("travaux")
    await page.get_by_label("Filtrer par état").select_option("")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Travaux")
    await screenshot(page, "console-list-fr")

    # a new tab at the announcement's address: once signed in, the same announcement, its
    # circle, its expiry and its time in the form
    again = await new_page()
    await again.goto(f"/console?announcement={eid}")
    await again.get_by_label("Clé de la direction").fill(key)
    await again.get_by_role("button", name="Se connecter").click()
    await expect(again.locator("#event-summary")).to_contain_text("Coupure d'eau rue Monge")
    await expect(again.locator("#event-when")).to_contain_text("Programmée pour le")
    await expect(again.get_by_label("Un point et un rayon")).to_be_checked()
    await expect(again.locator("#target-radius")).to_have_value("800")
    await expect(again.locator("#map svg circle.shape")).to_have_count(1)
    local = await again.evaluate(
        "iso => { const d = new Date(iso); return new Date(d - d.getTimezoneOffset() * 60000)"
        ".toISOString().slice(0, 16); }",
        expires.isoformat(),
    )
    await expect(again.get_by_label("Expire le")).to_have_value(local)
    scheduled_local = await again.evaluate(
        "iso => { const d = new Date(iso); return new Date(d - d.getTimezoneOffset() * 60000)"
        ".toISOString().slice(0, 16); }",
        later.isoformat(),
    )
    await expect(again.get_by_label("Publier le")).to_have_value(scheduled_local)
    await screenshot(again, "console-reopened-fr")

    # an update made from there keeps the circle and the expiry
    await again.locator("fieldset[lang=fr]").get_by_label("Titre").fill("Coupure d'eau prolongée")
    await again.get_by_role("button", name="Vérifier la mise à jour").click()
    await again.get_by_role("button", name="Envoyer la mise à jour").click()
    await expect(again.locator("#event-summary")).to_contain_text("version 2")
    shown = await (await site.api.get(f"{ANNOUNCEMENTS}/{eid}", headers=bearer(key))).json()
    assert shown["target"]["circles"] == body["target"]["circles"]
    assert datetime.fromisoformat(shown["expires_at"]) == expires.replace(microsecond=0)


async def test_the_console_on_a_phone_checks_and_lists_in_both_languages(
    new_page: NewPage, site: Site
) -> None:
    key = await site.department_key()
    page = await new_page(width=390, height=844)
    await sign_in(page, key)
    await compose(page, "Travaux rue Monge")
    await page.get_by_role("button", name="Aperçu avant envoi").click()
    await expect(page.locator("#warnings-none")).to_be_visible()
    await screenshot(page, "console-check-phone-fr")
    await page.get_by_role("button", name="Publier", exact=True).click()
    await expect(page.locator("#recent-rows tr")).to_have_count(1)
    await expect(page.locator("#event-summary")).to_contain_text("Travaux rue Monge")
    await screenshot(page, "console-published-phone-fr")
    await in_language(page, "en")
    await expect(page.locator("#signed-in")).to_have_text(
        "Signed in as Roads and Transport Department (Paris)."
    )
    # each announcement by its title in the page's language
    await expect(page.locator("#recent-rows tr").first).to_contain_text("Roadworks on rue Monge")
    await screenshot(page, "console-published-phone-en")


async def test_an_update_says_who_is_messaged_again_and_the_agent_chooses(
    page: Page, site: Site, worker: Any
) -> None:
    await confirmed_subscriber(site, "alice@example.org", SAINT_VICTOR)
    await sign_in(page, await site.department_key())
    await compose(page, "Travaux rue Monge")
    await page.get_by_role("button", name="Aperçu avant envoi").click()
    await page.get_by_role("button", name="Publier", exact=True).click()
    figures = page.locator("#figures tr[data-channel=email]")
    await expect(figures.locator("td[data-series=sent]")).to_have_text("1", timeout=60_000)

    # the French title alone changes: the check says what, warns about the English text, and
    # counts who each choice messages again (rounded up to tens, as the preview's reach)
    await (
        page.locator("fieldset[lang=fr]").get_by_label("Titre").fill("Travaux rue Monge prolongés")
    )
    await page.get_by_role("button", name="Vérifier la mise à jour").click()
    panel = page.locator("#update-panel")
    await expect(panel).to_be_focused()
    await expect(panel.locator("#update-changed")).to_have_text(
        "Ce qui change : le titre (textes modifiés : FR)."
    )
    await expect(panel).to_contain_text("Le texte en anglais n'a pas été modifié")
    everyone = page.get_by_role("radio", name=re.compile("^Tout le monde"))
    await expect(everyone).to_be_checked()
    await expect(everyone).to_have_accessible_name(re.compile(r"\(au plus 10 personnes\)$"))
    await expect(page.locator("#update-reach")).to_have_text(
        "Au plus 10 personnes recevront un message, dont 10 déjà prévenues qui le seront à nouveau."
    )
    newly = page.get_by_role("radio", name=re.compile("^Seulement les personnes nouvellement"))
    await expect(newly).to_have_accessible_name(re.compile(r"\(personne\)$"))
    await screenshot(page, "console-update-check-fr")
    # a silent correction: nobody is messaged, the record changes
    await page.get_by_role("radio", name=re.compile("^Personne : une correction")).check()
    await expect(page.locator("#update-reach")).to_have_text("Personne ne recevra de message.")
    await page.get_by_role("button", name="Envoyer la mise à jour").click()
    await expect(page.locator("#update-status")).to_have_text("Mise à jour envoyée (version 2).")
    await expect(page.locator("#event-summary")).to_contain_text(
        "envoyée, version 2", timeout=60_000
    )
    await expect(figures.locator("td[data-series=sent]")).to_have_text("1")
    await expect(figures.locator("td[data-series=queued]")).to_have_text("0")
    assert [
        m["Subject"] for m in site.smtp.to("alice@example.org") if "rue Monge" in m["Subject"]
    ] == ["Travaux rue Monge"]

    # the cancel form says who is messaged again, takes a reason per language, and goes once
    await expect(page.locator("#cancel-count")).to_have_text(
        "Au plus 10 personnes déjà prévenues recevront à nouveau un message, pour l'annulation."
    )
    await page.get_by_label("Motif en français (facultatif)").fill("Chantier reporté")
    await page.get_by_label("Motif en anglais (facultatif)").fill("Works put off")
    await in_language(page, "en")
    await expect(page.locator("#cancel-count")).to_contain_text("At most 10 people already told")
    await page.get_by_role("button", name="Cancel the announcement").click()
    await expect(page.locator("#event-summary")).to_contain_text("cancelled")
    await expect(page.get_by_role("button", name="Cancel the announcement")).to_be_disabled()
    await expect(page.locator("#cancel-status")).to_contain_text("Announcement cancelled")
    notice = await site.mail("alice@example.org", r"Motif :", "the cancellation notice")
    assert "Motif : Chantier reporté" in notice
