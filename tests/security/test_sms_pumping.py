"""SMS pumping: an attacker makes the city text premium numbers abroad, from rotating addresses.
Only the city's countries are texted, an IPv6 client counts per /64, and the city's hourly SMS
budget, once spent, is refused with a metric and a warning the operator is alerted by."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.api.abuse import LIMITS
from notifier.api.auth import create_department_key
from notifier.settings import Secret, Settings
from subscriptions.city_document import parse_city
from subscriptions.errors import InvalidInput
from tests.stage import api_client

Client = TestClient[Any, Any]
UK_MOBILE = "+447700900123"
FR_MOBILE = "+33612345678"


@pytest.fixture
async def sms_api(settings: Settings, redis: Redis) -> AsyncIterator[Client]:
    """The API with SMS offered, behind a trusted proxy on loopback (X-Forwarded-For)."""
    with_sms = settings.replace(
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=Secret("2" * 32),
        twilio_from="+33700000001",
        trusted_proxies=("127.0.0.0/8", "::1/128"),
    )
    async with api_client(with_sms, redis) as client:
        yield client


async def field_of(r: Any) -> tuple[int, str | None]:
    return r.status, (await r.json())["error"]["field"]


async def test_a_number_of_another_country_is_refused_naming_phone(
    sms_api: Client, redis: Redis
) -> None:
    r = await sms_api.post("/v1/cities/paris/citizens", json={"phone": UK_MOBILE})
    assert await field_of(r) == (422, "phone")
    r = await sms_api.post("/v1/cities/paris/magic-link", json={"phone": UK_MOBILE})
    assert await field_of(r) == (422, "phone")
    me = await (await sms_api.post("/v1/cities/paris/citizens", json={"phone": FR_MOBILE})).json()
    r = await sms_api.post(
        f"/v1/cities/paris/citizens/{me['citizen']['id']}/contacts",
        json={"phone": "+1 202 555 0143"},
        headers={"Authorization": f"Bearer {me['token']}"},
    )
    assert await field_of(r) == (422, "phone")
    key = await create_department_key(redis, "paris", "voirie")
    r = await sms_api.post(
        "/v1/cities/paris/requests",
        json={"service_code": "pothole", "phone": UK_MOBILE, "lat": 48.85, "long": 2.35},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert await field_of(r) == (422, "phone")
    assert await redis.exists(f"n:{{paris}}:address:sms:{UK_MOBILE}") == 0


def test_a_city_names_the_countries_it_texts() -> None:
    doc = {
        "id": "bruxelles",
        "name": "Bruxelles",
        "country": "BE",
        "sms": {"countries": ["BE", "FR"]},
        "areas": {"code": "c", "name": "n", "geojson": {}},
    }
    with pytest.raises(InvalidInput) as e:  # the areas are checked after the fields
        parse_city({**doc, "sms": {"countries": ["Belgium"]}})
    assert e.value.field == "sms.countries"
    with pytest.raises(InvalidInput) as e:
        parse_city({**doc, "country": "be"})
    assert e.value.field == "country"


async def test_an_ipv6_client_counts_per_64(sms_api: Client) -> None:
    limit = LIMITS["ip"][0]
    statuses = []
    for i in range(limit + 1):  # each from another address of the same /64, to another address
        r = await sms_api.post(
            "/v1/cities/paris/magic-link",
            json={"email": f"x{i}@example.org"},
            headers={"X-Forwarded-For": f"2001:db8:1:2:{i:x}::{i + 1:x}"},
        )
        statuses.append(r.status)
    assert statuses == [202] * limit + [429]
    r = await sms_api.post(
        "/v1/cities/paris/magic-link",
        json={"email": "y@example.org"},
        headers={"X-Forwarded-For": "2001:db8:1:3::1"},  # the next /64: another client
    )
    assert r.status == 202


async def test_a_spent_city_sms_budget_is_counted_and_alerts_the_operator(
    sms_api: Client, caplog: pytest.LogCaptureFixture
) -> None:
    budget = LIMITS["city-sms"][0]

    async def ask(i: int) -> int:
        r = await sms_api.post(
            "/v1/cities/paris/magic-link",
            json={"phone": f"+3361{i:07d}"},
            headers={"X-Forwarded-For": f"2001:db8:{i // 10:x}::1"},  # 10 per client
        )
        return r.status

    caplog.set_level(logging.WARNING, logger="notifier.abuse")
    statuses = []
    for start in range(0, budget + 3, 50):
        statuses += await asyncio.gather(
            *(ask(i) for i in range(start, min(start + 50, budget + 3)))
        )
    assert statuses.count(202) == budget and statuses.count(429) == 3
    alerts = [r for r in caplog.records if r.name == "notifier.abuse"]
    assert len(alerts) == 1 and alerts[0].levelno == logging.WARNING  # once per window
    assert "SMS budget of paris is spent" in alerts[0].getMessage()
    metrics = await (await sms_api.get("/metrics")).text()
    assert 'notifier_sms_budget_refusals_total{city="paris"} 3.0' in metrics
