"""Citizens, contact points, subscriptions and the consent ledger in Redis.

Every key starts with ``n:{city}:`` so a city's data never mixes with another's. The braces
around the city are in the key (``n:{paris}:...``): the city is the key's hash tag, so that on a
Redis Cluster a city's keys are in one slot and every transaction below touches one slot
(``notifier.layout``, 3); the other names in braces stand for ids::

    n:{city}:citizen:{cid}              hash   id, language, timezone, created_at, token_version
    n:{city}:citizen:{cid}:contacts     set    contact point ids
    n:{city}:citizen:{cid}:subs         set    subscription ids
    n:{city}:citizen:{cid}:consent      list   JSON consent changes (what, when, how)
    n:{city}:contact:{pid}              hash   id, citizen, channel, address, status, created_at
    n:{city}:address:{channel}:{addr}   string contact point id (one citizen per address)
    n:{city}:code:{pid}                 hash   hashed SMS confirmation code, tries (expires)
    n:{city}:sub:{sid}                  hash   id, citizen, kind, area, categories, channels, ...
    n:{city}:idx:request:{rid}          set    the subscriptions following a service request
    n:{city}:subs:log                   stream seq, op (add|del), sub: every change, in order
    n:{city}:subs:seq                   string the last change's seq

A subscription's ``index`` field (JSON: its areas and quartiers, ``[["geo", "7510501"], ...]``)
is what the live index matches on. Only a request's followers are also kept as a set
(``SETS``): the ``idx:area``, ``idx:geo`` and ``idx:dept`` sets earlier releases wrote were
never read (8% of a city's memory: ``bench/redis_memory.py``); they are no longer written, and
a removed subscription is still taken out of them.

The change log is how the processes that match events (``subscriptions.live_index``) keep their
copy in memory current: each change is appended in the same transaction as the change itself.

Writes that touch several keys go through one MULTI/EXEC, so a crash never leaves a
subscription half-indexed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from subscriptions.contacts import CHANNELS, FALLBACK_CHANNELS, STATUSES, ContactPoint
from subscriptions.errors import InvalidInput, NotFound
from subscriptions.preferences import QuietHours, check_language, parse_quiet_hours
from subscriptions.subscription import Subscription
from subscriptions.tokens import PURPOSES

# a pending contact point not confirmed within this (its confirmation link's life) ends, and its
# address may be registered by anyone (``subscriptions.contact_life``)
PENDING_SECONDS = PURPOSES["confirm"]
CHANGE_LOG = "subs:log"
CHANGE_LOG_LENGTH = 200_000  # about; a process further behind than this loads everything again
# KEYS: the hashes' key prefix (``n:{city}:contact:``, ``n:{city}:citizen:``); ARGV: JSON
# [id, ...] (one argument: redis-py packs many slowly), then the fields -> for each hash, the
# fields' values, flat (nil: none)
SETS = ("request",)  # the index entries also kept as a set: the ones read by kind and code
PER_CALL = 1000  # ids a read script takes at once (Redis is busy ~1-2 ms with a call)
CONTACT_FIELDS = ("id", "citizen", "channel", "address", "status", "p256dh", "auth")
_HASH_FIELDS = """
local prefix, fields = KEYS[1], {unpack(ARGV, 2)}
local out = {}
for _, id in ipairs(cjson.decode(ARGV[1])) do
  local h = redis.call('HMGET', prefix .. id, unpack(fields))
  for j = 1, #fields do out[#out + 1] = h[j] end
end
return out
"""
# KEYS: the city's key prefix; ARGV: JSON [[citizen id, channels wanted (a bit per channel)],
# ...], then the channels -> for each channel, how many of these citizens want it and have a
# confirmed contact point on it
_REACH = """
local prefix, channels = KEYS[1], {unpack(ARGV, 2)}
local bit_of, counts = {}, {}
for i, channel in ipairs(channels) do bit_of[channel], counts[i] = 2 ^ (i - 1), 0 end
for _, item in ipairs(cjson.decode(ARGV[1])) do
  local found = 0
  for _, id in ipairs(redis.call('SMEMBERS', prefix .. 'citizen:' .. item[1] .. ':contacts')) do
    local h = redis.call('HMGET', prefix .. 'contact:' .. id, 'channel', 'status')
    local b = bit_of[h[1]]
    if b and h[2] == 'confirmed' then found = bit.bor(found, b) end
  end
  local both = bit.band(found, item[2])
  for i = 1, #channels do
    if bit.band(both, 2 ^ (i - 1)) ~= 0 then counts[i] = counts[i] + 1 end
  end
end
return counts
"""
CITIZEN_FIELDS = ("language", "timezone", "quiet_hours")
# KEYS: the city's key prefix; ARGV: JSON [citizen id, ...], then the citizen hash's fields (the
# ids as one argument: redis-py packs many arguments slowly)
# -> for each citizen: the fields' values (nil where missing), then its contact point ids
_READ_CITIZENS = """
local prefix, fields = KEYS[1], {unpack(ARGV, 2)}
local out = {}
for _, id in ipairs(cjson.decode(ARGV[1])) do
  local row = redis.call('HMGET', prefix .. 'citizen:' .. id, unpack(fields))
  row[#row + 1] = redis.call('SMEMBERS', prefix .. 'citizen:' .. id .. ':contacts')
  out[#out + 1] = row
end
return out
"""
# KEYS: the log, its sequence; ARGV: op, max length, then subscription ids
_LOG_CHANGES = """
for i = 3, #ARGV do
  local seq = redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
             'seq', seq, 'op', ARGV[1], 'sub', ARGV[i])
end
return #ARGV - 2
"""


# KEYS: the address, the city's key prefix; ARGV: the new contact point id, now, PENDING_SECONDS
# -> "" (the address is the new one's), the id of the pending contact point that held it past
# its time (it is gone: hash, code, membership; its citizen's consent log says so) and of
# the citizen it belonged to, joined by a space, or "held" (someone holds it, nothing changed)
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder then
  local h = redis.call('HMGET', KEYS[2] .. 'contact:' .. holder, 'citizen', 'status', 'created_at')
  -- no hash yet: being added right now
  if not h[1] or h[2] ~= 'pending' then return 'held' end
  if not h[3] then  -- made before times were kept: its time starts now
    redis.call('HSET', KEYS[2] .. 'contact:' .. holder, 'created_at', ARGV[2])
    return 'held'
  end
  if tonumber(h[3]) + tonumber(ARGV[3]) > tonumber(ARGV[2]) then return 'held' end
  redis.call('DEL', KEYS[2] .. 'contact:' .. holder, KEYS[2] .. 'code:' .. holder)
  redis.call('SREM', KEYS[2] .. 'citizen:' .. h[1] .. ':contacts', holder)
  redis.call('RPUSH', KEYS[2] .. 'citizen:' .. h[1] .. ':consent', cjson.encode(
    {contact = holder, change = 'expired', how = 'not confirmed in time', at = tonumber(ARGV[2])}))
  redis.call('SET', KEYS[1], ARGV[1])
  return holder .. ' ' .. h[1]
end
redis.call('SET', KEYS[1], ARGV[1])
return ''
"""
# KEYS: an address; ARGV: a contact point id -> 1 when the address was that one's (now free)
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class AddressHeld(InvalidInput):
    """The address is another contact point's (confirmed, or pending and not past its time)."""


def log_changes(p: Pipeline, city: str, op: str, sids: list[str]) -> None:
    """Queue the change log entries of ``op`` ("add" or "del") on these subscriptions in a
    pipeline, to go with the transaction that makes the change."""
    if sids:
        keys = (key(city, CHANGE_LOG), key(city, "subs", "seq"))
        p.eval(_LOG_CHANGES, 2, *keys, op, CHANGE_LOG_LENGTH, *sids)


def key(city: str, *parts: str) -> str:
    """``n:{city}:...``: the city in braces is the key's hash tag, so that on a Redis Cluster
    every key of a city is in one slot (``notifier.layout``, 3)."""
    return ":".join(("n", "{" + city + "}", *parts))


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclasses.dataclass(frozen=True)
class Citizen:
    id: str
    language: str
    timezone: str
    quiet_hours: QuietHours | None = None
    default_channels: tuple[str, ...] = ("email",)  # for a subscription that names none
    # where an alert goes, in this order, when its web push is not delivered (none: nowhere)
    fallback: tuple[str, ...] = ()

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> Citizen:
        quiet, channels = h.get("quiet_hours"), h.get("default_channels")
        fallback = h.get("fallback")
        return cls(
            h["id"],
            h["language"],
            h["timezone"],
            parse_quiet_hours(json.loads(quiet)) if quiet else None,
            tuple(json.loads(channels)) if channels else ("email",),
            tuple(json.loads(fallback)) if fallback else (),
        )

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "language": self.language,
            "timezone": self.timezone,
            "quiet_hours": self.quiet_hours.to_json() if self.quiet_hours else None,
            "default_channels": list(self.default_channels),
            "fallback": list(self.fallback),
        }


class SubscriptionStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._hash_fields_script = redis.register_script(_HASH_FIELDS)
        self._reach = redis.register_script(_REACH)
        self._read_citizens = redis.register_script(_READ_CITIZENS)
        self._claim = redis.register_script(_CLAIM)

    async def create_citizen(
        self, city: str, language: str, timezone: str = "Europe/Paris"
    ) -> Citizen:
        check_language(language)
        cid = new_id("cit")
        await self.redis.hset(
            key(city, "citizen", cid),
            mapping={
                "id": cid,
                "language": language,
                "timezone": timezone,
                "created_at": str(int(time.time())),
            },
        )
        return Citizen(cid, language, timezone)

    async def add_contact(
        self,
        city: str,
        cid: str,
        channel: str,
        address: str,
        status: str,
        how: str,
        p256dh: str = "",
        auth: str = "",
    ) -> ContactPoint:
        """A new contact point; an address held in this city is refused (``AddressHeld``),
        unless by a pending contact point past ``PENDING_SECONDS``, which ends."""
        assert channel in CHANNELS and status in STATUSES
        pid = new_id("cp")
        # one citizen per address; email local parts compare case-insensitively, as providers do
        now = int(time.time())
        keys = [address_key(city, channel, address), key(city, "")]
        if await self._claim(keys=keys, args=[pid, now, PENDING_SECONDS]) == "held":
            field = {"email": "email", "sms": "phone", "push": "push.endpoint"}[channel]
            raise AddressHeld(field, "already registered")
        cp = ContactPoint(pid, cid, channel, address, status, p256dh, auth)
        return await self.keep_contact(city, cp, how)

    async def keep_contact(self, city: str, cp: ContactPoint, how: str) -> ContactPoint:
        """Write a contact point (its address claimed or not) for its citizen."""
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(
                key(city, "contact", cp.id),
                mapping={**cp.to_hash(), "created_at": str(int(time.time()))},
            )
            p.sadd(key(city, "citizen", cp.citizen, "contacts"), cp.id)
            p.rpush(key(city, "citizen", cp.citizen, "consent"), _consent(cp.id, cp.status, how))
            await p.execute()
        return cp

    async def contact_by_address(
        self, city: str, channel: str, address: str
    ) -> ContactPoint | None:
        pid = await self.redis.get(address_key(city, channel, address))
        return None if pid is None else await self.contact(city, pid)

    async def set_code(self, city: str, pid: str, code: str, ttl: int = 900) -> None:
        """A confirmation code sent by SMS; kept hashed, for ``ttl`` seconds, 5 tries."""
        digest = hashlib.sha256(f"{pid}:{code}".encode()).hexdigest()
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(key(city, "code", pid), mapping={"digest": digest, "tries": 0})
            p.expire(key(city, "code", pid), ttl)
            await p.execute()

    async def check_code(self, city: str, pid: str, code: str) -> bool:
        k = key(city, "code", pid)
        tries = await self.redis.hincrby(k, "tries", 1)
        digest = await self.redis.hget(k, "digest")
        if digest is None or tries > 5:
            await self.redis.delete(k)
            raise InvalidInput("code", "expired or too many tries; ask for a new code")
        given = hashlib.sha256(f"{pid}:{code}".encode()).hexdigest()
        if not hmac.compare_digest(digest, given):
            return False
        await self.redis.delete(k)
        return True

    async def citizen(self, city: str, cid: str) -> Citizen:
        h = await self.redis.hgetall(key(city, "citizen", cid))
        if not h:
            raise NotFound(f"no citizen {cid}", "no_citizen")
        return Citizen.from_hash(h)

    async def set_preferences(
        self,
        city: str,
        cid: str,
        language: str | None = None,
        timezone: str | None = None,
        quiet_hours: QuietHours | None | bool = False,
        default_channels: tuple[str, ...] | None = None,
        fallback: tuple[str, ...] | None = None,
    ) -> Citizen:
        """Change what is given; ``quiet_hours=None`` removes them, ``False`` leaves them."""
        await self.citizen(city, cid)
        fields: dict[str, str] = {}
        if language is not None:
            fields["language"] = check_language(language)
        if timezone is not None:
            fields["timezone"] = timezone
        if isinstance(quiet_hours, QuietHours):
            fields["quiet_hours"] = json.dumps(quiet_hours.to_json())
        if default_channels is not None:
            if not default_channels or any(c not in CHANNELS for c in default_channels):
                raise InvalidInput("default_channels", f"a non-empty list of {', '.join(CHANNELS)}")
            fields["default_channels"] = json.dumps(sorted(set(default_channels)))
        if fallback is not None:
            if any(c not in FALLBACK_CHANNELS for c in fallback) or len(set(fallback)) < len(
                fallback
            ):
                raise InvalidInput(
                    "fallback", f"a list of distinct channels among {', '.join(FALLBACK_CHANNELS)}"
                )
            fields["fallback"] = json.dumps(list(fallback))
        async with self.redis.pipeline(transaction=True) as p:
            if fields:
                p.hset(key(city, "citizen", cid), mapping=fields)
            if quiet_hours is None:
                p.hdel(key(city, "citizen", cid), "quiet_hours")
            await p.execute()
        return await self.citizen(city, cid)

    async def contact(self, city: str, pid: str) -> ContactPoint:
        h = await self.redis.hgetall(key(city, "contact", pid))
        if not h:
            raise NotFound(f"no contact point {pid}")
        return ContactPoint.from_hash(h)

    async def contacts_of(self, city: str, cid: str) -> list[ContactPoint]:
        ids = sorted(await self.redis.smembers(key(city, "citizen", cid, "contacts")))
        return [c for c in await self.contacts(city, ids) if c is not None]

    async def contacts(self, city: str, ids: Iterable[str]) -> list[ContactPoint | None]:
        """These contact points (None for one that is gone), in one script call: a send
        batch reads hundreds, and a pipelined command each cost more than the send."""
        rows = await self._hash_fields(key(city, "contact", ""), list(ids), CONTACT_FIELDS)
        return [
            None
            if f[0] is None
            else ContactPoint(f[0], f[1], f[2], f[3], f[4], f[5] or "", f[6] or "")
            for f in rows
        ]

    async def _hash_fields(
        self, prefix: str, ids: list[str], fields: Sequence[str]
    ) -> list[list[Any]]:
        """``fields`` of the hashes ``prefix + id``, in order: a script call per
        ``PER_CALL`` ids, so that Redis is not held for long."""
        flat: list[Any] = []
        for start in range(0, len(ids), PER_CALL):
            chunk = json.dumps(ids[start : start + PER_CALL])
            flat += await self._hash_fields_script(keys=[prefix], args=[chunk, *fields])
        n = len(fields)
        return [flat[i : i + n] for i in range(0, len(flat), n)]

    async def citizens_and_contacts(
        self, city: str, cids: Sequence[str]
    ) -> dict[str, tuple[Citizen, list[ContactPoint]]]:
        """What ``citizen`` and ``confirmed_contacts`` read of these citizens, for every channel
        at once (an expansion's): the citizens that exist, each with all their contact points
        (any channel and status), sorted by id. A script call per ``PER_CALL`` citizens, then
        ``contacts``: pipelines cost ~30 us of redis-py per command, three or four commands for
        each citizen and channel, which was most of expanding a large audience."""
        prefix, out = key(city, ""), {}
        for start in range(0, len(cids), PER_CALL):
            ids = list(cids[start : start + PER_CALL])
            rows = await self._read_citizens(keys=[prefix], args=[json.dumps(ids), *CITIZEN_FIELDS])
            found = [(cid, row) for cid, row in zip(ids, rows, strict=True) if row[0]]
            pids = [sorted(row[-1]) for _, row in found]
            contacts = iter(await self.contacts(city, [pid for group in pids for pid in group]))
            for (cid, (language, timezone, quiet, _)), group in zip(found, pids, strict=True):
                h = {"id": cid, "language": language, "timezone": timezone, "quiet_hours": quiet}
                mine = [c for c in itertools.islice(contacts, len(group)) if c is not None]
                out[cid] = (Citizen.from_hash(h), mine)
        return out

    async def reach(self, city: str, wanting: dict[str, list[str]]) -> dict[str, int]:
        """For each channel, how many of the citizens who want it (``wanting``: channel ->
        citizen ids) have a confirmed contact point on it: one message each. Counted in Redis,
        a thousand citizens a call, so that no contact point is read out (a city-wide preview
        counts hundreds of thousands) and Redis is not held for long."""
        channels = list(wanting)
        masks: dict[str, int] = {}
        for i, channel in enumerate(channels):
            for cid in wanting[channel]:
                masks[cid] = masks.get(cid, 0) | 1 << i
        items, counts = list(masks.items()), [0] * len(channels)
        for start in range(0, len(items), PER_CALL):
            chunk = json.dumps(items[start : start + PER_CALL])
            got = await self._reach(keys=[key(city, "")], args=[chunk, *channels])
            counts = [a + int(b) for a, b in zip(counts, got, strict=True)]
        return dict(zip(channels, counts, strict=True))

    async def confirmed_contacts(
        self, city: str, cids: list[str], channel: str
    ) -> dict[str, list[ContactPoint]]:
        """Each citizen's confirmed contact points on a channel, in two round trips."""
        async with self.redis.pipeline(transaction=False) as p:
            for cid in cids:
                p.smembers(key(city, "citizen", cid, "contacts"))
            id_sets = await p.execute()
        ids = [sorted(s) for s in id_sets]
        flat = await self.contacts(city, [pid for group in ids for pid in group])
        out: dict[str, list[ContactPoint]] = {}
        for cp in flat:
            if cp is not None and cp.channel == channel and cp.status == "confirmed":
                out.setdefault(cp.citizen, []).append(cp)
        return out

    async def set_contact_status(self, city: str, pid: str, status: str, how: str) -> ContactPoint:
        assert status in STATUSES
        cp = await self.contact(city, pid)
        if cp.status != status:
            async with self.redis.pipeline(transaction=True) as p:
                p.hset(key(city, "contact", pid), "status", status)
                p.rpush(key(city, "citizen", cp.citizen, "consent"), _consent(pid, status, how))
                await p.execute()
        return dataclasses.replace(cp, status=status)

    async def consent_log(self, city: str, cid: str) -> list[dict[str, Any]]:
        return [
            json.loads(x)
            for x in await self.redis.lrange(key(city, "citizen", cid, "consent"), 0, -1)
        ]

    async def add_subscription(
        self, city: str, sub: Subscription, index: list[tuple[str, str]]
    ) -> Subscription:
        """Store a subscription and its index entries in one transaction."""
        await self.citizen(city, sub.citizen)
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(
                key(city, "sub", sub.id),
                mapping={
                    **sub.to_hash(),
                    "created_at": str(int(time.time())),
                    "index": json.dumps(index),  # what to remove with it
                },
            )
            p.sadd(key(city, "citizen", sub.citizen, "subs"), sub.id)
            for kind, code in index:
                if kind in SETS:
                    p.sadd(key(city, "idx", kind, code), sub.id)
            log_changes(p, city, "add", [sub.id])
            await p.execute()
        return sub

    async def remove_subscription(self, city: str, cid: str, sid: str) -> None:
        """Remove one of a citizen's subscriptions and its index entries, atomically."""
        raw = await self.redis.hmget(key(city, "sub", sid), "citizen", "index")
        if raw[0] != cid:
            raise NotFound(f"no subscription {sid}")
        async with self.redis.pipeline(transaction=True) as p:
            for kind, code in json.loads(raw[1] or "[]"):
                p.srem(key(city, "idx", kind, code), sid)
            p.delete(key(city, "sub", sid))
            p.srem(key(city, "citizen", cid, "subs"), sid)
            log_changes(p, city, "del", [sid])
            await p.execute()

    async def erase_citizen(self, city: str, cid: str) -> None:
        """Everything held about a citizen, gone: contact points (and their addresses),
        subscriptions (and their index entries), codes, consent log, the citizen."""
        await self.citizen(city, cid)
        for sid in await self.redis.smembers(key(city, "citizen", cid, "subs")):
            await self.remove_subscription(city, cid, sid)
        contacts = await self.contacts_of(city, cid)
        async with self.redis.pipeline(transaction=True) as p:
            for cp in contacts:  # an address is freed only if it was this contact point's
                p.eval(RELEASE, 1, address_key(city, cp.channel, cp.address), cp.id)
                p.delete(key(city, "contact", cp.id), key(city, "code", cp.id))
            p.delete(
                key(city, "citizen", cid),
                key(city, "citizen", cid, "contacts"),
                key(city, "citizen", cid, "subs"),
                key(city, "citizen", cid, "consent"),
            )
            await p.execute()

    async def subscriptions_of(self, city: str, cid: str) -> list[Subscription]:
        ids = sorted(await self.redis.smembers(key(city, "citizen", cid, "subs")))
        return await self.subscriptions(city, ids)

    async def subscriptions(self, city: str, ids: Iterable[str]) -> list[Subscription]:
        async with self.redis.pipeline(transaction=False) as p:
            for sid in ids:
                p.hgetall(key(city, "sub", sid))
            rows = await p.execute()
        return [Subscription.from_hash(h) for h in rows if h]

    async def citizens(self, city: str, ids: Iterable[str]) -> dict[str, Citizen]:
        """These citizens (those that exist), a script call per thousand."""
        ids = list(ids)
        rows = await self._hash_fields(key(city, "citizen", ""), ids, CITIZEN_FIELDS)
        return {
            cid: Citizen.from_hash({"id": cid, "language": lang, "timezone": tz, "quiet_hours": q})
            for cid, (lang, tz, q) in zip(ids, rows, strict=True)
            if lang
        }


def address_key(city: str, channel: str, address: str) -> str:
    return key(city, "address", channel, address.lower() if channel == "email" else address)


def _consent(pid: str, change: str, how: str) -> str:
    return json.dumps({"contact": pid, "change": change, "how": how, "at": int(time.time())})
