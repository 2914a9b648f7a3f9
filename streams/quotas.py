"""Monthly quotas per city and channel (what a city's SMS contract allows in a month), shared by
every worker, and the month's usage figures the city's operators see.

::

    n:{city}:usage:{channel}:{YYYY-MM}   string  messages handed over this month (UTC months)

Every message handed over is counted, quota or not. Where the city has a quota, a worker takes
its share before the provider call, atomically: under a burst from any number of workers the
count never passes the quota; what does not fit is refused (the caller records why).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis

from subscriptions.store import key

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


def month(now: float | None = None) -> str:
    return time.strftime("%Y-%m", time.gmtime(time.time() if now is None else now))


def usage_key(city: str, channel: str, when: str) -> str:
    return key(city, "usage", channel, when)


class Quotas:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._take = redis.register_script(_TAKE)

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
