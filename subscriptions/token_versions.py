"""Revocable management tokens: each citizen has a token version on their hash
(``n:{city}:citizen:{cid}`` field ``token_version``, absent: 0), and a management token carries
the version it was made with (``subscriptions.tokens``). Signing out everywhere, a move to
another city and an erasure (the hash goes) bump it or end it, and every token made before is
refused. Checking costs one HMGET.
"""

from __future__ import annotations

from redis.asyncio import Redis

from subscriptions.store import key

FIELD = "token_version"


async def current(redis: Redis, city: str, cid: str) -> int | None:
    """The citizen's token version; None when there is no such citizen (erased, or never)."""
    found, version = await redis.hmget(key(city, "citizen", cid), ["id", FIELD])
    return None if found is None else int(version or 0)


def accepts(held: int | None, payload_version: object) -> bool:
    """Whether a token made with ``payload_version`` (absent: 0) is still good."""
    given = payload_version if isinstance(payload_version, int) else 0
    return held is not None and given == held


async def bump(redis: Redis, city: str, cid: str) -> int:
    """Revoke every token of this citizen; the new version (tokens made now carry it)."""
    return int(await redis.hincrby(key(city, "citizen", cid), FIELD, 1))
