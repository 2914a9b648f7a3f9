"""Accepted events in Redis: the durable intake (outbox) the API writes before it answers 202.

::

    n:{city}:event:{eid}     hash  id, department, status, version, record (the current version's
                                   wire bytes), outbox (the last record to publish), accepted_at,
                                   processed_at, matched, queued
    n:{city}:events:pending  zset  event ids whose outbox record the worker has not processed yet,
                                   scored by when it was last handed to Kafka
    n:{city}:dept:{department}:events
                             zset  the department's events, by publication time (a scheduled
                                   one's time to come), which its console lists

An event is ``scheduled`` (for a later time), ``accepted`` (in Redis), ``published`` (Kafka has
it), ``processed`` (the worker expanded it) or ``cancelled``. The sweep republishes what stays
pending: after a broker outage, or with the embedded broker (which keeps nothing) restarted.
Reprocessing is harmless: the ledger creates each notification once.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from streams.announcements import Announcement, Cancellation
from subscriptions.errors import Conflict, NotFound
from subscriptions.store import key

# KEYS: event, pending; ARGV: department, new version, record, now, eid
_UPDATE = """
local h = redis.call('HMGET', KEYS[1], 'department', 'status', 'version')
if not h[1] then return 'missing' end
if h[1] ~= ARGV[1] then return 'missing' end
if h[2] == 'cancelled' then return 'cancelled' end
if tonumber(h[3]) + 1 ~= tonumber(ARGV[2]) then return 'conflict' end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3], 'outbox', ARGV[3],
           'status', 'accepted')
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return 'ok'
"""

# KEYS: event, pending; ARGV: department, record, now, eid
_CANCEL = """
local h = redis.call('HMGET', KEYS[1], 'department', 'status')
if not h[1] or h[1] ~= ARGV[1] then return 'missing' end
if h[2] == 'cancelled' then return 'cancelled' end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'outbox', ARGV[2], 'cancelled_at', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 'ok'
"""

# KEYS: event, pending; ARGV: version, eid, then field/value pairs
_PROCESSED = """
local h = redis.call('HMGET', KEYS[1], 'version', 'status')
if not h[1] or tonumber(h[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
if h[2] ~= 'cancelled' then redis.call('HSET', KEYS[1], 'status', 'processed') end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
return 1
"""


class EventStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._update = redis.register_script(_UPDATE)
        self._cancel = redis.register_script(_CANCEL)
        self._processed = redis.register_script(_PROCESSED)

    def _keys(self, city: str, eid: str) -> list[str]:
        return [key(city, "event", eid), key(city, "events", "pending")]

    async def accept(self, a: Announcement, scheduled: bool = False) -> None:
        """Keep the announcement (the outbox). A scheduled one waits for its time
        (``a.published_at``): the sweep does not look at it before."""
        record = a.to_wire().decode()
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(
                key(a.city, "event", a.id),
                mapping={
                    "id": a.id,
                    "department": a.department,
                    "status": "scheduled" if scheduled else "accepted",
                    "version": a.version,
                    "record": record,
                    "outbox": record,
                    "accepted_at": str(time.time()),
                },
            )
            when = a.published_at if scheduled else time.time()
            p.zadd(key(a.city, "events", "pending"), {a.id: when})
            p.zadd(key(a.city, "dept", a.department, "events"), {a.id: a.published_at})
            await p.execute()

    async def update(self, a: Announcement) -> None:
        """Store version ``a.version`` (the next one) of an event of ``a.department``."""
        record = a.to_wire().decode()
        args = [a.department, a.version, record, time.time(), a.id]
        outcome = await self._update(keys=self._keys(a.city, a.id), args=args)
        _check(outcome, a.id)

    async def cancel(self, c: Cancellation) -> None:
        args = [c.department, c.to_wire().decode(), time.time(), c.id]
        _check(await self._cancel(keys=self._keys(c.city, c.id), args=args), c.id)

    async def mark_published(self, city: str, eid: str) -> None:
        # only an accepted event moves to published; a cancel or a processing already won
        await self.redis.eval(
            "if redis.call('HGET', KEYS[1], 'status') == 'accepted' then "
            "redis.call('HSET', KEYS[1], 'status', 'published') end",
            1,
            key(city, "event", eid),
        )

    async def processed(self, city: str, eid: str, version: int, **fields: str | int) -> bool:
        """The worker has expanded ``version``: no longer pending (unless a newer one is)."""
        args: list[str | int] = [version, eid]
        for k, v in fields.items():
            args += [k, v]
        return bool(await self._processed(keys=self._keys(city, eid), args=args))

    async def get(self, city: str, eid: str) -> dict[str, str]:
        h = await self.redis.hgetall(key(city, "event", eid))
        if not h:
            raise NotFound(f"no event {eid}")
        return dict(h)

    async def state(self, city: str, eid: str) -> tuple[str | None, int]:
        """(status, current version) of an event; (None, 0) when unknown."""
        status, version = await self.redis.hmget(key(city, "event", eid), "status", "version")
        return status, int(version or 0)

    async def due(
        self, city: str, older_than: float, now: float, limit: int = 100
    ) -> list[tuple[str, bytes]]:
        """Pending events last handed over before ``older_than``, with the record to republish;
        each is rescheduled so that the next sweep does not take it again at once."""
        pending = key(city, "events", "pending")
        ids = await self.redis.zrangebyscore(pending, 0, older_than, start=0, num=limit)
        out = []
        for eid in ids:
            outbox = await self.redis.hget(key(city, "event", eid), "outbox")
            if outbox is None:
                await self.redis.zrem(pending, eid)
                continue
            await self.redis.zadd(pending, {eid: now})
            out.append((eid, outbox.encode()))
        return out


def _check(outcome: str, eid: str) -> None:
    if outcome == "missing":
        raise NotFound(f"no event {eid}")
    if outcome == "cancelled":
        raise Conflict("status", "the announcement is cancelled")
    if outcome == "conflict":
        raise Conflict("version", "another update came first; read the event and try again")
