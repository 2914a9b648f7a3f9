"""CAP 1.2 through the API: real alerts refused for what they are, a Paris alert published,
updated and cancelled by reference. The Paris alerts are written here (derived, not captured):
a real-world file for Paris was not available."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.api.auth import create_department_key
from tests.cap_documents import XML, paris_alert

CAP = Path(__file__).parents[1] / "data" / "cap"


async def post_cap(api: TestClient[Any, Any], key: str, xml: bytes) -> tuple[int, Any]:
    r = await api.post(
        "/v1/cities/paris/cap", data=xml, headers={**XML, "Authorization": f"Bearer {key}"}
    )
    return r.status, await r.json()


async def test_real_alerts_elsewhere_are_refused_for_that_reason(
    api: TestClient[Any, Any], redis: Redis
) -> None:
    key = await create_department_key(redis, "paris", "prefecture")
    xml = (CAP / "cap12_spec_A2_severe_thunderstorm_polygon.xml").read_bytes()
    status, body = await post_cap(api, key, xml)
    assert status == 202
    assert body["alerts"] == [
        {
            "identifier": "KSTO1055887203",
            "msg_type": "Alert",
            "delivered": False,
            "reason": "area: no area of the alert reaches the city",
        }
    ]
    test = (CAP / "real_philippines_pagasa_cyclone_status_test.xml").read_bytes()
    [result] = (await post_cap(api, key, test))[1]["alerts"]
    assert result["delivered"] is False and "Test" in result["reason"]
    assert await redis.zcard("n:{paris}:events:pending") == 0  # nothing was published


async def test_hostile_documents_get_a_clear_4xx(api: TestClient[Any, Any], redis: Redis) -> None:
    key = await create_department_key(redis, "paris", "prefecture")
    xxe = (CAP / "negative" / "NEGATIVE_xxe_external_entities_DO_NOT_RESOLVE.xml").read_bytes()
    status, body = await post_cap(api, key, xxe)
    assert status == 422 and "DOCTYPE" in body["error"]["reason"]
    r = await api.post(
        "/v1/cities/paris/cap",
        data=paris_alert("x"),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"},
    )
    assert r.status == 422
    r = await api.post("/v1/cities/paris/cap", data=paris_alert("x"), headers=XML)
    assert r.status == 401


async def test_a_paris_alert_is_published_updated_and_cancelled_by_reference(
    api: TestClient[Any, Any], redis: Redis
) -> None:
    key = await create_department_key(redis, "paris", "prefecture")
    auth = {"Authorization": f"Bearer {key}"}
    status, body = await post_cap(api, key, paris_alert("crue-1"))
    [first] = body["alerts"]
    assert status == 202 and first["delivered"] is True and first["version"] == 1
    shown = await (await api.get(first["href"], headers=auth)).json()
    assert shown["severity"] == "severe" and shown["category"] == "weather"
    assert shown["content"]["fr"]["title"] == "Crue de la Seine : quais fermés"
    assert shown["content"]["en"]["title"] == "Seine flood: embankments closed"
    assert shown["target"]["circles"] == [{"lon": 2.352, "lat": 48.8515, "radius_m": 300.0}]
    assert shown["expires_at"] > datetime.now(UTC).isoformat()

    ref = f"crue@paris.example,crue-1,{datetime.now(UTC).isoformat(timespec='seconds')}"
    [update] = (await post_cap(api, key, paris_alert("crue-2", "Update", ref, "Extreme")))[1][
        "alerts"
    ]
    assert (update["id"], update["version"]) == (first["id"], 2)
    assert (await (await api.get(first["href"], headers=auth)).json())["severity"] == "extreme"

    ref2 = f"crue@paris.example,crue-2,{datetime.now(UTC).isoformat(timespec='seconds')}"
    [cancel] = (await post_cap(api, key, paris_alert("crue-3", "Cancel", ref2)))[1]["alerts"]
    assert cancel == {
        "identifier": "crue-3",
        "msg_type": "Cancel",
        "delivered": True,
        "cancelled": [first["id"]],
    }
    assert (await (await api.get(first["href"], headers=auth)).json())["status"] == "cancelled"


async def test_a_second_cancel_is_reported_not_refused(
    api: TestClient[Any, Any], redis: Redis
) -> None:
    key = await create_department_key(redis, "paris", "prefecture")
    [first] = (await post_cap(api, key, paris_alert("crue-9")))[1]["alerts"]
    ref = f"crue@paris.example,crue-9,{datetime.now(UTC).isoformat(timespec='seconds')}"
    cancel = paris_alert("crue-10", "Cancel", ref)
    status, body = await post_cap(api, key, cancel)
    assert status == 202 and body["alerts"][0]["cancelled"] == [first["id"]]
    status, body = await post_cap(api, key, paris_alert("crue-11", "Cancel", ref))
    assert status == 202
    assert body["alerts"][0]["delivered"] is False
    assert body["alerts"][0]["reason"] == "status: the announcement is cancelled"
