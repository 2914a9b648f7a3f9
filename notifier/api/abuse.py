"""Abuse limits on what sends a message to an address someone types (confirmation codes,
magic links): SMS pumping and mail bombing are real frauds. Fixed windows in Redis; over the
limit, the API answers 429 with Retry-After.

- ``ip``: per client; an IPv6 client counts per /64 (one subscriber's line holds a whole /64 and
  can rotate through it), an IPv4 client per address.
- ``contact``: per address texted or emailed.
- ``city-sms``: the city's budget of such SMS. Each refusal is counted in the
  ``notifier_sms_budget_refusals{city}`` metric, and the first of a window is logged at warning
  level (the operator's alert). Alerts are not these messages: they never meet this budget.
- SMS go only to mobile numbers of the city's ``sms.countries`` (default: its ``country``);
  another country's number is a 422 naming ``phone``.

::

    n:{city}:abuse:{what}:{who}   string  count in the current window (expires with it)
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging

from aiohttp import web
from redis.asyncio import Redis

from notifier.api.keys import DEPS, SETTINGS
from subscriptions.contacts import normalise_phone
from subscriptions.store import key

log = logging.getLogger("notifier.abuse")
IPV6_CLIENT_PREFIX = 64  # an IPv6 client is its /64

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
    count, ttl = await _count(redis, city, what, who)
    if count > LIMITS[what][0]:
        raise TooMany(what, ttl)


async def _count(redis: Redis, city: str, what: str, who: str) -> tuple[int, int]:
    """One more in ``who``'s window: the count so far, the seconds the window has left."""
    k = key(city, "abuse", what, hashlib.sha256(who.encode()).hexdigest()[:32])
    async with redis.pipeline(transaction=True) as p:
        p.incr(k)
        p.expire(k, LIMITS[what][1], nx=True)
        p.ttl(k)
        count, _, ttl = await p.execute()
    return int(count), max(1, int(ttl))


def client_key(address: str) -> str:
    """Who a client address counts as: an IPv6 address its /64 (an IPv4-mapped one its IPv4
    address), anything else itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


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
    """Before a message goes to ``address`` (normalised) because someone typed it."""
    if channel == "sms":
        place = request.app[DEPS].city(city)
        normalise_phone(address, place.country, allowed=place.allowed_sms_countries)
    await hit(redis, city, "ip", client_key(client_address(request)))
    await hit(redis, city, "contact", f"{channel}:{address}")
    if channel == "sms":
        await _city_sms(redis, request, city)


async def _city_sms(redis: Redis, request: web.Request, city: str) -> None:
    """The city's SMS budget: past it, refused, counted, and the operator alerted once."""
    count, ttl = await _count(redis, city, "city-sms", city)
    limit, window = LIMITS["city-sms"]
    if count <= limit:
        return
    request.app[DEPS].metrics.sms_budget_refusals.labels(city).inc()
    if count == limit + 1:
        log.warning(
            "the SMS budget of %s is spent: %d verification and link SMS in %d min; more are "
            "refused for %d s (an SMS pumping attack, or a budget too small)",
            city,
            limit,
            window // 60,
            ttl,
        )
    raise TooMany("city-sms", ttl)
