"""Monthly quotas per city and channel (what a city's SMS contract allows in a month), shared by
every worker, and the month's usage figures the city's operators see.

::

    n:{city}:usage:{channel}:{YYYY-MM}   string  messages handed over this month (UTC months)

Every message handed over is counted, quota or not. Where the city has a quota, a worker takes
its share before the provider call, atomically, in chunks of ``CHUNK`` (one Redis call per
chunk, not per message; what a batch took and did not use is given back when it ends): under a
burst from any number of workers the count never passes the quota; what does not fit is refused
(the caller records why). Without a quota a batch counts what it handed over when it ends.

Severe and extreme alerts are never held by a quota (``quota_for``): they go, are counted in
the month's usage, and in the ``notifier_alerts_outside_quota`` metric where the city has one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from redis.asyncio import Redis

from subscriptions.store import key

CHUNK = 20
KEEP_SECONDS = 400 * 86400  # a month's figure stays a year and a bit
# KEYS: counter; ARGV: wanted, quota (-1: none), ttl -> granted
_TAKE = """
local wanted, quota = tonumber(ARGV[1]), tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = wanted
if quota >= 0 then granted = math.max(0, math.min(wanted, quota - used)) end
if granted > 0 then
  redis.call('INCRBY', KEYS[1], granted)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return granted
"""


NEVER_HELD = ("severe", "extreme")  # a warning to take shelter is not a budget line


def quota_for(severity: str, quota: int | None) -> int | None:
    """The quota a batch of this severity meets: none for severe and extreme alerts."""
    return None if severity in NEVER_HELD else quota


def month(now: float | None = None) -> str:
    return time.strftime("%Y-%m", time.gmtime(time.time() if now is None else now))


def usage_key(city: str, channel: str, when: str) -> str:
    return key(city, "usage", channel, when)


class Quotas:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._take = redis.register_script(_TAKE)
        self._held: dict[tuple[str, str], int] = {}  # taken from Redis, not used yet
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def acquire(self, city: str, channel: str, quota: int | None) -> bool:
        """One message under the city's monthly quota (always, without one)."""
        if quota is None:
            return True
        k = (city, channel)
        async with self._locks.setdefault(k, asyncio.Lock()):
            if self._held.get(k, 0) <= 0:
                self._held[k] = await self.take(city, channel, CHUNK, quota)
                if not self._held[k]:
                    return False
            self._held[k] -= 1
            return True

    async def settle(self, city: str, channel: str, quota: int | None, handed_over: int) -> None:
        """At the end of a batch: count what went without a quota; give back what was taken
        for the quota and not used."""
        if quota is None:
            if handed_over > 0:
                await self.take(city, channel, handed_over, None)
            return
        k = (city, channel)
        async with self._locks.setdefault(k, asyncio.Lock()):
            unused, self._held[k] = self._held.get(k, 0), 0
        await self.give_back(city, channel, unused)

    async def take(
        self, city: str, channel: str, wanted: int, quota: int | None, now: float | None = None
    ) -> int:
        """How many of ``wanted`` messages may go this month (all of them without a quota);
        those are counted."""
        if wanted <= 0:
            return 0
        limit = -1 if quota is None else quota
        granted = await self._take(
            keys=[usage_key(city, channel, month(now))], args=[wanted, limit, KEEP_SECONDS]
        )
        return int(granted)

    async def give_back(self, city: str, channel: str, n: int, now: float | None = None) -> None:
        """Messages taken but not handed over after all (claimed elsewhere, expired)."""
        if n > 0:
            await self.redis.decrby(usage_key(city, channel, month(now)), n)

    async def usage(
        self, city: str, channels: Iterable[str], now: float | None = None
    ) -> dict[str, int]:
        channels = list(channels)
        when = month(now)
        values = await self.redis.mget([usage_key(city, c, when) for c in channels])
        return {c: int(v or 0) for c, v in zip(channels, values, strict=True)}
