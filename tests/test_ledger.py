from __future__ import annotations

from redis.asyncio import Redis

from streams.ledger import Ledger, notification_id


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
