"""Browser tests: Debian's Chromium driven by Playwright against the real API on a port, with the
real worker, Redis, Tansu and an SMTP server from the root fixtures, the Twilio-shaped server and
the local push service (the only fakes: they stand for paid or browser-vendor services).

Each test gets its own API server (its settings name it as the public URL, so the links in the
messages lead to it), a fresh browser context in French, and fails on any JavaScript error.
Screenshots go to ``test-artifacts/screenshots/`` for review.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page, async_playwright
from redis.asyncio import Redis

from channels.push import generate_vapid_keys
from notifier.api.app import create_api
from notifier.dev import embedded, twilio_fake
from notifier.dev.push_service_fake import PushServiceFake
from notifier.dev.push_service_fake import create_app as push_app
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_services
from tests.stage import SmtpSink
from tests.web.site import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SMS_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    NewPage,
    Site,
)


@pytest.fixture(scope="session")
def vapid_private_key() -> str:
    return generate_vapid_keys().private_key


@pytest.fixture
def web_port() -> int:
    return embedded.free_port()


@pytest.fixture
def twilio_port() -> int:
    return embedded.free_port()


@pytest.fixture
def settings(
    settings: Settings, web_port: int, twilio_port: int, vapid_private_key: str
) -> Settings:
    """The root settings, with every channel on and the links leading to this test's server."""
    return settings.replace(
        public_url=f"http://127.0.0.1:{web_port}",
        vapid_private_key=Secret(vapid_private_key),
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=Secret(TWILIO_TOKEN),
        twilio_from=SMS_FROM,
        twilio_base_url=f"http://127.0.0.1:{twilio_port}",
    )


@pytest.fixture
async def site(
    settings: Settings,
    redis: Redis,
    smtp: tuple[SmtpSink, str],
    web_port: int,
    twilio_port: int,
) -> AsyncIterator[Site]:
    twilio = twilio_fake.TwilioFake(TWILIO_SID, TWILIO_TOKEN, numbers=[SMS_FROM])
    twilio_runner, _ = await twilio_fake.start(twilio, "127.0.0.1", twilio_port)
    push = PushServiceFake()
    push_runner = web.AppRunner(push_app(push), access_log=None)
    await push_runner.setup()
    push_port = embedded.free_port()
    await web.TCPSite(push_runner, "127.0.0.1", push_port).start()
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    await publisher.start()
    app = create_api(settings, build_services(settings, redis, publisher.publish))
    client = TestClient(TestServer(app, host="127.0.0.1", port=web_port))
    await client.start_server()
    try:
        yield Site(
            settings.base_url,
            client,
            settings,
            redis,
            smtp[0],
            twilio,
            push,
            f"http://127.0.0.1:{push_port}",
        )
    finally:
        await client.close()
        await publisher.stop()
        await twilio.idle()
        await twilio_runner.cleanup()
        await push_runner.cleanup()


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium package")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def new_page(browser: Browser, site: Site) -> AsyncIterator[NewPage]:
    """``await new_page(width=…, init_script=…)``: a page in a fresh context (French locale,
    notifications allowed); any JavaScript error on it fails the test."""
    contexts = []
    errors: list[str] = []

    async def make(width: int = 1280, height: int = 1000, init_script: str = "") -> Page:
        context = await browser.new_context(
            base_url=site.url,
            locale="fr-FR",
            viewport={"width": width, "height": height},
            accept_downloads=True,
        )
        contexts.append(context)
        await context.grant_permissions(["notifications"], origin=site.url)
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        return page

    yield make
    for c in contexts:
        await c.close()
    assert errors == [], "JavaScript errors in the pages"


@pytest.fixture
async def page(new_page: NewPage) -> Page:
    return await new_page()
