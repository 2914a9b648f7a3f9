"""Abuse limits on what sends a message to an address someone types (confirmation codes,
magic links): SMS pumping and mail bombing are real frauds. Fixed windows in Redis; over the
limit, the API answers 429 with Retry-After.

::

    n:{city}:abuse:{what}:{who}   string  count in the current window (expires with it)
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress

from aiohttp import web
from redis.asyncio import Redis

from notifier.keys import SETTINGS
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
    """The client's address: the TCP peer, or behind trusted proxies (``TRUSTED_PROXIES``) the
    last address of ``X-Forwarded-For`` that is not one of them (those before it may be
    forged by the client; each proxy appends the address it saw)."""
    peer = request.remote or "unknown"
    trusted = _networks(request.app[SETTINGS].trusted_proxies)
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _within(hop, trusted):
            return hop
    return peer


@functools.cache
def _networks(names: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n) for n in names]


def _within(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # not an address: never trusted, so it is the client as far as we know
    return any(ip in n for n in networks)


async def check_sending(
    redis: Redis, request: web.Request, city: str, channel: str, address: str
) -> None:
    await hit(redis, city, "ip", client_address(request))
    await hit(redis, city, "contact", f"{channel}:{address}")
    if channel == "sms":
        await hit(redis, city, "city-sms", city)
