"""What the browser tests and their fixtures (``tests/web/conftest.py``) share: Chromium's
command line, the fake providers' credentials, the ``Site`` a test drives (the API on a port and
the providers behind it), and the page helpers (language switch, screenshots for review)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient
from playwright.async_api import Page
from redis.asyncio import Redis

from notifier.api.auth import create_department_key
from notifier.dev import twilio_fake
from notifier.dev.push_service_fake import PushServiceFake
from notifier.settings import Settings
from tests.stage import ROOT, SmtpSink, eventually

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
SMS_FROM = "+33700000001"
TWILIO_SID, TWILIO_TOKEN = "AC" + "2" * 32, "e" * 32


@dataclasses.dataclass
class Site:
    url: str
    api: TestClient[Any, Any]  # for what the test does outside the browser
    settings: Settings
    redis: Redis
    smtp: SmtpSink
    twilio: twilio_fake.TwilioFake
    push: PushServiceFake
    push_url: str

    async def department_key(self, department: str = "voirie") -> str:
        return await create_department_key(self.redis, "paris", department)

    async def mail(self, to: str, pattern: str, what: str) -> str:
        """The plain-text body of the first email to ``to`` whose text matches ``pattern``."""

        def found() -> str | None:
            for m in self.smtp.to(to):
                text = m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                if re.search(pattern, text):
                    return str(text)
            return None

        return str(await eventually(found, what=what))


NewPage = Callable[..., Awaitable[Page]]


async def screenshot(page: Page, name: str) -> None:
    """A full-page screenshot for review, under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def in_language(page: Page, language: str) -> None:
    """Press the language switch of the page's header."""
    await page.get_by_role("button", name={"fr": "Français", "en": "English"}[language]).click()
    await page.wait_for_function(f"document.documentElement.lang === {language!r}")
