"""A department key previews drafts: it must not find where one subscriber lives by shrinking
or sliding circles and strips over the map. Small shapes are widened, counts rounded to tens."""

from __future__ import annotations

import math
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.api.auth import create_department_key

Client = TestClient[Any, Any]
HOME = (2.3470, 48.8462)  # lon, lat
M_PER_DEG_LAT = 111_320.0


def north_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0], point[1] + metres / M_PER_DEG_LAT


def east_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0] + metres / (M_PER_DEG_LAT * math.cos(math.radians(point[1]))), point[1]


async def reach(api: Client, key: str, target: dict[str, Any]) -> dict[str, Any]:
    draft = {
        "category": "roadworks",
        "target": target,
        "content": {"fr": {"title": "Travaux", "body": "Rue fermée."}},
    }
    r = await api.post(
        "/v1/cities/paris/announcements/preview",
        json=draft,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status == 200, await r.text()
    body = await r.json()
    return {"citizens": body["citizens"], **body["contact_points"]}


def dot(at: tuple[float, float], radius: float = 1) -> dict[str, Any]:
    return {"circles": [{"lon": at[0], "lat": at[1], "radius_m": radius}]}


async def test_tiny_circles_do_not_locate_a_subscriber(api: Client, redis: Redis) -> None:
    c = await (await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})).json()
    await redis.hset(f"n:{{paris}}:contact:{c['contacts'][0]['id']}", "status", "confirmed")
    r = await api.post(
        f"/v1/cities/paris/citizens/{c['citizen']['id']}/subscriptions",
        json={"point": {"lon": HOME[0], "lat": HOME[1]}, "radius_m": 50},
        headers={"Authorization": f"Bearer {c['token']}"},
    )
    assert r.status == 201
    key = await create_department_key(redis, "paris", "voirie")
    at_home = await reach(api, key, dot(HOME))
    nearby = [await reach(api, key, dot(north_of(HOME, m))) for m in (60, 100, 140)]
    assert all(n == at_home for n in nearby)  # 1 m circles 60-140 m apart: all the same
    assert at_home == {"citizens": 10, "email": 10}  # one subscriber, never shown as 1
    far = await reach(api, key, dot(north_of(HOME, 2000)))
    assert far == {"citizens": 0, "email": 0}


async def test_a_narrow_strip_is_widened_too(api: Client, redis: Redis) -> None:
    c = await (await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})).json()
    await redis.hset(f"n:{{paris}}:contact:{c['contacts'][0]['id']}", "status", "confirmed")
    await api.post(
        f"/v1/cities/paris/citizens/{c['citizen']['id']}/subscriptions",
        json={"point": {"lon": HOME[0], "lat": HOME[1]}, "radius_m": 50},
        headers={"Authorization": f"Bearer {c['token']}"},
    )
    key = await create_department_key(redis, "paris", "voirie")

    def strip(offset_m: float) -> dict[str, Any]:  # 2 m wide, 1 km long, east-west
        south, north = north_of(HOME, offset_m)[1], north_of(HOME, offset_m + 2)[1]
        west, east = east_of(HOME, -500)[0], east_of(HOME, 500)[0]
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        return {"polygons": [{"type": "Polygon", "coordinates": [ring]}]}

    counts = [await reach(api, key, strip(m)) for m in (-120, 0, 120)]
    assert counts[0] == counts[1] == counts[2] == {"citizens": 10, "email": 10}
