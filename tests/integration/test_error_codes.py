"""The API's errors as pages read them: a stable ``code`` beside the English ``field`` and
``reason``, and ``errors``: every fault of the request at once (a registration's contacts and
each of its subscriptions; a subscription's fields), nothing written when there is one."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from subscriptions.errors import CODES
from tests.stage import auth

Client = TestClient[Any, Any]
LYON = {"lon": 4.8357, "lat": 45.764}


async def faults(r: Any) -> list[tuple[str | None, str]]:
    body = await r.json()
    error = body["error"]
    assert error["code"] in CODES
    assert (error["field"], error["reason"], error["code"]) == tuple(
        error["errors"][0][k] for k in ("field", "reason", "code")
    )
    return [(e["field"], e["code"]) for e in error["errors"]]


async def kept(redis: Redis) -> list[Any]:
    return [k async for k in redis.scan_iter("n:{paris}:*")]


async def test_a_registration_names_every_fault_at_once_and_keeps_nothing(
    api: Client, redis: Redis
) -> None:
    r = await api.post(
        "/v1/cities/paris/citizens",
        json={
            "email": "not an address",
            "language": "de",
            "subscriptions": [
                {"point": {"lon": 2.35, "lat": 48.85}, "radius_m": 20000},
                {"area": "75105"},  # this one is right
                {"point": LYON, "radius_m": 500, "categories": ["nope"], "min_severity": "x"},
                {
                    "polygon": {
                        "type": "Polygon",
                        "coordinates": [
                            [
                                [2.34, 48.84],
                                [2.36, 48.86],
                                [2.36, 48.84],
                                [2.34, 48.86],
                                [2.34, 48.84],
                            ]
                        ],
                    }
                },
            ],
        },
    )
    assert r.status == 422
    assert await faults(r) == [
        ("language", "not_language"),
        ("email", "not_email"),
        ("subscriptions[0].radius_m", "out_of_range"),
        ("subscriptions[2].categories[0]", "not_category"),
        ("subscriptions[2].min_severity", "not_severity"),
        ("subscriptions[2].point", "outside_city"),
        ("subscriptions[3].polygon", "bad_polygon"),
    ]
    assert await kept(redis) == []


async def test_the_reasons_a_page_turns_into_a_way_forward_have_their_codes(api: Client) -> None:
    r = await api.post("/v1/cities/paris/citizens", json={"email": "ana@example.org"})
    body = await r.json()
    token, cid = body["token"], body["citizen"]["id"]
    base = f"/v1/cities/paris/citizens/{cid}"
    r = await api.post(f"{base}/subscriptions", json={"area": "nowhere"}, headers=auth(token))
    assert r.status == 422 and await faults(r) == [("area", "unknown_area")]
    r = await api.post(f"{base}/contacts", json={"phone": "06 12 34 56 78"}, headers=auth(token))
    assert r.status == 422 and await faults(r) == [("phone", "not_offered")]  # no SMS here
    # after an erasure, the old token says so (a code, not an id)
    r = await api.delete(base, headers=auth(token))
    assert r.status in (200, 204)
    r = await api.get(base, headers=auth(token))
    assert r.status == 401 and await faults(r) == [("Authorization", "token_revoked")]
    r = await api.get("/v1/cities/atlantis/areas")
    assert r.status == 404 and await faults(r) == [(None, "no_city")]
