"""Service requests in Redis: what is known about each, its applied status and its history.

::

    n:{city}:request:{rid}           hash  id, city, department, requester (a citizen id), the
                                           Open311 fields (service_code, address, lat, …),
                                           status, status_notes, updated_datetime, updated_ms (the
                                           last applied change), done_ms (the last one whose
                                           notifications are all queued), filed_at
    n:{city}:request:{rid}:history   list  JSON of each applied change, oldest first

A change applies only if it is newer than the last applied one (``updated_ms``), in one script,
so two workers or a replayed partition never apply one twice. A record that repeats the last
applied change is ignored once that change's notifications are queued (``done_ms``); before
that (the worker stopped between applying and queueing), it resumes the queueing, which the
ledger makes idempotent. A request belongs to the department that filed it (or whose record
first named it); a record naming another department is refused.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from redis.asyncio import Redis

from streams.request_records import StatusChange
from subscriptions.errors import NotFound
from subscriptions.store import key

Outcome = Literal["applied", "resume", "repeat", "stale", "unchanged", "foreign"]

# KEYS: request, history; ARGV: department, ms, status, notes, updated_datetime, history entry,
# then the request's field/value pairs
_FILE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'department', ARGV[1], 'updated_ms', ARGV[2], 'done_ms', ARGV[2],
           'status', ARGV[3], 'status_notes', ARGV[4], 'updated_datetime', ARGV[5])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call('RPUSH', KEYS[2], ARGV[6])
return 1
"""

# same KEYS and ARGV as _FILE
_APPLY = """
local h = redis.call('HMGET', KEYS[1], 'department', 'updated_ms', 'status', 'status_notes',
                     'done_ms')
if h[1] and h[1] ~= ARGV[1] then return 'foreign' end
local ms = tonumber(ARGV[2])
if h[2] then
  local last = tonumber(h[2])
  if ms < last then return 'stale' end
  if ms == last then
    if h[5] and tonumber(h[5]) >= last then return 'repeat' end
    return 'resume'
  end
  if h[3] == ARGV[3] and h[4] == ARGV[4] then
    redis.call('HSET', KEYS[1], 'updated_ms', ARGV[2], 'done_ms', ARGV[2],
               'updated_datetime', ARGV[5])
    return 'unchanged'
  end
end
redis.call('HSET', KEYS[1], 'department', ARGV[1], 'updated_ms', ARGV[2], 'status', ARGV[3],
           'status_notes', ARGV[4], 'updated_datetime', ARGV[5])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call('RPUSH', KEYS[2], ARGV[6])
return 'applied'
"""

# KEYS: request; ARGV: ms
_DONE = """
local done = tonumber(redis.call('HGET', KEYS[1], 'done_ms') or '-1e18')
if tonumber(ARGV[1]) > done then redis.call('HSET', KEYS[1], 'done_ms', ARGV[1]) end
"""


class RequestStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._file = redis.register_script(_FILE)
        self._apply = redis.register_script(_APPLY)
        self._done = redis.register_script(_DONE)

    def _keys(self, city: str, rid: str) -> list[str]:
        return [key(city, "request", rid), key(city, "request", rid, "history")]

    def _args(self, c: StatusChange, **extra: str) -> list[Any]:
        entry = {
            "status": c.status,
            "status_notes": c.status_notes,
            "updated_datetime": c.updated_datetime,
            "updated_ms": c.updated_ms,
        }
        args: list[Any] = [c.department, c.updated_ms, c.status, c.status_notes]
        args += [c.updated_datetime, json.dumps(entry, ensure_ascii=False)]
        fields = {"id": c.request_id, "city": c.city, **c.info.fields(), **extra}
        for k, v in fields.items():
            args += [k, v]
        return args

    async def file(self, c: StatusChange) -> bool:
        """Keep a new request with its first status (nobody is notified of it: the requester
        knows). False when the id is already known in this city."""
        args = self._args(c, filed_at=str(time.time()))
        return bool(await self._file(keys=self._keys(c.city, c.request_id), args=args))

    async def apply(self, c: StatusChange) -> Outcome:
        """``applied`` (newer: kept, to notify), ``resume`` (the last applied one, not all
        queued yet), ``unchanged`` (newer, but the same status and notes), ``repeat``, ``stale``
        (older) or ``foreign`` (the request belongs to another department)."""
        outcome = await self._apply(keys=self._keys(c.city, c.request_id), args=self._args(c))
        return outcome  # type: ignore[no-any-return]

    async def done(self, city: str, rid: str, updated_ms: int) -> None:
        """Every notification of the change at ``updated_ms`` is queued."""
        await self._done(keys=[key(city, "request", rid)], args=[updated_ms])

    async def set_requester(self, city: str, rid: str, citizen: str) -> None:
        await self.redis.hset(key(city, "request", rid), "requester", citizen)

    async def get(self, city: str, rid: str) -> dict[str, str]:
        h = await self.redis.hgetall(key(city, "request", rid))
        if not h:
            raise NotFound(f"no service request {rid}")
        return dict(h)

    async def owned(self, city: str, rid: str, department: str) -> dict[str, str]:
        """The request, if ``department`` owns it; another department's does not exist for it."""
        h = await self.get(city, rid)
        if h["department"] != department:
            raise NotFound(f"no service request {rid}")
        return h

    async def history(self, city: str, rid: str) -> list[dict[str, Any]]:
        rows = await self.redis.lrange(key(city, "request", rid, "history"), 0, -1)
        return [json.loads(r) for r in rows]

    async def followers(self, city: str, rid: str) -> list[str]:
        """The ids of the subscriptions following the request (the requester's included)."""
        return sorted(await self.redis.smembers(key(city, "idx", "request", rid)))
