"""Every page, checked by axe-core (the copy the ``axe-playwright-python`` package ships: no
network) in French and in English, on a desktop (1280×800) and on a phone (390×844): no serious
or critical violation. Each page is also saved as a screenshot for review
(``test-artifacts/screenshots/<page>-<language>-<desktop|phone>.png``).

The pages: the portal (and its form showing errors), the console signed out and signed in, the
management page, the confirmation and unsubscribe pages of the emailed links, another city's
portal and the page of an unknown city, and the dev outbox of ``notifier up``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from notifier.api.app import create_api
from notifier.api.keys import DevServices
from notifier.dev import embedded
from notifier.wiring import build_services
from subscriptions import tokens
from tests.paris_centre import make_centre
from tests.web.site import NewPage, Site, screenshot

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
BAD = ("serious", "critical")
AXE = Axe()


async def violations(page: Page, name: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands, one line each."""
    results = await AXE.run(page)
    out = []
    for v in results.response["violations"]:
        if v["impact"] in BAD:
            targets = [", ".join(map(str, n["target"])) for n in v["nodes"]][:5]
            out.append(f"{name}: {v['id']} ({v['impact']}): {v['help']} at {targets}")
    return out


async def registered(site: Site) -> tuple[str, str, str]:
    """A citizen with an email and a phone, two subscriptions: (management token, email contact
    id, phone contact id)."""
    r = await site.api.post(
        "/v1/cities/paris/citizens",
        json={
            "email": "zoe@example.org",
            "phone": "06 12 34 56 78",
            "subscriptions": [
                {"area": "75105", "categories": ["water"]},
                {"point": {"lon": 2.347, "lat": 48.8462}, "radius_m": 300},
            ],
        },
    )
    assert r.status == 201, await r.text()
    body = await r.json()
    ids = {c["channel"]: c["id"] for c in body["contacts"]}
    return body["token"], ids["email"], ids["sms"]


@pytest.fixture
async def dev_url(site: Site, tmp_path: Path) -> AsyncIterator[str]:
    """The dev outbox page of ``notifier up`` (loopback only), on its own API."""
    s = site.settings
    dev = DevServices(outbox_dir=tmp_path / "outbox", twilio=site.twilio)
    app = create_api(s, build_services(s, site.redis, _nowhere), dev)
    server = TestServer(app, host="127.0.0.1", port=embedded.free_port())
    await server.start_server()
    yield str(server.make_url("/dev/"))
    await server.close()


async def _nowhere(topic: str, key: bytes, value: bytes) -> None:
    """No Kafka for the outbox page: it only reads the outboxes."""


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("language", ["fr", "en"])
async def test_every_page_has_no_serious_or_critical_axe_violation(
    new_page: NewPage, site: Site, dev_url: str, language: str, viewport: str
) -> None:
    width, height = VIEWPORTS[viewport]
    page = await new_page(width=width, height=height)
    token, email_id, phone_id = await registered(site)
    await make_centre(site.redis)
    secret = str(site.settings.secret_key)
    confirm = tokens.sign(secret, "confirm", "paris", email_id)
    unsubscribe = tokens.sign(secret, "unsubscribe", "paris", phone_id)
    found: list[str] = []

    async def check(name: str, ready: Any = None) -> None:
        if ready is not None:
            await expect(ready).to_be_visible()
        await page.wait_for_load_state("networkidle")
        found.extend(await violations(page, f"{name} ({language}, {viewport})"))
        await screenshot(page, f"{name}-{language}-{viewport}")

    lang = f"lang={language}"
    await page.goto(f"/?{lang}")
    await check("portal", page.locator("svg.map"))
    await page.get_by_role("button", name={"fr": "M'abonner", "en": "Subscribe"}[language]).click()
    await check("portal-errors", page.locator("#errors"))

    await page.goto(f"/?city=paris_centre&{lang}")
    await check("portal-paris-centre", page.locator("svg.map"))
    r = await page.goto(f"/?city=atlantis&{lang}")
    assert r is not None and r.status == 404
    await check("no-city", page.locator("main"))

    await page.goto(f"/console?{lang}")
    await check("console", page.locator("#key"))
    await page.locator("#key").fill(await site.department_key())
    await page.locator("#signin-form button").click()
    await check("console-signed-in", page.locator("#workspace"))

    await page.goto(f"/manage?{lang}#{token}")
    await expect(page.locator("#subs li")).to_have_count(2)
    await check("manage")

    await page.goto(f"/v1/confirm/{confirm}?{lang}")
    action = page.locator("main button[type=submit]")  # the header has its language buttons
    await check("confirm", action)
    await action.click()
    await check("confirmed", page.locator("h1"))
    await page.goto(f"/v1/unsubscribe/{unsubscribe}?{lang}")
    await check("unsubscribe", action)
    await action.click()
    await check("unsubscribed", page.locator("h1"))

    await page.goto(f"{dev_url}?{lang}")
    await check("dev-outbox", page.locator("h1"))

    assert found == [], "axe-core found serious or critical violations:\n" + "\n".join(found)


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """WCAG's contrast ratio of two sRGB colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


FOCUS_COLOURS = """el => {
  const s = getComputedStyle(el);
  const colours = [];
  if (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2) colours.push(s.outlineColor);
  colours.push(...(s.boxShadow.match(/rgba?\\([^)]*\\)/g) || []));
  return colours.map((c) => c.match(/[\\d.]+/g).map(Number))
    .filter((c) => c.length < 4 || c[3] > 0.9);
}"""


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_a_skip_link_comes_first_and_focus_is_visible_against_white(
    new_page: NewPage, site: Site, language: str
) -> None:
    """What axe-core cannot see: the first Tab shows a skip link that leads to the main
    content, and the focus indicator of a field and a button has a part with at least 3:1
    against the white page (WCAG 2.1 1.4.11; it was #ffbf47 alone, 1.6:1)."""
    page = await new_page(width=390, height=844)
    token, _, _ = await registered(site)
    skip = {"fr": "Aller au contenu principal", "en": "Skip to main content"}[language]
    for path in (
        f"/?lang={language}",
        f"/console?lang={language}",
        f"/manage?lang={language}#{token}",
    ):
        await page.goto(path)
        await expect(page.locator("h1")).to_be_visible()
        await page.keyboard.press("Tab")
        link = page.get_by_role("link", name=skip)
        await expect(link).to_be_focused()
        await expect(link).to_be_in_viewport()
        await page.keyboard.press("Enter")
        await expect(page.locator("main")).to_be_focused()
        for control in ("main input:visible", "main button:visible"):
            target = page.locator(control).first
            await target.focus()
            colours = await target.evaluate(FOCUS_COLOURS)
            best = max((contrast(tuple(c), (255, 255, 255)) for c in colours), default=1.0)
            said = f"{path} {control}: focus colours {colours} reach {best:.2f}:1 on white"
            assert best >= 3, said
