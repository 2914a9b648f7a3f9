"""The delivery ledger: one record per notification, statuses that only move forward.

The keys (``n:{city}:`` as ``subscriptions.store`` writes it: the city's hash tag)::

    n:{city}:notif:{nid}          hash  event, citizen, channel, contact, status, provider_id,
                                        error, attempts, claimed_at, holder (who claimed it),
                                        updated_at, retry_at, failing_since (its first
                                        transient failure)
    n:{city}:event:{eid}:counts   hash  "{channel}:{status}" -> number of notifications
    n:{city}:event:{eid}:notifs   set   the keys of the event's notification records
    n:{city}:citizen:{cid}:notifs zset  a citizen's notification ids, by when they were queued
    n:{city}:provider:{pid}       string "{event} {notification id}" of a provider's message id
    n:{city}:active               zset  events with notifications not yet final, by when their
                                        first were queued (``streams.watch`` drops the finished)
    n:{city}:sending:{channel}    zset  notification ids being handed over, by when claimed: a
                                        claim older than the lease is stuck (``streams.watch``)
    n:workers                     zset  worker instance -> until when it is alive (epoch ms):
                                        written every third of ``liveness`` seconds
                                        (``Ledger.beat``)

The notification id is derived from (city, event, citizen, channel), so an event expanded twice
yields the same ids and ``enqueue`` creates each record once. ``claim`` (queued -> sending) guards
the hand-off to the provider: only one sender wins it. A claim older than the lease may be taken
again (the sender that held it crashed), and so may a claim its own holder left (a batch run
again by the same worker after the store was away: nothing of the first run is still going);
that, between the provider's acceptance and the ledger write, is the only window for a
duplicate. A claim whose holder has stopped beating (a worker killed, or cut off from Redis, for
``liveness`` seconds: what Kafka's consumer-group session allows it too) is taken back at once,
without waiting for the lease: its holder can no longer be sending. Every script keeps the counts
in step atomically.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from redis import exceptions as redis_errors
from redis._parsers.base import BaseParser
from redis.asyncio import Redis

from streams.delivery.coalesce import Coalescer
from subscriptions.store import key

RANK = {
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "expired": 3,
    "skipped": 3,
    "superseded": 3,  # a newer version of the event came before it was sent
    "cancelled": 3,  # the event was cancelled before it was sent
}
FINAL = {s for s, r in RANK.items() if r == 3}
LEASE_SECONDS = 120


# What Redis raises while it is away (stopped, restarting, loading its data, failing over), as
# against a record or a call that is wrong: what meets one waits for the store and tries again,
# it does not give up the record it holds (``streams.handlers.guarded``).
class NoReplicasError(redis_errors.ResponseError):
    """The primary takes no write while fewer replicas than its ``min-replicas-to-write``
    answer (docs/deployment.md: what a failover can lose). redis-py has no class for Redis's
    ``NOREPLICAS`` answer (a plain ``ResponseError``: the API answered 500): it is given this
    one, below."""


BaseParser.EXCEPTION_CLASSES.setdefault("NOREPLICAS", NoReplicasError)
STORE_AWAY: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError,  # BusyLoadingError (still loading its data) among them
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a replica that was the primary, during a failover
    redis_errors.MasterDownError,  # a replica cut off from its primary
    NoReplicasError,  # a primary without enough replicas to write
    redis_errors.TryAgainError,  # a slot moving between the primaries of a cluster
    redis_errors.ClusterDownError,  # a cluster that has lost a slot's primary, before the vote
    redis_errors.SlotNotCoveredError,  # the client's map of the slots, while it has no primary
    redis_errors.RedisClusterUnreachableError,  # no node of the cluster answers
)
PROVIDER_TTL = 7 * 24 * 3600  # receipts come within hours; a week is plenty

# The scripts take their items as one JSON argument: redis-py packs each argument of a command
# by joining it to what it has packed so far, which costs the worker more for a few hundred
# arguments than the script costs Redis.
#
# KEYS: counts key, the event's set of notification keys;
# ARGV: channel, now (s), now (history score), the city's key prefix, event, seconds to keep,
# JSON [[notification id, citizen, contact], ...]. A notification, the event's set of them and
# the citizen's history keep for that long (the event's counts stay).
_ENQUEUE = """
local channel, now, score, prefix, event = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local keep = tonumber(ARGV[6])
local out = {}
local n = 0
for _, row in ipairs(cjson.decode(ARGV[7])) do
  local nid, citizen = row[1], row[2]
  local k = prefix .. 'notif:' .. nid
  local status = redis.call('HGET', k, 'status')
  if not status then
    redis.call('HSET', k, 'event', event, 'citizen', citizen, 'contact', row[3],
               'channel', channel, 'status', 'queued', 'attempts', 0, 'updated_at', now)
    redis.call('EXPIRE', k, keep)
    redis.call('SADD', KEYS[2], k)
    n = n + 1
    status = 'queued'
  end
  local history = prefix .. 'citizen:' .. citizen .. ':notifs'
  redis.call('ZADD', history, 'NX', score, nid)
  redis.call('ZREMRANGEBYSCORE', history, '-inf', tonumber(score) - keep)
  redis.call('EXPIRE', history, keep)
  out[#out + 1] = status
end
if n > 0 then
  redis.call('HINCRBY', KEYS[1], channel .. ':queued', n)
  redis.call('EXPIRE', KEYS[2], keep)
  redis.call('ZADD', prefix .. 'active', 'NX', now, event)
end
return out
"""

# KEYS: the city's key prefix; ARGV: now, lease, JSON [[event, notification id], ...], the
# holder ('' for none), the liveness (s), JSON [the worker instances alive] -> the attempt
# number of each (0: another sender holds it, or it is done)
_CLAIM = """
local prefix, now, lease, holder = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[4]
local liveness, out, taken, alive = tonumber(ARGV[5]), {}, {}, {}
for _, instance in ipairs(cjson.decode(ARGV[6])) do alive[instance] = true end
local function dead(other)  -- a holder that stopped beating: it is not sending any more
  local instance = string.match(other or '', '^([^:]+):')
  return instance ~= nil and not alive[instance]
end
for _, item in ipairs(cjson.decode(ARGV[3])) do
  local nkey = prefix .. 'notif:' .. item[2]
  local h = redis.call('HMGET', nkey, 'status', 'claimed_at', 'channel', 'holder', 'attempts')
  local status, claimed, channel = h[1], tonumber(h[2] or '0'), h[3]
  local mine = holder ~= '' and h[4] == holder
  local age = tonumber(now) - claimed
  local stale = status == 'sending' and (mine or age > lease or (age > liveness and dead(h[4])))
  local attempts = 0
  if status == 'queued' or stale then
    attempts = (tonumber(h[5]) or 0) + 1
    redis.call('HSET', nkey, 'status', 'sending', 'claimed_at', now, 'updated_at', now,
               'holder', holder, 'attempts', attempts)
    if channel then redis.call('ZADD', prefix .. 'sending:' .. channel, now, item[2]) end
    if status == 'queued' and channel then  -- a record without its channel has no count
      local ckey = prefix .. 'event:' .. item[1] .. ':counts'
      local by_channel = taken[ckey] or {}
      taken[ckey] = by_channel
      by_channel[channel] = (by_channel[channel] or 0) + 1
    end
  end
  out[#out + 1] = attempts
end
for ckey, by_channel in pairs(taken) do  -- the counts once per event and channel
  for channel, n in pairs(by_channel) do
    redis.call('HINCRBY', ckey, channel .. ':queued', -n)
    redis.call('HINCRBY', ckey, channel .. ':sending', n)
  end
end
return out
"""

# KEYS: the city's key prefix; ARGV: now, the provider key's TTL, JSON [[event, notification
# id, new status, index (1: remember its provider_id), {field: value}], ...]
# -> 1 for each that moved, else 0
_ADVANCE = """
local rank = {queued=0, sending=1, sent=2, delivered=3, undelivered=3, failed=3, expired=3,
              skipped=3, superseded=3, cancelled=3}
local now, ttl, prefix = ARGV[1], ARGV[2], KEYS[1]
local out, counts = {}, {}
for _, item in ipairs(cjson.decode(ARGV[3])) do
  local event, nid, target, fields = item[1], item[2], item[3], item[5]
  local nkey = prefix .. 'notif:' .. nid
  if item[4] == 1 then
    redis.call('SET', prefix .. 'provider:' .. fields.provider_id, event .. ' ' .. nid, 'EX', ttl)
  end
  local h = redis.call('HMGET', nkey, 'status', 'channel')
  local status, channel = h[1], h[2]
  local moved = 0
  if status and channel and rank[target] > rank[status] then
    local set = {'status', target, 'updated_at', now}
    for name, value in pairs(fields) do
      set[#set + 1] = name
      set[#set + 1] = value
    end
    redis.call('HSET', nkey, unpack(set))
    if status == 'sending' then redis.call('ZREM', prefix .. 'sending:' .. channel, nid) end
    local ckey = prefix .. 'event:' .. event .. ':counts'
    local c = counts[ckey] or {}
    counts[ckey] = c
    local from, to = channel .. ':' .. status, channel .. ':' .. target
    c[from] = (c[from] or 0) - 1
    c[to] = (c[to] or 0) + 1
    moved = 1
  end
  out[#out + 1] = moved
end
for ckey, c in pairs(counts) do  -- the counts once per event and status
  for field, n in pairs(c) do redis.call('HINCRBY', ckey, field, n) end
end
return out
"""


# KEYS: notif key, counts key, the city's key prefix; ARGV: error, retry_at, now, give up after
# (seconds, or '')
# -> 1 released, 0 not held (not sending), -1 failing for too long by retry_at (left as it is)
_RELEASE = """
local h = redis.call('HMGET', KEYS[1], 'status', 'channel', 'failing_since')
if h[1] ~= 'sending' then return 0 end
local since = h[3] or ARGV[3]
if ARGV[4] ~= '' and tonumber(ARGV[2]) > tonumber(since) + tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[1], 'status', 'queued', 'error', ARGV[1], 'retry_at', ARGV[2],
           'updated_at', ARGV[3], 'failing_since', since)
redis.call('HINCRBY', KEYS[2], h[2] .. ':sending', -1)
redis.call('HINCRBY', KEYS[2], h[2] .. ':queued', 1)
redis.call('ZREM', KEYS[3] .. 'sending:' .. h[2], string.match(KEYS[1], 'notif:(.*)$'))
return 1
"""


Released = Literal["released", "not held", "given up"]
_RELEASED: dict[int, Released] = {1: "released", 0: "not held", -1: "given up"}
_Move = tuple[str, str, str, str, bool, dict[str, str]]  # city, event, nid, status, index, fields
_Item = TypeVar("_Item", bound=tuple[Any, ...])


def _by_city(items: Sequence[_Item]) -> list[tuple[str, list[int], list[_Item]]]:
    """Items grouped by their city (first element): (city, the items' positions, the items)."""
    groups: dict[str, tuple[list[int], list[_Item]]] = {}
    for i, item in enumerate(items):
        at, group = groups.setdefault(item[0], ([], []))
        at.append(i)
        group.append(item)
    return [(city, at, group) for city, (at, group) in groups.items()]


def _checked(
    event: str, nid: str, status: str, index: bool, fields: dict[str, str]
) -> tuple[str, str, str, int, dict[str, str]]:
    """A move as ``_ADVANCE`` takes it, checked here: the script moves the counts once it has
    moved every record, so one that failed half-way would leave them behind the records."""
    if status not in RANK:
        raise ValueError(f"no status {status!r}")
    if index and not fields.get("provider_id"):
        raise ValueError("index needs a provider_id")
    if not all(isinstance(v, str) for v in fields.values()):
        raise ValueError(f"a field of {nid} is not a string: {sorted(fields)}")
    return event, nid, status, int(index), fields


def _notif_keys(city: str, event: str, nid: str) -> list[str]:
    return [key(city, "notif", nid), key(city, "event", event, "counts")]


def notification_id(city: str, event: str, citizen: str, channel: str) -> str:
    return (
        "ntf_"
        + hashlib.sha256(f"{city}\x00{event}\x00{citizen}\x00{channel}".encode()).hexdigest()[:24]
    )


DEFAULT_RETENTION = 90 * 86400


WORKERS = "n:workers"  # the workers' heartbeats
DEFAULT_LIVENESS = 10.0


class Ledger:
    def __init__(
        self,
        redis: Redis,
        retention: float = DEFAULT_RETENTION,
        liveness: float = DEFAULT_LIVENESS,
    ) -> None:
        """``retention``: seconds a notification's record keeps from its queueing (its
        event's counts stay); at least the week a provider's receipt may take. ``liveness``:
        seconds after its last heartbeat a worker is taken for dead, and its claims back (the
        consumer group's session timeout: Kafka gives its partitions away then too)."""
        if retention < PROVIDER_TTL:
            raise ValueError(f"a retention under {PROVIDER_TTL} s would lose late receipts")
        self.redis = redis
        self.retention = int(retention)
        self.liveness = float(liveness)
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._advance = redis.register_script(_ADVANCE)
        self._release = redis.register_script(_RELEASE)
        self._claims = Coalescer(self.claim_many)
        self._advances = Coalescer(self.advance_many)

    async def enqueue(
        self, city: str, event: str, channel: str, rows: Sequence[tuple[str, str, str]]
    ) -> list[str]:
        """Create queued records for (notification id, citizen, contact) rows that have none.

        Returns each row's status after the call, so a re-expanded event resends only what is
        still pending."""
        if not rows:
            return []
        now = time.time()
        argv = [channel, int(now), now, key(city, ""), event, self.retention, json.dumps(rows)]
        keys = [key(city, "event", event, "counts"), key(city, "event", event, "notifs")]
        # each citizen's history (``history``) is written by the same call
        return list(await self._enqueue(keys=keys, args=argv))

    async def history(self, city: str, citizen: str, limit: int = 200) -> list[dict[str, str]]:
        """A citizen's notifications, newest first: event, channel, status, times, error."""
        nids = await self.redis.zrevrange(key(city, "citizen", citizen, "notifs"), 0, limit - 1)
        async with self.redis.pipeline(transaction=False) as p:
            for nid in nids:
                p.hgetall(key(city, "notif", nid))
            rows = await p.execute()
        internal = ("holder",)  # which worker's run claimed it: nothing of the citizen's
        return [
            {"id": nid, **{k: v for k, v in row.items() if k not in internal}}
            for nid, row in zip(nids, rows, strict=True)
            if row
        ]

    async def forget_citizen(self, city: str, citizen: str) -> int:
        """Erase: the citizen's notifications keep their status (the event's figures stay
        true) and lose who and where; the history index goes. The number anonymised."""
        index = key(city, "citizen", citizen, "notifs")
        nids = await self.redis.zrange(index, 0, -1)
        async with self.redis.pipeline(transaction=True) as p:
            for nid in nids:
                p.hset(key(city, "notif", nid), mapping={"citizen": "erased", "contact": "erased"})
                p.hdel(key(city, "notif", nid), "provider_id", "error")
            p.delete(index)
            await p.execute()
        return len(nids)

    async def reached(self, city: str, event: str, channel: str) -> list[tuple[str, str]]:
        """(citizen, contact) of the notifications of an event the provider took (sent or
        delivered), once each: who must hear of an update or a cancellation."""
        keys = sorted(await self.redis.smembers(key(city, "event", event, "notifs")))
        async with self.redis.pipeline(transaction=False) as p:
            for k in keys:
                p.hmget(k, "status", "channel", "citizen", "contact")
            rows = await p.execute()
        return sorted(
            {(cit, cp) for st, ch, cit, cp in rows if ch == channel and st in ("sent", "delivered")}
        )

    async def addressed(self, city: str, event: str) -> list[tuple[str, str, str]]:
        """(citizen, channel, status) of every notification of an event, all versions: who an
        earlier version was told or queued for (``streams.delivery.retell``)."""
        keys = sorted(await self.redis.smembers(key(city, "event", event, "notifs")))
        async with self.redis.pipeline(transaction=False) as p:
            for k in keys:
                p.hmget(k, "citizen", "channel", "status")
            rows = await p.execute()
        return [(cit, ch, st) for cit, ch, st in rows if cit is not None]

    async def claim(self, city: str, event: str, nid: str) -> int:
        """Take the hand-off of a notification: its attempt number (1, 2, …), or 0 when another
        sender holds it or it is already done. Claims made together go in one script call."""
        return await self._claims((city, event, nid))

    async def claim_many(
        self, items: Sequence[tuple[str, str, str]], holder: str = ""
    ) -> list[int]:
        """``claim`` for many (city, event, notification id), in one script call per city.
        ``holder`` names who claims: a claim left by the same holder may be taken again at
        once, not only after the lease (the holder knows that nothing of it is going)."""
        out = [0] * len(items)
        alive = json.dumps(await self.redis.zrangebyscore(WORKERS, int(time.time() * 1000), "+inf"))
        for city, at, group in _by_city(items):
            pairs = json.dumps([(event, nid) for _, event, nid in group])
            args = [int(time.time()), LEASE_SECONDS, pairs, holder, self.liveness, alive]
            for i, n in zip(at, await self._claim(keys=[key(city, "")], args=args), strict=True):
                out[i] = int(n)
        return out

    async def beat(self, instance: str) -> None:
        """This worker is alive (a timer's job, every third of ``liveness``); the workers gone
        for a day are forgotten."""
        now = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as p:
            p.zadd(WORKERS, {instance: now + int(self.liveness * 1000)})
            p.zremrangebyscore(WORKERS, "-inf", now - 86400_000)
            await p.execute()

    async def lapses(self, record: dict[str, str], claimed: float) -> float:
        """When a claim (its ``record``, claimed at ``claimed``) could first be taken back from
        a holder that stopped beating: once its heartbeat has lapsed and the claim is older than
        the liveness (``_CLAIM``). A holder alive then has beaten again, and its claim is left."""
        instance = (record.get("holder") or "").partition(":")[0]
        until = await self.redis.zscore(WORKERS, instance) if instance else None
        lapsed = 0.0 if until is None else max(0.0, until / 1000 - time.time())
        return max(time.time() + lapsed, claimed + self.liveness)

    async def release(
        self,
        city: str,
        event: str,
        nid: str,
        error: str,
        retry_at: float,
        give_up_after: float | None = None,
    ) -> Released:
        """Give a claimed notification back (sending -> queued) to try again at ``retry_at``:
        the one move backwards, and only from ``sending`` ("not held" otherwise). Its first
        release marks when it began failing: "given up", and nothing changes, when ``retry_at``
        is more than ``give_up_after`` seconds after that."""
        keys = [*_notif_keys(city, event, nid), key(city, "")]
        bound = "" if give_up_after is None else repr(float(give_up_after))
        args = [error, retry_at, int(time.time()), bound]
        return _RELEASED[int(await self._release(keys=keys, args=args))]

    async def advance(
        self,
        city: str,
        event: str,
        nid: str,
        status: str,
        *,
        error: str | None = None,
        provider_id: str | None = None,
        index: bool = False,
    ) -> bool:
        """Move a notification forward to ``status``, with its last error or its provider's
        id; a move backwards is ignored (False). ``index``: also remember ``provider_id`` so
        that the provider's receipts (which name its own id) find the notification. Moves
        made together go in one script call."""
        if index and not provider_id:
            raise ValueError("index needs a provider_id")
        if status not in RANK:
            raise ValueError(f"no status {status!r}")
        fields = {"error": error, "provider_id": provider_id}
        move = (city, event, nid, status, index, {k: v for k, v in fields.items() if v})
        return await self._advances(move)

    async def advance_many(self, items: Sequence[_Move]) -> list[bool]:
        """``advance`` for many (city, event, notification id, status, index, fields) in one
        script call per city: whether each moved."""
        out = [False] * len(items)
        for city, at, group in _by_city(items):
            moves = json.dumps([_checked(*item[1:]) for item in group])
            args = [int(time.time()), PROVIDER_TTL, moves]
            called = await self._advance(keys=[key(city, "")], args=args)
            for i, n in zip(at, called, strict=True):
                out[i] = bool(n)
        return out

    async def by_provider_id(self, city: str, provider_id: str) -> tuple[str, str] | None:
        """(event, notification id) of a provider id, or None."""
        found = await self.redis.get(key(city, "provider", provider_id))
        if found is None:
            return None
        event, _, nid = found.partition(" ")
        return event, nid

    async def get(self, city: str, nid: str) -> dict[str, str]:
        return dict(await self.redis.hgetall(key(city, "notif", nid)))

    async def counts(self, city: str, event: str) -> dict[str, dict[str, int]]:
        """{channel: {status: n}} for the statuses that have any notification."""
        out: dict[str, dict[str, int]] = {}
        for field, n in (await self.redis.hgetall(key(city, "event", event, "counts"))).items():
            channel, _, status = field.partition(":")
            if int(n):
                out.setdefault(channel, {})[status] = int(n)
        return out
