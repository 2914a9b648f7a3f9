"""Accepted events in Redis: the durable intake the API writes before it answers 202.

::

    n:{city}:event:{eid}   hash  id, department, status, record (the wire bytes), accepted_at,
                                 processed_at, matched (citizens), queued (notifications)
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from streams.records import Announcement
from subscriptions.errors import NotFound
from subscriptions.store import key

STATUSES = ("accepted", "published", "processed")


class EventStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def accept(self, a: Announcement) -> None:
        await self.redis.hset(
            key(a.city, "event", a.id),
            mapping={
                "id": a.id,
                "department": a.department,
                "status": "accepted",
                "record": a.to_wire().decode(),
                "accepted_at": str(time.time()),
            },
        )

    async def mark(self, city: str, eid: str, status: str, **fields: str | int) -> None:
        assert status in STATUSES
        await self.redis.hset(key(city, "event", eid), mapping={"status": status, **fields})

    async def get(self, city: str, eid: str) -> dict[str, str]:
        h = await self.redis.hgetall(key(city, "event", eid))
        if not h:
            raise NotFound(f"no event {eid}")
        return dict(h)
