"""Every page in French and English, on a desktop and on a phone, saved as screenshots for review;
the dev outbox page of ``notifier up`` showing what the embedded default produced."""

from __future__ import annotations

import base64
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from playwright.async_api import Page, expect

from notifier.api.app import create_api
from notifier.api.keys import DevServices
from notifier.dev import embedded
from notifier.dev.outbox import OutboxHandler
from notifier.wiring import build_services
from subscriptions import tokens
from tests.web.site import (
    SMS_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    NewPage,
    Site,
    in_language,
    screenshot,
)

pytestmark = pytest.mark.browser

HEADINGS = {
    "/": {
        "fr": "Recevoir les informations de mon quartier",
        "en": "Get news from my neighbourhood",
    },
    "/console": {"fr": "Annonces et alertes", "en": "Announcements and alerts"},
}


LINK_PAGES = {
    "confirm": {"fr": "Confirmer votre adresse", "en": "Confirm your address"},
    "unsubscribe": {"fr": "Se désabonner", "en": "Unsubscribe"},
}


async def contacts_of(site: Site, cid: str, token: str) -> list[str]:
    r = await site.api.get(
        f"/v1/cities/paris/citizens/{cid}", headers={"Authorization": f"Bearer {token}"}
    )
    return [c["id"] for c in (await r.json())["contacts"]]


async def registered(site: Site, email: str = "eve@example.org") -> str:
    """A management link, as the magic link email carries it."""
    r = await site.api.post(
        "/v1/cities/paris/citizens", json={"email": email, "phone": "06 12 34 56 78"}
    )
    body = await r.json()
    cid, token = body["citizen"]["id"], body["token"]
    await site.api.post(
        f"/v1/cities/paris/citizens/{cid}/subscriptions",
        json={"area": "75105", "categories": ["water", "roadworks"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    await site.api.post(
        f"/v1/cities/paris/citizens/{cid}/subscriptions",
        json={
            "point": {"lon": 2.347, "lat": 48.8462},
            "radius_m": 300,
            "channels": ["sms"],
            "cadence": {"period": "daily", "at": "18:00"},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    return f"/manage#{token}"


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_every_page_in_each_language(new_page: NewPage, site: Site, language: str) -> None:
    page = await new_page()
    for path, heading in HEADINGS.items():
        await page.goto(path)
        await in_language(page, language)
        await expect(page.get_by_role("heading", level=1)).to_have_text(heading[language])
        await screenshot(page, f"{path.strip('/') or 'portal'}-{language}")

    # the portal's other ways to say where
    await page.goto("/")
    await page.locator("#where-mode-point").check()
    await page.locator("svg.map").click(position={"x": 330, "y": 200})
    await expect(page.locator("#where-summary")).to_contain_text("300 m")
    await screenshot(page, f"portal-point-{language}")
    await page.locator("#where-mode-polygon").check()
    for x, y in ((300, 150), (360, 160), (350, 230)):
        await page.locator("svg.map").click(position={"x": x, "y": y})
    await expect(page.locator("#where-summary")).to_contain_text("3")
    await screenshot(page, f"portal-polygon-{language}")

    # the management page the magic link opens
    await page.goto(await registered(site))
    await expect(page.locator("#subs li")).to_have_count(2)
    await expect(page.locator("#subs")).to_contain_text(
        {"fr": "5e arrondissement – Panthéon", "en": "5th arrondissement – Panthéon"}[language]
    )
    await screenshot(page, f"manage-{language}")

    # the console once signed in
    await page.goto("/console")
    await page.locator("#key").fill(await site.department_key())
    await page.locator("#signin-form button").click()
    await expect(page.locator("#workspace")).to_be_visible()
    await screenshot(page, f"console-signed-in-{language}")

    # on a phone: one column, nothing wider than the screen
    phone = await new_page(width=390, height=844)
    await phone.goto("/")
    await in_language(phone, language)
    await expect(phone.locator("svg.map")).to_be_visible()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await screenshot(phone, f"portal-phone-{language}")

    # the management page and the pages the messages' links open, on a phone too
    manage = await registered(site, f"{language}@example.org")
    token = manage.split("#")[1]
    cid = tokens.verify(site.settings.secret_key, token, "manage")["s"]
    for p, suffix in ((page, ""), (phone, "-phone")):
        await p.goto(manage)
        await in_language(p, language)
        await expect(p.locator("#subs li")).to_have_count(2)
        await expect(p.locator("#status")).to_be_empty()  # "Loading…" does not come back
        await screenshot(p, f"manage{suffix}-{language}")
        assert await p.evaluate("document.documentElement.scrollWidth") <= (390 if suffix else 1280)
    pid = (await contacts_of(site, cid, token))[0]
    for purpose in ("confirm", "unsubscribe"):
        link = f"/v1/{purpose}/{tokens.sign(site.settings.secret_key, purpose, 'paris', pid)}"
        for p, suffix in ((page, ""), (phone, "-phone")):
            await p.goto(link)
            await in_language(p, language)
            await expect(p.get_by_role("heading", level=1)).to_have_text(
                LINK_PAGES[purpose][language]
            )
            await screenshot(p, f"{purpose}-page{suffix}-{language}")


async def test_the_management_page_sends_a_code_again_and_removes_a_contact_point(
    page: Page, site: Site
) -> None:
    await page.goto(await registered(site))
    await in_language(page, "en")
    phone = page.locator("#contacts li", has_text="+33612345678")
    await phone.get_by_role("button", name="Send the confirmation of").click()
    await expect(phone.locator("[role=status]").first).to_have_text(
        "Sent again: check your messages."
    )
    await phone.get_by_role("button", name="Remove the contact point").click()
    await phone.get_by_role("button", name="Yes, remove it").click()
    await expect(page.locator("#contacts li")).to_have_count(1)
    await expect(page.locator("#contacts")).to_contain_text("eve@example.org")


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[tuple[Path, int]]:
    """The local SMTP outbox of ``notifier up``."""
    folder, port = tmp_path / "outbox", embedded.free_port()
    controller = Controller(OutboxHandler(folder), hostname="127.0.0.1", port=port)
    controller.start()
    yield folder, port
    controller.stop()


async def test_the_dev_outbox_shows_the_emails_and_text_messages(
    page: Page, site: Site, outbox: tuple[Path, int]
) -> None:
    folder, smtp_port = outbox
    dev = DevServices(outbox_dir=folder, twilio=site.twilio)
    s = site.settings
    app = create_api(s, build_services(s, site.redis, _nowhere), dev)
    server = TestServer(app, host="127.0.0.1", port=embedded.free_port())
    await server.start_server()
    try:
        msg = EmailMessage()
        msg["From"], msg["To"] = "notifications@paris.example", "alice@example.org"
        msg["Subject"] = "Confirmez votre adresse"
        msg.set_content("Ouvrez ce lien : http://127.0.0.1:8080/v1/confirm/abc\n")
        with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
            smtp.send_message(msg)
        basic = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        async with aiohttp.ClientSession() as http:  # as the worker's Twilio client does
            r = await http.post(
                f"{s.twilio_base_url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
                data={"To": "+33612345678", "From": SMS_FROM, "Body": "123456 est votre code"},
                headers={"Authorization": "Basic " + basic},
            )
            assert r.status == 201, await r.text()

        await page.goto(str(server.make_url("/dev/")))
        await page.get_by_text("Confirmez votre adresse").click()
        link = page.get_by_role("link", name="http://127.0.0.1:8080/v1/confirm/abc")
        await expect(link).to_be_visible()
        await expect(page.locator("#sms")).to_contain_text("123456 est votre code")
        await expect(page.locator("#sms")).to_contain_text("+33612345678")
        await screenshot(page, "dev-outbox-fr")
        await in_language(page, "en")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Local outbox")
        await screenshot(page, "dev-outbox-en")
    finally:
        await server.close()


async def _nowhere(topic: str, key: bytes, value: bytes) -> None:
    """No Kafka for this page: it only reads the outboxes."""
