"""The lanes (``streams.delivery.lanes``): small never waits behind large; among large ones the more
severe first; digests last; a small batch in one worker holds the others' large lanes."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.delivery.lanes import BULK, DIGEST, LANES, SMALL, URGENT, Lanes
from tests.stage import eventually


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _message(lanes: Lanes, lane: str, channel: str, order: list[str]) -> None:
    await lanes.turn(lane, channel)
    order.append(f"{lane} {channel}")


async def test_a_small_batch_holds_every_large_lane_of_every_channel_until_it_is_done() -> None:
    lanes, order = Lanes(), []
    with lanes.going(SMALL, "email"):
        waiting = [
            asyncio.create_task(_message(lanes, lane, channel, order))
            for lane in (URGENT, BULK, DIGEST)
            for channel in ("email", "sms")
        ]
        await lanes.turn(SMALL, "email")  # a small one never waits
        with lanes.going(SMALL, "push"):  # a second small batch, overlapping the first
            await _turns()
        await _turns()
        order.append("small batches done")
    await asyncio.gather(*waiting)
    assert order[0] == "small batches done" and len(order) == 7


async def test_among_large_lanes_the_more_severe_goes_first_and_digests_last() -> None:
    lanes, order = Lanes(), []
    with lanes.going(BULK, "email"):  # a bulk batch has begun
        with lanes.going(URGENT, "sms"):  # and a severe event's batch
            bulk = asyncio.create_task(_message(lanes, BULK, "email", order))
            digest = asyncio.create_task(_message(lanes, DIGEST, "email", order))
            await lanes.turn(URGENT, "email")  # its own lane does not hold it
            await _turns()
            order.append("urgent done")
        await bulk
        await _turns()
        assert not digest.done()
        order.append("bulk done")
    await digest
    assert order == ["urgent done", "bulk email", "bulk done", "digest email"]


async def test_a_small_batch_at_its_rate_limit_holds_only_its_own_channel() -> None:
    """Its pace is the city's limit, not the machine's: other channels go on meanwhile."""
    lanes, order = Lanes(), []
    with lanes.going(SMALL, "sms", paced=True):
        held = asyncio.create_task(_message(lanes, BULK, "sms", order))
        await asyncio.wait_for(_message(lanes, BULK, "email", order), 1)
        await _turns()
        assert not held.done()
        order.append("paced sms done")
    await held
    assert order == ["bulk email", "paced sms done", "bulk sms"]


async def test_with_nothing_going_every_lane_goes_at_once() -> None:
    lanes = Lanes()
    for lane in LANES:
        await asyncio.wait_for(lanes.turn(lane, "push"), 1)
    with lanes.going(SMALL, "push"):
        pass
    for lane in LANES:
        await asyncio.wait_for(lanes.turn(lane, "push"), 1)


async def test_a_small_batch_in_one_worker_holds_the_large_lanes_of_another(redis: Redis) -> None:
    """Each worker tells the others in Redis (``poll``, which ``run`` does every 50 ms)."""
    one, two = Lanes(redis, "w1"), Lanes(redis, "w2")
    order: list[str] = []
    with one.going(SMALL, "email"):
        await one.poll()  # told
        await two.poll()  # heard
        bulk = asyncio.create_task(_message(two, BULK, "push", order))
        small = asyncio.create_task(_message(two, SMALL, "push", order))
        await _turns()
        await two.poll()
        assert not bulk.done() and order == ["small push"]
        order.append("the other's small batch done")
    await one.poll()  # taken back
    await two.poll()
    await asyncio.wait_for(asyncio.gather(bulk, small), 1)
    assert order == ["small push", "the other's small batch done", "bulk push"]
    assert not await redis.zrange("n:lanes:small", 0, -1)


async def test_a_dead_workers_word_lapses(redis: Redis) -> None:
    one, two = Lanes(redis, "w1"), Lanes(redis, "w2")
    await redis.zadd("n:lanes:small", {"gone": 1.0})  # its word held until 1970
    with one.going(SMALL, "email"):
        await one.poll()
    await two.poll()
    assert two.elsewhere is True  # w1 has not taken it back yet: it died
    await redis.zadd("n:lanes:small", {"w1": 1.0})  # w1's last word lapsed
    await two.poll()
    assert two.elsewhere is False
    await asyncio.wait_for(two.turn(BULK, "email"), 1)


async def test_a_worker_without_redis_keeps_to_its_own_lanes() -> None:
    lanes = Lanes()
    await asyncio.wait_for(lanes.run(), 1)  # nothing to tell: returns at once
    assert lanes.elsewhere is False


async def test_running_workers_hear_each_others_small_batches_as_they_begin_and_end(
    redis: Redis,
) -> None:
    """``run``: the word goes out when it changes (pub/sub), not at the next poll."""
    one, two = Lanes(redis, "w1"), Lanes(redis, "w2")
    running = [asyncio.create_task(one.run()), asyncio.create_task(two.run())]
    try:
        await eventually(lambda: _listening(redis, 2), what="both workers listening")
        with one.going(SMALL, "email"):
            await eventually(lambda: two.elsewhere, what="w2 hearing w1's small batch")
            assert not one.elsewhere  # its own word is not another's
        await eventually(lambda: not two.elsewhere, what="w2 hearing it is done")
        await asyncio.wait_for(two.turn(BULK, "sms"), 5)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _listening(redis: Redis, workers: int) -> bool:
    """The subscribers of every node (a cluster's node counts its own)."""
    nodes = {"target_nodes": RedisCluster.ALL_NODES} if isinstance(redis, RedisCluster) else {}
    [(_, n)] = await redis.pubsub_numsub("n:lanes:small", **nodes)
    return int(n) == workers


async def test_a_batch_holds_the_less_urgent_lanes_for_a_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider hanging on a small batch must not stop a city-wide alert: after
    ``HOLDS_AT_MOST`` the large lanes go on, the small batch still going."""
    monkeypatch.setattr("streams.delivery.lanes.HOLDS_AT_MOST", 0.05)
    lanes, order = Lanes(), []
    with lanes.going(SMALL, "email"):
        await asyncio.wait_for(_message(lanes, URGENT, "email", order), 30)
        order.append("the small batch still going")
    assert order == ["urgent email", "the small batch still going"]
    assert not lanes.ahead(BULK, "email")
