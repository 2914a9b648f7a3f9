"""Dead letters name their recipients: a citizen's erasure takes every letter naming them or
their addresses with it, and no letter outlives the retention (Redis and the topic's plan)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.cli import admin, topics
from notifier.settings import Settings
from streams.delivery.expand import expand_announcement
from streams.delivery.send import send_batch
from streams.deps import Deps
from streams.state import dead_letters
from subscriptions import tokens
from subscriptions.errors import InvalidInput
from tests.handler_stage import Published, accepted, citizen
from tests.stage import SmtpSink

Client = TestClient[Any, Any]


async def test_an_erasure_strips_the_citizens_dead_letters(
    api: Client,
    deps: tuple[Deps, Published],  # noqa: F811 (test_handlers' fixture)
    smtp: tuple[SmtpSink, str],
    settings: Settings,
    redis: Redis,
) -> None:
    d, published = deps
    smtp[0].replies = ["550 5.1.1 mailbox unavailable"] * 2  # both refused for good
    alice = await citizen(d.store, "alice@example.org", "75105")
    await citizen(d.store, "bob@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    [batch] = [v for t, _, v in published if t == "deliveries.email"]
    assert await send_batch(batch, d) == {"failed": 2}
    letters = [str(r) for _, r in await dead_letters.listing(redis)]
    assert len(letters) == 2 and any("alice@example.org" in x for x in letters)

    token = tokens.sign(str(settings.secret_key), "manage", "paris", alice)
    r = await api.delete(
        f"/v1/cities/paris/citizens/{alice}", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status == 200
    raw = [f["record"] for _, f in await redis.xrange(dead_letters.STREAM)]
    assert len(raw) == 1  # bob's stays, for the operator
    assert "alice@example.org" not in raw[0] and alice not in raw[0]
    assert "bob@example.org" in raw[0]


async def test_a_dead_letter_past_its_time_is_gone(settings: Settings, redis: Redis) -> None:
    days = settings.dead_letter_retention_days
    old_ms = int((time.time() - (days + 1) * 86400) * 1000)
    old = await redis.xadd(  # a letter written a day past the retention, as the worker writes
        dead_letters.STREAM,
        {"record": '{"topic": "t", "reason": "x", "at": "", "raw": "a@b.c"}'},
        id=f"{old_ms}-0",
    )
    assert await admin.list_dead_letters(settings, 20) == ["no dead letters"]
    with pytest.raises(InvalidInput):
        await admin.show_dead_letter(settings, old)
    assert await redis.xlen(dead_letters.STREAM) == 0  # trimmed, not only hidden

    async def nowhere(topic: str, key: bytes, value: bytes) -> None:
        return None

    await redis.xadd(dead_letters.STREAM, {"record": "{}"}, id=f"{old_ms + 1}-0")
    await dead_letters.put(redis, nowhere, "dead-letters", b"", b'{"new": 1}')  # trims as it goes
    assert [f["record"] for _, f in await redis.xrange(dead_letters.STREAM)] == ['{"new": 1}']


def test_the_dead_letters_topic_is_planned_with_the_same_retention(settings: Settings) -> None:
    [planned] = [t for t in topics.plan(settings) if t.name.endswith("dead-letters")]
    assert planned.configs["retention.ms"] == str(settings.dead_letter_retention_days * 86_400_000)
