"""Matching on the Paris catalogue and real Dans ma rue points, checked against brute force."""

from __future__ import annotations

import asyncio
import csv
import random
from pathlib import Path

import pytest
from redis.asyncio import Redis
from shapely.geometry import Point

from subscriptions.areas import load_catalogue
from subscriptions.errors import InvalidInput
from subscriptions.geometry import circle
from subscriptions.live_index import Audience
from subscriptions.matcher import Matcher, Target
from subscriptions.store import SubscriptionStore, new_id
from subscriptions.subscription import parse_subscription
from subscriptions.targets import parse_target

PARIS = load_catalogue("paris")
DATA = Path(__file__).parents[1] / "data" / "dansmarue_anomalies_2023-2024_trottoirs_sample.csv"


def dans_ma_rue() -> list[tuple[float, float, int]]:
    with DATA.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        lat, lon = (float(x) for x in r["geo_point_2d"].split(","))
        out.append((lon, lat, int(r["arrondissement"])))
    return out


async def match(
    store: SubscriptionStore, target: Target, category: str, severity: str, dept: str = ""
) -> Audience:
    """As a worker matches, from a fresh process (which loads the city first)."""
    matcher = Matcher(store.redis, {"paris": PARIS})
    return await matcher.match("paris", target, category, severity, dept or None, explain=True)


async def add(store: SubscriptionStore, cid: str, **body: object) -> str:
    sub, index = parse_subscription(body, sid=new_id("sub"), citizen=cid, catalogue=PARIS)
    await store.add_subscription("paris", sub, index)
    return sub.id


async def citizens(store: SubscriptionStore, n: int) -> list[str]:
    out = []
    for _ in range(n):
        c = await store.create_citizen("paris", "fr")
        out.append(c.id)
    return out


def test_dans_ma_rue_points_fall_in_their_arrondissement() -> None:
    points = dans_ma_rue()
    assert len(points) == 2000
    inside = sum(
        PARIS.get(str(75100 + arr)).geometry.contains(Point(lon, lat)) for lon, lat, arr in points
    )
    assert inside == 1990  # as the data's notes say: 10 are geocoded across a boundary


async def test_radius_subscriptions_match_exactly_what_brute_force_finds(redis: Redis) -> None:
    store = SubscriptionStore(redis)
    rng = random.Random(7)
    points = rng.sample(dans_ma_rue(), 300)
    cids = await citizens(store, len(points))
    circles = {}
    for cid, (lon, lat, _) in zip(cids, points, strict=True):
        radius = rng.choice([50, 200, 500, 1000, 3000])
        await add(store, cid, point={"lon": lon, "lat": lat}, radius_m=radius)
        circles[cid] = circle(PARIS.projection, lon, lat, radius)
    for code in ("7510501", "75105", "7511204", "75116"):
        area = PARIS.get(code).metric
        expected = {cid for cid, c in circles.items() if c.intersects(area)}
        target = parse_target({"areas": [code]}, PARIS).resolve(PARIS)
        got = set((await match(store, target, "roadworks", "minor")).citizens)
        assert got == expected, code
        assert expected  # the sample has subscribers around every one of these areas


async def test_a_drawn_event_reaches_areas_it_crosses_and_shapes_it_touches(redis: Redis) -> None:
    store = SubscriptionStore(redis)
    a, b, c, d, e = await citizens(store, 5)
    await add(store, a, area="75105")  # the Panthéon arrondissement
    await add(store, b, area="7510502")  # Jardin-des-Plantes quartier (5th)
    await add(store, c, area="75112")  # far away
    await add(store, d, point={"lon": 2.3470, "lat": 48.8462}, radius_m=100)  # Panthéon
    square = [[2.340, 48.840], [2.350, 48.840], [2.350, 48.850], [2.340, 48.850], [2.340, 48.840]]
    await add(store, e, polygon={"type": "Polygon", "coordinates": [square]})
    # a 150 m circle around the Panthéon, as CAP would send it
    target = parse_target({"circles": [{"lon": 2.3464, "lat": 48.8462, "radius_m": 150}]}, PARIS)
    got = set((await match(store, target.resolve(PARIS), "safety", "severe")).citizens)
    crossed = PARIS.intersecting(target.resolve(PARIS).shape)
    assert "75105" in crossed and "75112" not in crossed
    assert got == {a, d, e} | ({b} if "7510502" in crossed else set())
    assert target.area_names(PARIS) == "Panthéon"


async def test_a_citizen_matched_twice_is_one_match_naming_both(redis: Redis) -> None:
    store = SubscriptionStore(redis)
    [cid] = await citizens(store, 1)
    s1 = await add(store, cid, area="75105")
    s2 = await add(store, cid, point={"lon": 2.3470, "lat": 48.8462}, radius_m=500)
    target = parse_target({"areas": ["7510501"]}, PARIS).resolve(PARIS)
    found = await match(store, target, "roadworks", "minor")
    assert found.citizens == [cid] and found.subscriptions == [tuple(sorted([s1, s2]))]


async def test_first_matches_at_the_same_time_load_the_city_once(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A fresh process taking several events at once (two agents, two API previews): one
    load (a city of a million subscriptions takes seconds of CPU), the same audiences."""
    store = SubscriptionStore(redis)
    ids = await citizens(store, 30)
    for cid in ids:
        await add(store, cid, area="75105")
    matcher = Matcher(redis, {"paris": PARIS})
    target = parse_target({"areas": ["7510501"]}, PARIS).resolve(PARIS)
    caplog.set_level("INFO", logger="notifier")
    found = await asyncio.gather(
        *(matcher.match("paris", target, "roadworks", "minor", explain=True) for _ in range(4))
    )
    for audience in found:
        assert sorted(audience.citizens) == sorted(ids)
        assert all(len(subs) == 1 for subs in audience.subscriptions)
    loads = [r for r in caplog.records if "subscriptions loaded" in r.getMessage()]
    assert len(loads) == 1


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"point": {"lon": 2.35, "lat": 48.85}, "radius_m": 10}, "radius_m", "between 50 and 5000"),
        (
            {"point": {"lon": 2.35, "lat": 48.85}, "radius_m": 9000},
            "radius_m",
            "between 50 and 5000",
        ),
        ({"point": {"lon": 2.35}, "radius_m": 100}, "point.lat", "must be a number"),
        ({"point": {"lon": 4.83, "lat": 45.76}, "radius_m": 100}, "point", "outside the city"),
        (
            {
                "polygon": {
                    "type": "Polygon",
                    "coordinates": [[[2.34, 48.84], [2.35, 48.84], [2.35, 48.85]]],
                }
            },
            "polygon.coordinates[0]",
            "at least 4 positions",
        ),
        (
            {
                "polygon": {
                    "type": "Polygon",
                    "coordinates": [[[2.34, 48.84], [2.35, 48.84], [2.35, 48.85], [2.34, 48.86]]],
                }
            },
            "polygon.coordinates[0]",
            "not closed",
        ),
        (
            {
                "polygon": {
                    "type": "Polygon",
                    "coordinates": [
                        [[2.34, 48.84], [2.35, 48.85], [2.35, 48.84], [2.34, 48.85], [2.34, 48.84]]
                    ],
                }
            },
            "polygon",
            "Self-intersection",
        ),
        (
            {
                "polygon": {
                    "type": "Polygon",
                    "coordinates": [
                        [[2.0, 48.5], [2.9, 48.5], [2.9, 49.1], [2.0, 49.1], [2.0, 48.5]]
                    ],
                }
            },
            "polygon",
            "larger than 50 km²",
        ),
        ({"polygon": {"type": "LineString", "coordinates": []}}, "polygon", "GeoJSON Polygon"),
        ({"area": "75105", "point": {"lon": 2.35, "lat": 48.85}}, "area", "exactly one"),
    ],
)
def test_shape_errors_are_clear(body: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_subscription(body, sid="s", citizen="c", catalogue=PARIS)
    assert e.value.field == field and reason in e.value.reason


def test_event_shapes_must_reach_the_city() -> None:
    lyon = {"circles": [{"lon": 4.83, "lat": 45.76, "radius_m": 1000}]}
    with pytest.raises(InvalidInput, match="does not reach the city"):
        parse_target(lyon, PARIS)
    with pytest.raises(InvalidInput, match="at least one"):
        parse_target({}, PARIS)


async def test_a_department_subscription_hears_all_its_announcements(redis: Redis) -> None:
    store = SubscriptionStore(redis)
    fan, water_fan, local = await citizens(store, 3)
    await add(store, fan, department="voirie")
    await add(store, water_fan, department="eau", categories=["water"])
    await add(store, local, area="75112")
    far = parse_target({"areas": ["75119"]}, PARIS).resolve(PARIS)  # nobody lives there
    roads = await match(store, far, "roadworks", "minor", "voirie")
    assert roads.citizens == [fan]
    water = await match(store, far, "roadworks", "minor", "eau")
    assert water.citizens == []  # the category filter holds for department subscriptions too
    with pytest.raises(InvalidInput, match="department name"):
        parse_subscription({"department": "Voirie!"}, sid="s", citizen="c", catalogue=PARIS)
