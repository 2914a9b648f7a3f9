"""The lag and stuck watch (``streams.watch``) and ``notifier stuck``: real Redis, real SMTP
server, the handlers without a broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from notifier.dev import embedded
from notifier.settings import Settings
from streams.delivery.expand import expand_announcement
from streams.delivery.send import send_batch
from streams.deps import Deps
from streams.state.ledger import LEASE_SECONDS
from streams.watch import backlogs, figures
from tests.handler_stage import Published, accepted, citizen
from tests.stage import SmtpSink


async def test_a_queued_event_shows_its_age_and_leaves_the_watch_once_sent(
    deps: tuple[Deps, Published],
) -> None:
    d, published = deps
    for n in range(3):
        await citizen(d.store, f"c{n}@example.org", "75105")
    queued_at = time.time()
    await expand_announcement(await accepted(d, ["75105"]), d)
    later = queued_at + 300
    [b] = await backlogs(d.store.redis, "paris", later)
    assert (b.event, b.channel, b.lane, b.queued, b.stuck) == ("evt_1", "email", "small", 3, 0)
    assert b.hint(later).startswith("queued and not picked up")
    f = figures([b], later)
    assert 299 <= f.oldest_queued[("email", "small")] <= 301
    assert f.oldest_queued[("email", "bulk")] == 0 and f.stuck[("email", "small")] == 0
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    assert await send_batch(raw, d) == {"sent": 3}
    assert await backlogs(d.store.redis, "paris", later) == []
    assert await d.store.redis.zcard("n:{paris}:active") == 0  # finished: out of the index


async def test_a_claim_left_by_a_dead_sender_is_stuck_past_its_lease_then_taken_back(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    [nid] = [
        k.rpartition(":")[2] for k in await d.store.redis.smembers("n:{paris}:event:evt_1:notifs")
    ]
    assert await d.ledger.claim_many([("paris", "evt_1", nid)], holder="dead-worker:1") == [1]
    within = await backlogs(d.store.redis, "paris", time.time() + LEASE_SECONDS - 5)
    assert [(b.sending, b.stuck) for b in within] == [(1, 0)]  # within its lease: in progress
    after = time.time() + LEASE_SECONDS + 5
    [b] = await backlogs(d.store.redis, "paris", after)
    assert (b.stuck, b.holders) == (1, ("dead-worker:1",))
    assert b.hint(after).startswith("sending past its lease")
    assert figures([b], after).stuck[("email", "small")] == 1
    # the lease over, the batch run again takes the claim back and sends it
    await d.store.redis.hset(f"n:{{paris}}:notif:{nid}", "claimed_at", int(time.time()) - 500)
    assert await send_batch(raw, d) == {"sent": 1}
    assert len(sink.messages) == 1
    assert await backlogs(d.store.redis, "paris", after) == []
    assert await d.store.redis.zcard("n:{paris}:sending:email") == 0


async def test_a_notification_waiting_for_its_retry_is_not_lag(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    sink.replies = ["421 4.7.0 try again later"]
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    assert await send_batch(raw, d) == {"retrying": 1}
    now = time.time()
    [b] = await backlogs(d.store.redis, "paris", now)
    assert (b.queued, b.sending) == (1, 0) and b.waiting_for_retry(now)
    assert "421" in b.hint(now)
    assert figures([b], now).oldest_queued[("email", "small")] == 0
    assert await d.store.redis.zcard("n:{paris}:sending:email") == 0  # released


async def test_notifier_stuck_lists_what_waits_and_why(
    deps: tuple[Deps, Published], settings: Settings
) -> None:
    d, _ = deps
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    env = embedded.child_env(settings.to_env())
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "notifier", "stuck", "--city", "paris"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    header, line = out.stdout.strip().splitlines()
    assert header.split()[:4] == ["city", "event", "channel", "lane"]
    assert line.split()[:6] == ["paris", "evt_1", "email", "small", "1", "0"]
    assert "a@example.org" not in out.stdout
