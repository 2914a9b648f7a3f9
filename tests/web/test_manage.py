"""The citizen's own page in Chromium, and the pages the links of their messages open: change a
subscription in place, remove one phone and keep the email, a new phone that joins the
subscriptions already there (then an SMS for the next announcement, through the real worker),
an alert email's link to the page, the confirmation and unsubscribe pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from subscriptions import tokens
from tests.stage import eventually
from tests.web.site import NewPage, Site, in_language, screenshot

pytestmark = pytest.mark.browser

PHONE, EMAIL = "+33612345678", "eve@example.org"


async def citizen(site: Site, phone: bool = False, **subscription: Any) -> dict[str, Any]:
    """A citizen whose email address (and phone) are confirmed, with one subscription."""
    body = {"email": EMAIL, **({"phone": "06 12 34 56 78"} if phone else {})}
    c = await (await site.api.post("/v1/cities/paris/citizens", json=body)).json()
    for cp in c["contacts"]:
        await site.redis.hset(f"n:{{paris}}:contact:{cp['id']}", "status", "confirmed")
    base = f"/v1/cities/paris/citizens/{c['citizen']['id']}"
    made = await site.api.post(
        f"{base}/subscriptions",
        json=subscription,
        headers={"Authorization": f"Bearer {c['token']}"},
    )
    assert made.status == 201, await made.text()
    return {**c, "base": base, "sub": await made.json(), "page": f"/manage#{c['token']}"}


async def held(site: Site, c: dict[str, Any]) -> dict[str, Any]:
    r = await site.api.get(c["base"], headers={"Authorization": f"Bearer {c['token']}"})
    return dict(await r.json())


async def publish(site: Site, title: str, areas: tuple[str, ...] = ("7510501",)) -> None:
    key = await site.department_key()
    r = await site.api.post(
        "/v1/cities/paris/announcements",
        json={
            "category": "roadworks",
            "severity": "moderate",
            "target": {"areas": list(areas)},  # 7510501: Saint-Victor, in the 5th
            "content": {"fr": {"title": title, "body": "La rue Monge est fermée."}},
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status == 202, await r.text()


def facts(page: Page) -> Any:
    return page.locator("#subs li dl.facts").first


async def test_a_subscription_is_changed_in_place_and_stays_changed(page: Page, site: Site) -> None:
    c = await citizen(site, area="75105", categories=["water"])
    await page.goto(c["page"])
    await expect(facts(page)).to_contain_text("Importance minimale")
    await expect(facts(page)).to_contain_text("Toutes, même non qualifiées")
    await expect(facts(page)).to_contain_text("Reçu par")
    await page.get_by_role("button", name="Modifier l'abonnement 5e arrondissement").click()
    form = page.locator("form.edit")
    await form.get_by_label("Travaux de voirie").check()
    await form.get_by_label("Importance minimale").select_option(label="Grave et plus")
    await screenshot(page, "manage-edit-fr")
    await form.get_by_role("button", name="Enregistrer les changements").click()
    await expect(page.locator("#subs-status")).to_contain_text("enregistré")
    await page.reload()
    await expect(facts(page)).to_contain_text("Travaux de voirie, Eau")
    await expect(facts(page)).to_contain_text("Grave et plus")
    [sub] = (await held(site, c))["subscriptions"]
    assert (sub["id"], sub["area"]) == (c["sub"]["id"], "75105")  # the same one, same place
    assert (sub["categories"], sub["min_severity"]) == (["roadworks", "water"], "severe")


async def test_an_edit_without_a_channel_is_refused_beside_the_field(
    page: Page, site: Site
) -> None:
    c = await citizen(site, area="75105")
    await page.goto(c["page"])
    await in_language(page, "en")
    await page.get_by_role("button", name="Change the subscription").click()
    form = page.locator("form.edit")
    await form.get_by_label("Email").uncheck()
    await form.get_by_role("button", name="Save the changes").click()
    error = form.locator(".error:not([hidden])")
    await expect(error).to_have_text("Choose at least one way to receive these alerts.")
    described = await form.locator("fieldset:has(.error:not([hidden]))").get_attribute(
        "aria-describedby"
    )
    assert described is not None and (await error.get_attribute("id")) in described.split()
    assert (await held(site, c))["subscriptions"][0]["channels"] == ["email"]


async def test_removing_one_phone_keeps_the_email_and_says_so(page: Page, site: Site) -> None:
    c = await citizen(site, phone=True, area="75105", channels=["email", "sms"])
    await page.goto(c["page"])
    await page.get_by_role("button", name=f"Retirer le moyen de contact SMS {PHONE}").click()
    panel = page.locator("#contacts [role=group]")
    await expect(panel).to_contain_text(f"Vos alertes continueront d'arriver à : {EMAIL}.")
    await screenshot(page, "manage-remove-phone-fr")
    await panel.get_by_role("button", name="Oui, retirer").click()
    await expect(page.locator("#contact-status")).to_have_text(
        f"{PHONE} retiré. Vos alertes arrivent toujours à : {EMAIL}."
    )
    await expect(page.locator("#contacts li")).to_have_count(1)
    await expect(page.locator("#contacts")).to_contain_text(EMAIL)
    kept = await held(site, c)
    assert [x["address"] for x in kept["contacts"]] == [EMAIL]
    assert [x["change"] for x in kept["consent"]][-1] == "removed"  # the consent ledger keeps it


async def test_a_new_phone_joins_the_subscription_already_there_and_gets_the_next_sms(
    page: Page, site: Site, worker: Any
) -> None:
    c = await citizen(site, area="75105", channels=["email"])
    # the subscription was made the day before the phone is given
    await site.redis.hset(f"n:{{paris}}:sub:{c['sub']['id']}", "created_at", "0")
    await page.goto(c["page"])
    await page.get_by_label("Ajouter un e-mail ou un mobile").fill("06 12 34 56 78")
    await page.get_by_role("button", name="Ajouter", exact=True).click()
    [code_sms] = await eventually(lambda: site.twilio.sent_to(PHONE), what="the code by SMS")
    code = re.search(r"\d{6}", code_sms.body).group(0)  # type: ignore[union-attr]
    await page.get_by_label("Code reçu par SMS").fill(code)
    await page.get_by_role("button", name="Confirmer le numéro").click()
    await expect(page.locator("#contact-status")).to_have_text(
        f"{PHONE} confirmé : vos alertes de 1 abonnement arriveront aussi par là."
    )
    await expect(facts(page)).to_contain_text("E-mail, SMS")
    await screenshot(page, "manage-phone-joined-fr")

    await publish(site, "Travaux rue Monge")

    def told() -> list[Any]:
        return [m for m in site.twilio.sent_to(PHONE) if "Travaux rue Monge" in m.body]

    await eventually(told, what="the announcement by SMS")


async def test_an_alert_email_names_the_readers_own_places_and_opens_their_page(
    page: Page, site: Site, worker: Any
) -> None:
    await citizen(site, area="7510501")  # Saint-Victor
    await publish(site, "Coupure d'eau rue Clovis", ("7510501", "7510502", "7510503"))
    text = await site.mail(EMAIL, "Coupure d'eau rue Clovis", "the announcement")
    because = next(line for line in text.splitlines() if "Vous recevez ce message" in line)
    assert because.endswith("abonné·e aux informations de : Saint-Victor.")  # not the 2 others
    link = re.search(r"Gérer mes alertes : (http\S+/manage)\b", text)
    assert link is not None and link.group(1).startswith(site.url)
    await page.goto(link.group(1))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mes alertes")
    await expect(page.locator("#contacts")).to_contain_text(EMAIL)
    await expect(page.locator("#subs")).to_contain_text("Saint-Victor")


async def test_the_confirmation_page_has_the_header_a_next_step_and_the_way_to_the_alerts(
    new_page: NewPage, site: Site, worker: Any
) -> None:
    r = await site.api.post("/v1/cities/paris/citizens", json={"email": "ada@example.org"})
    assert r.status == 201
    text = await site.mail("ada@example.org", r"/v1/confirm/", "the confirmation email")
    link = re.search(r"http\S+/v1/confirm/\S+", text).group(0)  # type: ignore[union-attr]
    for width, name in ((1280, "confirm"), (390, "confirm-phone")):
        page = await new_page(width=width, height=844)
        await page.goto(link)
        await expect(page.get_by_role("link", name="Alertes de Paris")).to_be_visible()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer votre adresse")
        await screenshot(page, f"{name}-fr")
    await page.get_by_role("button", name="Confirmer mon adresse").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Adresse confirmée")
    await expect(page.get_by_role("heading", name="Et ensuite ?")).to_be_visible()
    await screenshot(page, "confirmed-fr")
    await in_language(page, "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Address confirmed")
    await expect(page.locator("main")).to_contain_text("ada@example.org is confirmed")
    await screenshot(page, "confirmed-en")
    await page.get_by_role("link", name="Manage my alerts").click()
    await expect(page.locator("#contacts")).to_contain_text("ada@example.org confirmed")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390


async def test_the_unsubscribe_page_has_the_header_a_next_step_and_the_way_back(
    page: Page, site: Site
) -> None:
    c = await citizen(site, area="75105")
    token = tokens.sign(site.settings.secret_key, "unsubscribe", "paris", c["contacts"][0]["id"])
    await page.goto(f"/v1/unsubscribe/{token}")
    await expect(page.get_by_role("link", name="Alertes de Paris")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Se désabonner")
    await expect(page.get_by_role("link", name="Gérer mes alertes")).to_be_visible()  # instead
    await screenshot(page, "unsubscribe-fr")
    await page.get_by_role("button", name="Me désabonner").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Désabonnement enregistré")
    await expect(page.get_by_role("heading", name="Et ensuite ?")).to_be_visible()
    await screenshot(page, "unsubscribed-fr")
    await in_language(page, "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    await screenshot(page, "unsubscribed-en")
    await page.get_by_role("link", name="Back to the home page").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Get news from my neighbourhood"
    )


async def test_a_wrong_address_is_said_in_the_pages_language_beside_the_field(
    page: Page, site: Site
) -> None:
    c = await citizen(site, area="75105")
    await page.goto(c["page"])
    field = page.get_by_label("Ajouter un e-mail ou un mobile")
    await field.fill("eve@")
    await page.get_by_role("button", name="Ajouter", exact=True).click()
    error = page.locator("#new-contact-error")
    await expect(error).to_have_text(
        "Cette adresse e-mail n'est pas valide. Vérifiez-la, par exemple nom@exemple.fr."
    )
    await expect(field).to_have_attribute("aria-invalid", "true")
    assert "new-contact-error" in str(await field.get_attribute("aria-describedby")).split()
    await expect(field).to_be_focused()
    await in_language(page, "en")
    field = page.get_by_label("Add an email address or a mobile number")
    await field.fill("12")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(error).to_contain_text("This is not a valid mobile number.")
