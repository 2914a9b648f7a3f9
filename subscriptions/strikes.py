"""Strikes against a contact point whose own endpoint keeps failing while its provider works
(``ChannelError.recipient_fault``: a push endpoint that hangs while its service answers others).
``STRIKES`` within ``WINDOW`` seconds of the first and the caller suspends the contact point, as
a push service's 410 would prune it: it stops holding send slots that others need.

::

    n:{city}:strikes:{pid}    string  strikes in the current window (expires with it)
"""

from __future__ import annotations

from redis.asyncio import Redis

from subscriptions.store import key

STRIKES = 3
WINDOW = 86400


async def strike(redis: Redis, city: str, pid: str) -> bool:
    """Count one against ``pid``; True when that makes ``STRIKES`` in the window."""
    k = key(city, "strikes", pid)
    async with redis.pipeline(transaction=True) as p:
        p.incr(k)
        p.expire(k, WINDOW, nx=True)
        count, _ = await p.execute()
    return int(count) >= STRIKES
