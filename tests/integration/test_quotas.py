"""Monthly quotas per city and channel, shared by every worker (``streams.state.quotas``)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from streams.state.quotas import Quotas, month


async def test_a_burst_from_two_workers_never_passes_the_quota(redis: Redis) -> None:
    workers = [Quotas(redis), Quotas(redis)]  # two processes' worth, one Redis

    async def batch(q: Quotas, size: int) -> int:
        granted = await asyncio.gather(*(q.acquire("paris_centre", "sms", 37) for _ in range(size)))
        await q.settle("paris_centre", "sms", 37, sum(granted))
        return sum(granted)

    sent = await asyncio.gather(*(batch(workers[i % 2], 25) for i in range(8)))  # 200 wanted
    assert sum(sent) == 37
    usage = await workers[0].usage("paris_centre", ["sms", "email"])
    assert usage == {"sms": 37, "email": 0}
    # the month is spent: nothing more goes, from either worker
    assert not await workers[1].acquire("paris_centre", "sms", 37)
    # another city, another channel, or no quota: not limited by it
    assert await workers[1].acquire("paris", "sms", 37)
    assert await workers[1].acquire("paris_centre", "email", None)


async def test_what_a_batch_took_and_did_not_use_goes_back(redis: Redis) -> None:
    q = Quotas(redis)
    assert await q.acquire("paris_centre", "sms", 100)  # takes a chunk of 20
    assert await redis.get(f"n:{{paris_centre}}:usage:sms:{month()}") == "20"
    await q.settle("paris_centre", "sms", 100, 1)
    assert await redis.get(f"n:{{paris_centre}}:usage:sms:{month()}") == "1"


async def test_without_a_quota_what_went_is_counted(redis: Redis) -> None:
    q = Quotas(redis)
    await q.settle("paris", "email", None, 12)
    await q.settle("paris", "email", None, 3)
    assert await q.usage("paris", ["email"]) == {"email": 15}
    assert 0 < await redis.ttl(f"n:{{paris}}:usage:email:{month()}") <= 400 * 86400
