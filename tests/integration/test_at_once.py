"""A small batch sent by the worker that matched it, not through its topic
(``streams.handlers.sender_at_once``), and what happens when it cannot be: a rate limit, a
provider too slow for the wait, a worker killed in the middle. Real Redis, real SMTP server, the
handlers without a broker (what they write to a topic kept in a list)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

from channels.email import SmtpConfig, SmtpEmailChannel
from streams import handlers
from streams.delivery.expand import BATCH_SIZE, expand_announcement
from streams.delivery.send import send_batch
from streams.deps import Deps
from streams.state.ledger import WORKERS
from streams.state.ratelimit import RateLimiter
from tests.handler_stage import Published, accepted, batches, citizen
from tests.stage import SmtpSink, eventually


async def _neighbours(d: Deps, n: int) -> list[str]:
    return [await citizen(d.store, f"n{i}@example.org", "75105") for i in range(n)]


async def test_a_small_event_goes_out_from_the_worker_that_matched_it(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    d.send_now = handlers.sender_at_once(d)
    await _neighbours(d, 3)
    assert await expand_announcement(await accepted(d, ["75105"]), d) == 3
    # sent before the city event's handler returned, and no record left for a sender to fetch
    assert sorted(m["To"] for m in sink.messages) == _addresses(3)
    assert batches(published) == []
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"sent": 3}}


async def test_more_than_a_batch_goes_through_the_topic(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    """Up to a shard (``fanout.SHARD_SIZE``) is the small lane, but only an event of one batch
    holds its city event's partition for its sending."""
    d, published = deps
    sink, _ = smtp
    d.send_now = handlers.sender_at_once(d)
    await _neighbours(d, BATCH_SIZE + 1)
    await expand_announcement(await accepted(d, ["75105"]), d)
    assert sum(len(b.recipients) for b in batches(published)) == BATCH_SIZE + 1
    assert sink.messages == []


async def test_a_rate_limited_channel_goes_through_its_topic_at_the_limit_s_pace(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    d.limiter = RateLimiter(d.store.redis, {"email": 5.0})
    d.send_now = handlers.sender_at_once(d)
    await _neighbours(d, 2)
    await expand_announcement(await accepted(d, ["75105"]), d)
    [batch] = batches(published)
    assert len(batch.recipients) == 2 and sink.messages == []


async def test_a_batch_not_out_within_the_wait_is_written_and_nothing_goes_twice(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider slow to answer: the record is written to its topic after the wait, while the
    run at once goes on; the topic's sender (here, another worker's) leaves what that run holds
    to it, and looks at it again later."""
    d, published = deps
    sink, _ = smtp
    sink.slow = 0.02
    monkeypatch.setattr(handlers, "AT_ONCE_WAITS_AT_MOST", 0.1)
    d.send_now = handlers.sender_at_once(d)
    await d.ledger.beat(d.instance)  # this worker is alive, still sending
    await _neighbours(d, 40)
    await expand_announcement(await accepted(d, ["75105"]), d)
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    other = dataclasses.replace(d, instance="other", send_now=None)
    outcomes = await send_batch(raw, other)
    assert outcomes.get("in flight", 0) > 0  # it met the run at once's claims
    await eventually(_all_sent(d, 40), what="every notification sent")
    assert sorted(m["To"] for m in sink.messages) == sorted(_addresses(40))  # none twice


async def test_a_worker_killed_while_sending_at_once_loses_nothing(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    """The city event is acknowledged only once its small batches are out: killed before, the
    event is expanded again by another worker, which sends what is left (the dead worker's
    claims once its heartbeat has lapsed)."""
    d, _ = deps
    sink, _ = smtp
    sink.slow = 0.02
    await d.ledger.beat("dead")
    mail_from = d.channels["email"].mail_from  # type: ignore[attr-defined]
    own = SmtpEmailChannel(SmtpConfig.from_url(smtp[1]), mail_from, pool_size=2)
    dead = dataclasses.replace(d, instance="dead", channels={"email": own})  # its connections
    dead.send_now = handlers.sender_at_once(dead)
    await _neighbours(d, 40)
    a = await accepted(d, ["75105"])
    killed = asyncio.ensure_future(expand_announcement(a, dead))
    await eventually(lambda: len(sink.messages) >= 2, what="the first emails")
    await _kill(killed)
    await asyncio.sleep(0.3)  # what it had written to the SMTP server arrives meanwhile
    handed = len(sink.messages)
    assert 2 <= handed < 40
    # its heartbeat lapses, and the session timeout passes: its claims may be taken back
    await d.store.redis.zrem(WORKERS, "dead")
    for k in await d.store.redis.smembers("n:{paris}:event:evt_1:notifs"):
        await d.store.redis.hset(k, "claimed_at", int(time.time() - d.ledger.liveness - 1))
    survivor = dataclasses.replace(d, instance="survivor")
    survivor.send_now = handlers.sender_at_once(survivor)
    await expand_announcement(a, survivor)  # the city event, redelivered
    await eventually(_all_sent(d, 40), what="every notification sent")
    got = [m["To"] for m in sink.messages]
    assert set(got) == set(_addresses(40))
    # twice at most what was between the provider and the ledger when it died
    assert len(got) - 40 <= handed
    await own.close()


# the worker's coroutines that a kill stops: its handler, its run at once, that run's senders
WORKER = {"expand_announcement", "queue_announcement", "guarded", "_Sender._hand_over"}


async def _kill(handler: asyncio.Future[Any]) -> None:
    """Everything the worker was doing stops (cancelled again until it has: a cancellation
    that meets an answer may be swallowed on the way, as ``asyncio.wait_for`` does in 3.11)."""
    handler.cancel()
    for _ in range(100):
        going = [
            t
            for t in asyncio.all_tasks()
            if t.get_coro().__qualname__ in WORKER  # type: ignore[union-attr]
        ]
        if not going:
            return
        for t in going:
            t.cancel()
        await asyncio.sleep(0.01)
    raise AssertionError(f"still going: {going}")


def _addresses(n: int) -> list[str]:
    return [f"n{i}@example.org" for i in range(n)]


def _all_sent(d: Deps, n: int) -> Any:
    async def check() -> bool:
        return await d.ledger.counts("paris", "evt_1") == {"email": {"sent": n}}

    return check
