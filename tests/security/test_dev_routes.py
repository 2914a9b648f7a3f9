"""The dev routes (every email and SMS the embedded default sent: magic links, codes) are served
only when the API binds to a loopback address. The app is built as ``notifier up`` builds it,
with the bind address a setting; the test server itself listens on loopback only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from notifier.api.app import create_api
from notifier.api.keys import DevServices
from notifier.dev.twilio_fake import TwilioFake
from notifier.settings import Settings
from notifier.up import DEV_SMS_FROM, ready_lines
from notifier.wiring import build_services

DEV_PATHS = ("/dev/", "/dev/outbox", "/dev/sms")


def dev_services(tmp_path: Path) -> DevServices:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    twilio = TwilioFake("AC" + "1" * 32, "2" * 32, numbers=[DEV_SMS_FROM])
    return DevServices(outbox_dir=outbox, twilio=twilio)


async def statuses(settings: Settings, redis: Redis, dev: DevServices) -> list[int]:
    async def nothing(*args: Any) -> None:
        return None

    deps = build_services(settings, redis, nothing)  # type: ignore[arg-type]
    async with TestClient(TestServer(create_api(settings, deps, dev), host="127.0.0.1")) as c:
        return [(await c.get(path)).status for path in DEV_PATHS]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "notifier.example"])
async def test_no_dev_route_when_the_api_binds_beyond_loopback(
    settings: Settings, redis: Redis, tmp_path: Path, host: str
) -> None:
    public = settings.replace(api_host=host)
    assert await statuses(public, redis, dev_services(tmp_path)) == [404, 404, 404]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
async def test_dev_routes_on_a_loopback_bind(
    settings: Settings, redis: Redis, tmp_path: Path, host: str
) -> None:
    local = settings.replace(api_host=host)
    assert await statuses(local, redis, dev_services(tmp_path)) == [200, 200, 200]


def test_notifier_up_says_the_dev_routes_are_off_on_a_public_bind(
    settings: Settings, tmp_path: Path
) -> None:
    dev = dev_services(tmp_path)
    public = ready_lines(settings.replace(api_host="0.0.0.0"), dev, [], "nk_x")
    text = "\n".join(public)
    assert "Dev routes (/dev/outbox, /dev/sms): OFF" in text and "0.0.0.0" in text
    assert "/dev/   (what was sent)" not in text
    local = "\n".join(ready_lines(settings.replace(api_host="127.0.0.1"), dev, [], "nk_x"))
    assert "/dev/   (what was sent)" in local and "OFF" not in local
