"""A dead worker's claims come back as soon as it is known to be gone (it stopped beating for
the liveness: the consumer group's session timeout), not when their lease runs out; a live
worker's are left alone. Real Redis, real SMTP server, the handlers without a broker."""

from __future__ import annotations

import time

from streams.delivery.expand import expand_announcement
from streams.delivery.send import send_batch
from streams.deps import Deps
from streams.state.ledger import LEASE_SECONDS, WORKERS
from tests.handler_stage import Published, accepted, citizen
from tests.stage import SmtpSink


async def _claimed_by(d: Deps, holder: str, seconds_ago: float) -> tuple[bytes, str]:
    """An announcement's one email, claimed by ``holder`` that long ago."""
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    [nid] = [
        k.rpartition(":")[2] for k in await d.store.redis.smembers("n:{paris}:event:evt_1:notifs")
    ]
    assert await d.ledger.claim_many([("paris", "evt_1", nid)], holder=holder) == [1]
    claimed_at = int(time.time() - seconds_ago)
    await d.store.redis.hset(f"n:{{paris}}:notif:{nid}", "claimed_at", claimed_at)
    return nid, holder


async def test_the_claim_of_a_worker_that_stopped_beating_is_taken_back_at_once(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    await d.ledger.beat("gone")  # it was alive when it claimed, then was killed
    await d.store.redis.zrem(WORKERS, "gone")  # its heartbeat has expired since
    await _claimed_by(d, "gone:batch1", d.ledger.liveness + 2)
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    assert await send_batch(raw, d) == {"sent": 1}  # well within the lease: taken back now
    assert d.ledger.liveness + 2 < LEASE_SECONDS
    assert len(sink.messages) == 1


async def test_the_claim_of_a_live_worker_is_left_to_it_and_looked_at_again_soon(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    await d.ledger.beat("busy")  # alive, still sending
    nid, _ = await _claimed_by(d, "busy:batch1", d.ledger.liveness + 2)
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    before = time.time()
    assert await send_batch(raw, d) == {"in flight": 1}
    assert sink.messages == []
    # looked at again once the holder could be known dead, not at the lease's end
    [(_, when)] = await d.store.redis.zrange("n:{paris}:schedule", 0, -1, withscores=True)
    assert before + d.ledger.liveness <= when <= time.time() + d.ledger.liveness + 1
    # by then it stopped beating: the look takes the claim back and sends it
    await d.store.redis.zrem(WORKERS, "busy")
    [(_, _, _, again)] = await d.scheduler.due("paris", when)
    assert await send_batch(again, d) == {"sent": 1}
    assert len(sink.messages) == 1


async def test_a_fresh_claim_of_a_worker_that_has_not_beaten_yet_is_not_taken(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    """A worker that claims before its first beat is not taken for dead: a claim younger than
    the liveness is left to its holder whatever."""
    d, published = deps
    await _claimed_by(d, "starting:batch1", 0)
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    assert await send_batch(raw, d) == {"in flight": 1}


async def test_the_claim_of_a_worker_whose_heartbeat_is_lapsing_is_looked_at_again_then(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    """A worker killed just after its last beat is known dead once that beat lapses: its
    claim is looked at again then, not a whole liveness after another sender first met it."""
    d, published = deps
    await d.ledger.beat("killed")
    await d.store.redis.zadd(WORKERS, {"killed": time.time() * 1000 + 1500})  # lapsing in 1.5 s
    await _claimed_by(d, "killed:batch1", d.ledger.liveness + 2)
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    before = time.time()
    assert await send_batch(raw, d) == {"in flight": 1}
    [(_, when)] = await d.store.redis.zrange("n:{paris}:schedule", 0, -1, withscores=True)
    assert before + 1.5 < when <= time.time() + 1.5 + 1 < before + d.ledger.liveness
