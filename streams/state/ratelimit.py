"""Per-city, per-channel rate limits: one token bucket in Redis shared by every worker, so a
city-wide alert never goes faster than the provider account allows. Excess waits; nothing is
dropped.

::

    n:{city}:rate:{channel}   hash  tokens, ts (the bucket; expires when idle)

A worker takes tokens in small chunks (a tenth of a second's worth) and hands them out locally,
so the limit costs one Redis call per chunk, not one per message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from redis.asyncio import Redis

from subscriptions.store import key

# KEYS: bucket; ARGV: rate (tokens/s), burst, wanted, now -> {granted, seconds to wait}
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local wanted, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(h[1]) or burst
local ts = tonumber(h[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
if granted > 0 then return {granted, '0'} end
return {0, tostring((1 - tokens) / rate)}
"""


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        rates: dict[str, float],
        on_wait: Callable[[str, float], None] | None = None,
        city_rates: Callable[[str], Mapping[str, float]] | None = None,
    ) -> None:
        """``rates``: messages per second per city for each channel; 0 or absent: no limit.
        ``city_rates(city)``: a city's own rates, which replace those (its provider account).
        ``on_wait(channel, seconds)`` is told of every wait (for metrics)."""
        self.redis = redis
        self.on_wait = on_wait
        self.rates = {c: r for c, r in rates.items() if r > 0}
        self.city_rates = city_rates
        self._take = redis.register_script(_TAKE)
        self._local: dict[tuple[str, str], int] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.waited = 0.0  # seconds spent waiting for tokens, for metrics and benchmarks

    def rate(self, city: str, channel: str) -> float | None:
        """Messages per second for a city's channel; None: no limit."""
        own = self.city_rates(city).get(channel) if self.city_rates is not None else None
        return own if own is not None else self.rates.get(channel)

    def take_now(self, city: str, channel: str) -> bool:
        """A token at once, if one needs no waiting: there is no limit, or this worker has one
        left of its last chunk. Else ``wait``."""
        if self.rate(city, channel) is None:
            return True
        k = (city, channel)
        if self._local.get(k, 0) > 0:
            self._local[k] -= 1
            return True
        return False

    async def wait(self, city: str, channel: str) -> None:
        rate = self.rate(city, channel)
        if rate is None:
            return
        k = (city, channel)
        async with self._locks.setdefault(k, asyncio.Lock()):
            while self._local.get(k, 0) <= 0:
                chunk = max(1, int(rate / 10))
                granted, pause = await self._take(
                    keys=[key(city, "rate", channel)], args=[rate, max(rate, 1), chunk, time.time()]
                )
                if int(granted) > 0:
                    self._local[k] = int(granted)
                    break
                self.waited += float(pause)
                if self.on_wait is not None:
                    self.on_wait(channel, float(pause))
                await asyncio.sleep(float(pause))
            self._local[k] -= 1
