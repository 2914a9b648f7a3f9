"""One durable scheduler: records to publish later (retries now; deferred messages, digests and
scheduled announcements to come), kept in Redis and released by the leader's timer.

::

    n:{city}:schedule        zset  item id -> when it is due
    n:{city}:schedule:items  hash  item id -> JSON {topic, key, value (base64)}

``due`` takes the items whose time has come and, in the same Lua call, pushes them a lease
ahead, so two releasers never take the same item; ``done`` removes an item once Kafka has it. An
item whose releaser died reappears after the lease: a release is at least once, and everything
released is idempotent downstream (notification ids and the ledger claim).

``Backoff`` spaces the retries of what a provider refused for the time being; the scheduler
holds the one its senders use (``Scheduler.retry``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import secrets
import time
from collections.abc import Sequence

from redis.asyncio import Redis

from streams.topics import Publish
from subscriptions.store import key

LEASE_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Backoff:
    """When to try again: waits that double from ``first`` up to ``longest`` seconds, with
    jitter (a crowd refused together comes back spread out), for ``give_up_after`` seconds
    from the first refusal at most. The defaults ride out a provider's outage of hours."""

    first: float = 0.5
    longest: float = 300.0
    give_up_after: float = 6 * 3600.0

    def wait(self, attempt: int, asked: float | None = None) -> float:
        """Seconds between try ``attempt`` (1, 2, …), just refused, and the next: what the
        provider asked (``Retry-After``) when it did, never more than ``longest``."""
        if asked:
            return min(self.longest, asked * random.uniform(1.0, 1.2))
        step = min(self.longest, self.first * 2.0 ** min(attempt - 1, 64))
        return step * random.uniform(0.8, 1.0)


# KEYS: schedule zset, items hash; ARGV: now, lease, limit
_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
  local item = redis.call('HGET', KEYS[2], id)
  if item then
    out[#out + 1] = id
    out[#out + 1] = item
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""


class Scheduler:
    def __init__(self, redis: Redis, retry: Backoff | None = None) -> None:
        self.redis = redis
        self.retry = retry or Backoff()  # how the senders space their retries
        self._due = redis.register_script(_DUE)

    def _keys(self, city: str) -> list[str]:
        return [key(city, "schedule"), key(city, "schedule", "items")]

    async def later(
        self, city: str, when: float, topic: str, record_key: bytes, value: bytes
    ) -> str:
        """Publish ``value`` on ``topic`` at ``when`` (epoch seconds); the item's id."""
        [item_id] = await self.later_many(city, [(when, topic, record_key, value)])
        return item_id

    async def later_many(
        self, city: str, records: Sequence[tuple[float, str, bytes, bytes]]
    ) -> list[str]:
        """``later`` for many (when, topic, key, value), a transaction per thousand (Redis is
        not held for long); their ids."""
        zset, items = self._keys(city)
        ids = [secrets.token_hex(12) for _ in records]
        pairs = list(zip(ids, records, strict=True))
        for start in range(0, len(pairs), 1000):
            async with self.redis.pipeline(transaction=True) as p:
                for item_id, (when, topic, record_key, value) in pairs[start : start + 1000]:
                    item = {
                        "topic": topic,
                        "key": base64.b64encode(record_key).decode(),
                        "value": base64.b64encode(value).decode(),
                    }
                    p.hset(items, item_id, json.dumps(item))
                    p.zadd(zset, {item_id: when})
                await p.execute()
        return ids

    async def due(
        self, city: str, now: float, limit: int = 500
    ) -> list[tuple[str, str, bytes, bytes]]:
        """(id, topic, key, value) of the items due at ``now``, leased to this caller."""
        flat = await self._due(keys=self._keys(city), args=[now, LEASE_SECONDS, limit])
        out = []
        for item_id, raw in zip(flat[::2], flat[1::2], strict=True):
            d = json.loads(raw)
            out.append(
                (item_id, d["topic"], base64.b64decode(d["key"]), base64.b64decode(d["value"]))
            )
        return out

    async def done(self, city: str, item_id: str) -> None:
        zset, items = self._keys(city)
        async with self.redis.pipeline(transaction=True) as p:
            p.zrem(zset, item_id)
            p.hdel(items, item_id)
            await p.execute()

    async def pending(self, city: str) -> int:
        return int(await self.redis.zcard(key(city, "schedule")))


async def release(
    scheduler: Scheduler, cities: list[str], publish: Publish, now: float | None = None
) -> int:
    """Publish what is due in every city; the number released."""
    now = time.time() if now is None else now
    n = 0
    for city in cities:
        for item_id, topic, record_key, value in await scheduler.due(city, now):
            await publish(topic, record_key, value)
            await scheduler.done(city, item_id)
            n += 1
    return n
