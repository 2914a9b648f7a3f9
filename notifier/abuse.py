"""Abuse limits on what sends a message to an address someone types (confirmation codes,
magic links): SMS pumping and mail bombing are real frauds. Fixed windows in Redis; over the
limit, the API answers 429 with Retry-After.

::

    n:{city}:abuse:{what}:{who}   string  count in the current window (expires with it)
"""

from __future__ import annotations

import hashlib

from aiohttp import web
from redis.asyncio import Redis

from subscriptions.store import key

# what -> (how many, per how many seconds)
LIMITS = {
    "ip": (20, 3600),  # messages triggered from one client address
    "contact": (3, 600),  # messages to one address
    "city-sms": (1000, 3600),  # verification and link SMS of a whole city
}


class TooMany(Exception):
    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many requests ({what}); try again in {retry_after} s")
        self.retry_after = retry_after


async def hit(redis: Redis, city: str, what: str, who: str) -> None:
    """Count one; ``TooMany`` when the window's limit is passed."""
    limit, window = LIMITS[what]
    k = key(city, "abuse", what, hashlib.sha256(who.encode()).hexdigest()[:32])
    async with redis.pipeline(transaction=True) as p:
        p.incr(k)
        p.expire(k, window, nx=True)
        p.ttl(k)
        count, _, ttl = await p.execute()
    if int(count) > limit:
        raise TooMany(what, max(1, int(ttl)))


def client_address(request: web.Request) -> str:
    """The client's address as aiohttp sees it (behind a proxy, configure it to set this)."""
    return request.remote or "unknown"


async def check_sending(
    redis: Redis, request: web.Request, city: str, channel: str, address: str
) -> None:
    await hit(redis, city, "ip", client_address(request))
    await hit(redis, city, "contact", f"{channel}:{address}")
    if channel == "sms":
        await hit(redis, city, "city-sms", city)
