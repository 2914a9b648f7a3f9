from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from streams.state.ledger import Ledger, notification_id


async def test_ids_are_derived_from_event_citizen_and_channel() -> None:
    a = notification_id("paris", "evt_1", "cit_1", "email")
    assert a == notification_id("paris", "evt_1", "cit_1", "email")
    assert (
        len(
            {
                a,
                notification_id("paris", "evt_1", "cit_1", "sms"),
                notification_id("paris", "evt_2", "cit_1", "email"),
                notification_id("lyon", "evt_1", "cit_1", "email"),
            }
        )
        == 4
    )


async def test_enqueue_is_idempotent_and_counts_once(redis: Redis) -> None:
    ledger = Ledger(redis)
    rows = [("n1", "c1", "p1"), ("n2", "c2", "p2")]
    assert await ledger.enqueue("paris", "e", "email", rows) == ["queued", "queued"]
    assert await ledger.enqueue("paris", "e", "email", rows) == ["queued", "queued"]
    assert await ledger.counts("paris", "e") == {"email": {"queued": 2}}


async def test_records_and_history_keep_for_the_retention_and_counts_stay(redis: Redis) -> None:
    ledger = Ledger(redis, retention=30 * 86400)
    await ledger.enqueue("paris", "e", "email", [("n1", "c1", "p1")])
    for k in ("n:{paris}:notif:n1", "n:{paris}:event:e:notifs", "n:{paris}:citizen:c1:notifs"):
        assert 29 * 86400 < await redis.ttl(k) <= 30 * 86400, k
    assert await redis.ttl("n:{paris}:event:e:counts") == -1  # the event's figures stay
    # a history entry older than the retention goes when the citizen is next notified
    await redis.zadd("n:{paris}:citizen:c1:notifs", {"n0": 1.0})
    await ledger.enqueue("paris", "e2", "email", [("n2", "c1", "p1")])
    assert await redis.zrange("n:{paris}:citizen:c1:notifs", 0, -1) == ["n1", "n2"]
    with pytest.raises(ValueError, match="late receipts"):
        Ledger(redis, retention=3600)


async def test_only_one_claim_wins(redis: Redis) -> None:
    ledger = Ledger(redis)
    await ledger.enqueue("paris", "e", "email", [("n1", "c1", "p1")])
    assert await ledger.claim("paris", "e", "n1")
    assert not await ledger.claim("paris", "e", "n1")
    assert await ledger.counts("paris", "e") == {"email": {"sending": 1}}


async def test_statuses_never_move_backwards(redis: Redis) -> None:
    ledger = Ledger(redis)
    await ledger.enqueue("paris", "e", "email", [("n1", "c1", "p1")])
    await ledger.claim("paris", "e", "n1")
    assert await ledger.advance("paris", "e", "n1", "delivered")
    assert not await ledger.advance("paris", "e", "n1", "sent", provider_id="late")
    assert not await ledger.advance("paris", "e", "n1", "queued")
    record = await ledger.get("paris", "n1")
    assert record["status"] == "delivered" and "provider_id" not in record
    assert await ledger.counts("paris", "e") == {"email": {"delivered": 1}}
    assert not await ledger.advance("paris", "e", "unknown", "sent")


async def test_one_call_moves_its_records_and_counts_together_or_nothing(redis: Redis) -> None:
    ledger = Ledger(redis)
    await ledger.enqueue("paris", "e", "push", [(f"n{i}", f"c{i}", "p") for i in range(3)])
    assert await ledger.claim_many([("paris", "e", f"n{i}") for i in range(3)]) == [1, 1, 1]
    # the same notification twice in one call: moved in turn, counted once each move
    moves = [
        ("paris", "e", "n0", "sent", False, {"provider_id": "a"}),
        ("paris", "e", "n0", "delivered", False, {}),
        ("paris", "e", "n1", "sent", False, {}),
    ]
    assert await ledger.advance_many(moves) == [True, True, True]
    assert await ledger.counts("paris", "e") == {"push": {"delivered": 1, "sent": 1, "sending": 1}}
    assert (await ledger.get("paris", "n0"))["provider_id"] == "a"
    for bad in (
        ("paris", "e", "n2", "sent", False, {"provider_id": None}),  # not a string
        ("paris", "e", "n2", "arrived", False, {}),  # no such status
        ("paris", "e", "n2", "sent", True, {}),  # an index without the id
    ):
        with pytest.raises(ValueError):
            await ledger.advance_many([("paris", "e", "n1", "delivered", False, {}), bad])  # type: ignore[list-item]
    assert (await ledger.get("paris", "n1"))["status"] == "sent"  # nothing moved
    assert await ledger.counts("paris", "e") == {"push": {"delivered": 1, "sent": 1, "sending": 1}}


async def test_claims_and_moves_made_together_answer_each_caller(redis: Redis) -> None:
    """Concurrent claims and moves go to Redis together; each caller still gets its own
    answer, across events and cities, and two claims of one notification give one winner."""
    ledger = Ledger(redis)
    await ledger.enqueue("paris", "e1", "sms", [(f"p{i}", f"c{i}", "x") for i in range(50)])
    await ledger.enqueue("lyon", "e2", "sms", [(f"l{i}", f"c{i}", "x") for i in range(50)])
    wanted = [("paris", "e1", f"p{i}") for i in range(50)] + [
        ("lyon", "e2", f"l{i}") for i in range(0, 50, 2)
    ]
    wanted += [("paris", "e1", "p0"), ("paris", "e1", "nope")]  # a second claim, an unknown one
    claims = await asyncio.gather(*(ledger.claim(*w) for w in wanted))
    assert claims[:75] == [1] * 75 and claims[75:] == [0, 0]
    moves = await asyncio.gather(
        *(
            ledger.advance(c, e, n, "sent", index=c == "lyon", provider_id=f"SM{n}")
            for c, e, n in wanted[:75]
        ),
        ledger.advance("paris", "e1", "p1", "queued"),  # backwards: refused
    )
    assert moves == [True] * 75 + [False]
    assert await ledger.counts("paris", "e1") == {"sms": {"sent": 50}}
    assert await ledger.counts("lyon", "e2") == {"sms": {"sent": 25, "queued": 25}}
    assert await ledger.by_provider_id("lyon", "SMl4") == ("e2", "l4")
    assert await ledger.by_provider_id("paris", "SMp4") is None  # not asked to index it
    assert (await ledger.get("lyon", "l4"))["provider_id"] == "SMl4"


async def test_a_release_marks_when_it_began_failing_and_gives_up_past_the_bound(
    redis: Redis,
) -> None:
    ledger = Ledger(redis)
    await ledger.enqueue("paris", "e", "email", [("n1", "c1", "p1")])
    assert await ledger.release("paris", "e", "n1", "421", 0.0) == "not held"  # queued
    await ledger.claim("paris", "e", "n1")
    now = time.time()
    assert await ledger.release("paris", "e", "n1", "421 busy", now + 1, 3600) == "released"
    first = await ledger.get("paris", "n1")
    assert (first["status"], first["error"]) == ("queued", "421 busy")
    since = float(first["failing_since"])
    assert now - 1 <= since <= now
    await ledger.claim("paris", "e", "n1")  # the retry, refused again: the mark stays
    assert await ledger.release("paris", "e", "n1", "421 again", since + 3600, 3600) == "released"
    assert float((await ledger.get("paris", "n1"))["failing_since"]) == since
    await ledger.claim("paris", "e", "n1")
    # a next try after the bound: nothing changes, the sender ends it failed
    assert await ledger.release("paris", "e", "n1", "421", since + 3601, 3600) == "given up"
    assert (await ledger.get("paris", "n1"))["status"] == "sending"
    assert await ledger.release("paris", "e", "n1", "421", since + 10**9) == "released"  # no bound
    assert await ledger.counts("paris", "e") == {"email": {"queued": 1}}
