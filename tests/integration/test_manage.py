"""A citizen's own data: magic link, export, erase (nothing personal left in Redis), abuse
limits on what sends messages to typed-in addresses."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from notifier.settings import Settings
from streams.records import DeliveryBatch
from streams.topics import TopicNames
from tests.stage import auth, confirmed_citizen

Client = TestClient[Any, Any]


async def email_batches(settings: Settings) -> list[DeliveryBatch]:
    consumer = AIOKafkaConsumer(
        TopicNames.with_prefix(settings.topic_prefix).deliveries("email"),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        got = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    return [DeliveryBatch.from_wire(m.value) for ms in got.values() for m in ms]


async def test_a_magic_link_goes_only_to_a_confirmed_address_and_opens_the_citizen(
    api: Client, redis: Redis, settings: Settings
) -> None:
    c = await confirmed_citizen(api, redis, "alice@example.org")
    await api.post("/v1/cities/paris/citizens", json={"email": "pending@example.org"})
    answers = []
    for email in ("ALICE@example.org", "pending@example.org", "nobody@example.org"):
        r = await api.post("/v1/cities/paris/magic-link", json={"email": email})
        answers.append((r.status, await r.json()))
    assert len({json.dumps(a) for a in answers}) == 1 and answers[0][0] == 202  # tells nothing
    links = [b for b in await email_batches(settings) if b.kind == "magic_link"]
    assert [r.to for b in links for r in b.recipients] == ["alice@example.org"]
    text = links[0].variants["fr"]["text"]
    token = re.search(r"/manage#(\S+)", text).group(1)
    r = await api.get(f"/v1/cities/paris/citizens/{c['citizen']['id']}", headers=auth(token))
    assert r.status == 200
    page = await api.get("/manage")
    assert page.headers["Cache-Control"] == "no-store" and "location.hash" in await page.text()


async def test_sending_to_one_address_is_limited(api: Client, redis: Redis) -> None:
    await confirmed_citizen(api, redis, "alice@example.org")
    statuses = [
        (await api.post("/v1/cities/paris/magic-link", json={"email": "alice@example.org"}))
        for _ in range(4)
    ]
    assert [r.status for r in statuses] == [202, 202, 429, 429]  # registration counted once
    assert 0 < int(statuses[-1].headers["Retry-After"]) <= 600


async def test_export_holds_what_is_stored(api: Client, redis: Redis) -> None:
    c = await confirmed_citizen(api, redis, "alice@example.org")
    base = f"/v1/cities/paris/citizens/{c['citizen']['id']}"
    await api.post(f"{base}/subscriptions", json={"area": "75105"}, headers=auth(c["token"]))
    r = await api.get(f"{base}/export", headers=auth(c["token"]))
    assert r.headers["Content-Disposition"].startswith("attachment;")
    data = await r.json()
    assert data["contacts"][0]["address"] == "alice@example.org"
    assert data["subscriptions"][0]["area"] == "75105"
    assert [x["change"] for x in data["consent"]] == ["pending"]
    assert [n["channel"] for n in data["notifications"]] == ["email"]  # the confirmation request


async def test_erase_leaves_no_personal_data_in_redis(api: Client, redis: Redis) -> None:
    c = await confirmed_citizen(api, redis, "alice@example.org")
    cid = c["citizen"]["id"]
    base = f"/v1/cities/paris/citizens/{cid}"
    await api.post(
        f"{base}/subscriptions",
        json={"point": {"lon": 2.347, "lat": 48.846}, "radius_m": 200},
        headers=auth(c["token"]),
    )
    other = await confirmed_citizen(api, redis, "bob@example.org")
    r = await api.delete(base, headers=auth(other["token"]))
    assert r.status == 403  # bob cannot erase alice
    r = await api.delete(base, headers=auth(c["token"]))
    assert (await r.json()) == {"erased": cid, "notifications_anonymised": 1}
    for k in [k async for k in redis.scan_iter("*")]:
        assert "alice" not in k and cid not in k, k
        kind = await redis.type(k)
        if kind == "hash":
            text = json.dumps(await redis.hgetall(k))
        elif kind == "string":
            text = str(await redis.get(k))
        elif kind in ("set", "zset"):
            text = json.dumps(
                sorted(await redis.zrange(k, 0, -1) if kind == "zset" else await redis.smembers(k))
            )
        elif kind == "list":
            text = json.dumps(await redis.lrange(k, 0, -1))
        else:
            continue
        assert "alice@example.org" not in text and cid not in text, k
    assert (await api.get(base, headers=auth(c["token"]))).status == 401  # its tokens end with it
    assert (
        await api.get(
            f"/v1/cities/paris/citizens/{other['citizen']['id']}", headers=auth(other["token"])
        )
    ).status == 200
