"""Behind a reverse proxy, the abuse limits count per client (``X-Forwarded-For`` from the
trusted proxies only), and a client cannot dodge them by sending that header itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.settings import ConfigError, Settings
from tests.stage import api_client

Client = TestClient[Any, Any]


@pytest.fixture
async def behind_proxy(settings: Settings, redis: Redis) -> AsyncIterator[Client]:
    """The test client connects from 127.0.0.1: here, that is the proxy."""
    async with api_client(settings.replace(trusted_proxies=("127.0.0.0/8",)), redis) as c:
        yield c


async def register(api: Client, n: int, forwarded: str) -> int:
    r = await api.post(
        "/v1/cities/paris/citizens",
        json={"email": f"c{n}-{forwarded.replace(', ', '-')}@example.org"},
        headers={"X-Forwarded-For": forwarded},
    )
    return r.status


async def test_behind_a_trusted_proxy_each_client_has_its_own_count(behind_proxy: Client) -> None:
    statuses = [await register(behind_proxy, n, "203.0.113.7") for n in range(21)]
    assert statuses == [201] * 20 + [429]
    # another client behind the same proxy is not held back by the first one's count
    assert await register(behind_proxy, 0, "203.0.113.8") == 201
    # what the client itself put before the proxy's entry does not make it someone else
    assert await register(behind_proxy, 99, "198.51.100.1, 203.0.113.7") == 429


async def test_without_trusted_proxies_the_header_is_ignored(api: Client) -> None:
    statuses = [await register(api, n, f"203.0.113.{n}") for n in range(21)]
    assert statuses == [201] * 20 + [429]  # one peer, whatever the header says


def test_a_trusted_proxy_that_is_not_an_address_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES: 'proxy.local'"):
        Settings.from_env({"NOTIFIER_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"})
    assert Settings.from_env({"NOTIFIER_TRUSTED_PROXIES": "10.1.2.3/8, ::1"}).trusted_proxies == (
        "10.0.0.0/8",
        "::1/128",
    )
