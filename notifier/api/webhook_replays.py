"""Twilio webhooks taken once: a signed request replayed (by whoever saw it, or by Twilio's own
retries) changes nothing the second time.

A signature proves Twilio sent the request, not that it is new, and it never expires. Each
inbound SMS is taken once per ``MessageSid``; a status callback once per (``MessageSid``,
``MessageStatus``), since one message's callbacks legitimately come several times with
different statuses (queued, sent, delivered). The mark is kept for ``REPLAY_TTL``; Twilio retries
for hours, not days. A request whose handling fails gives its mark back, so Twilio's retry of it
is taken.
::

    n:{city}:twilio:seen:{kind}:{sha256 of the sid and status}   string  (expires)
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from subscriptions.store import key

REPLAY_TTL = 3 * 86400


@contextlib.asynccontextmanager
async def once(redis: Redis, city: str, kind: str, *ids: str) -> AsyncIterator[bool]:
    """True the first time these ids are seen (taken while the block runs), else False."""
    digest = hashlib.sha256("\x00".join(ids).encode()).hexdigest()[:32]
    k = key(city, "twilio", "seen", kind, digest)
    first = bool(await redis.set(k, "1", nx=True, ex=REPLAY_TTL))
    try:
        yield first
    except BaseException:
        if first:
            await redis.delete(k)
        raise
