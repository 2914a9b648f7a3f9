"""A department's drafts: an announcement being written, kept in Redis until it is published or
discarded. A draft's id is the idempotency key of its publication: publishing one draft twice
(a double click, two tabs) publishes once, and both are answered with the same announcement.

::

    n:{city}:draft:{did}                   hash  id, department, state, body (JSON, as typed,
                                                 perhaps incomplete), created_at, updated_at,
                                                 event (the announcement's id, once published)
    n:{city}:dept:{department}:drafts      zset  the department's drafts, by last change

``state`` is ``draft`` (being written), ``published`` (``event`` names the announcement) or
``discarded``; the approval of issue #22 adds a state of its own on the same record. A draft
lasts ``DRAFT_TTL`` after its last change (a published or discarded one as long, so that a late
second click still finds the announcement); the index forgets the ids whose draft is gone. A
department writes at most ``MAX_DRAFTS`` at once (a 409 naming ``drafts`` past it).
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from subscriptions.errors import Conflict, NotFound
from subscriptions.store import key, new_id

DRAFT_TTL = 30 * 24 * 3600
STATES = ("draft", "published", "discarded")
MAX_LISTED = 100
MAX_DRAFTS = 500  # being written, per department

# KEYS: draft; ARGV: department, event id, now, ttl. The draft's one publication is claimed
# here: "ok" (this request publishes ``event``), "published:<eid>" (an earlier one did),
# "missing", or "<state>" (not a draft any more)
_CLAIM = """
local h = redis.call('HMGET', KEYS[1], 'department', 'state', 'event')
if not h[1] or h[1] ~= ARGV[1] then return 'missing' end
if h[3] and h[3] ~= '' then return 'published:' .. h[3] end
if h[2] ~= 'draft' then return h[2] end
redis.call('HSET', KEYS[1], 'state', 'published', 'event', ARGV[2], 'updated_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 'ok'
"""

# KEYS: draft; ARGV: department, state wanted now, then field/value pairs to set
_CHANGE = """
local h = redis.call('HMGET', KEYS[1], 'department', 'state')
if not h[1] or h[1] ~= ARGV[1] then return 'missing' end
if h[2] ~= ARGV[2] then return h[2] end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
return 'ok'
"""


def _view(h: dict[str, str]) -> dict[str, Any]:
    return {
        "id": h["id"],
        "state": h["state"],
        "body": json.loads(h.get("body") or "{}"),
        "created_at": float(h["created_at"]),
        "updated_at": float(h["updated_at"]),
        "event": h.get("event") or None,
    }


class DraftStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._change = redis.register_script(_CHANGE)

    async def create(self, city: str, department: str, body: dict[str, Any]) -> dict[str, Any]:
        did, now = new_id("drf"), time.time()
        index = key(city, "dept", department, "drafts")
        await self.redis.zremrangebyscore(index, 0, now - DRAFT_TTL)  # gone by now
        if await self.redis.zcard(index) >= MAX_DRAFTS:
            raise Conflict("drafts", f"at most {MAX_DRAFTS} drafts; publish or discard some")
        fields = {
            "id": did,
            "department": department,
            "state": "draft",
            "body": json.dumps(body),
            "created_at": str(now),
            "updated_at": str(now),
            "event": "",
        }
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(key(city, "draft", did), mapping=fields)
            p.expire(key(city, "draft", did), DRAFT_TTL)
            p.zadd(key(city, "dept", department, "drafts"), {did: now})
            await p.execute()
        return _view(fields)

    async def get(self, city: str, department: str, did: str) -> dict[str, Any]:
        """The draft, if it is this department's (another's does not exist for it)."""
        h = await self.redis.hgetall(key(city, "draft", did))
        if not h or h.get("department") != department:
            raise NotFound(f"no draft {did}")
        return _view(h)

    async def change(self, city: str, department: str, did: str, body: dict[str, Any]) -> None:
        """Replace the body of a draft still being written (409 once published or discarded)."""
        now = str(time.time())
        args = [department, "draft", "body", json.dumps(body), "updated_at", now]
        _check(await self._change(keys=[key(city, "draft", did)], args=args), did)
        async with self.redis.pipeline(transaction=True) as p:
            p.expire(key(city, "draft", did), DRAFT_TTL)
            p.zadd(key(city, "dept", department, "drafts"), {did: float(now)})
            await p.execute()

    async def discard(self, city: str, department: str, did: str) -> None:
        args = [department, "draft", "state", "discarded", "updated_at", str(time.time())]
        _check(await self._change(keys=[key(city, "draft", did)], args=args), did)
        await self.redis.zrem(key(city, "dept", department, "drafts"), did)

    async def claim(self, city: str, department: str, did: str, eid: str) -> str | None:
        """Claim the draft's publication for the event ``eid``: None if this caller is to
        publish it, else the id of the announcement an earlier publication made."""
        args = [department, eid, str(time.time()), DRAFT_TTL]
        outcome = str(await self._claim(keys=[key(city, "draft", did)], args=args))
        if outcome == "ok":
            await self.redis.zrem(key(city, "dept", department, "drafts"), did)
            return None
        if outcome.startswith("published:"):
            return outcome.removeprefix("published:")
        _check(outcome, did)
        raise AssertionError(outcome)  # pragma: no cover: _check raises for every other state

    async def release(self, city: str, department: str, did: str) -> None:
        """A claimed publication that failed (refused, or the store away): a draft again."""
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(key(city, "draft", did), mapping={"state": "draft", "event": ""})
            p.zadd(key(city, "dept", department, "drafts"), {did: time.time()})
            await p.execute()

    async def listed(self, city: str, department: str) -> list[dict[str, Any]]:
        """The department's drafts being written, the last changed first."""
        index = key(city, "dept", department, "drafts")
        ids = await self.redis.zrevrange(index, 0, MAX_LISTED - 1)
        async with self.redis.pipeline(transaction=False) as p:
            for did in ids:
                p.hgetall(key(city, "draft", did))
            found = await p.execute()
        gone = [did for did, h in zip(ids, found, strict=True) if not h]
        if gone:
            await self.redis.zrem(index, *gone)
        return [_view(h) for h in found if h and h.get("state") == "draft"]


def _check(outcome: str, did: str) -> None:
    if outcome == "missing":
        raise NotFound(f"no draft {did}")
    if outcome != "ok":
        raise Conflict("state", f"the draft is {outcome}; it can no longer change")
