"""The store's key layout, by version, and ``notifier migrate`` from one to the next.

- **1**: the layout of the releases before the version was kept (no ``n:layout`` key): besides
  each subscription's own ``index`` field, ``idx:area``, ``idx:geo`` and ``idx:dept`` sets.
- **2**: those sets gone. Nothing ever read them (the live index matches on the ``index``
  field); they held 8% of a city's memory (``bench/redis_memory.py``). Only a request's
  followers keep a set (``subscriptions.store.SETS``).
- **3**: each key's hash tag. A city's keys are ``n:{city}:...`` (they were ``n:city:...``),
  so that on a Redis Cluster every key a script or a transaction touches is in one slot; the
  dead letters are ``n:{_}:...``; the workers' heartbeats one sorted set ``n:workers`` (they
  were ``n:worker:{instance}`` strings, which the claim script read). An event's set of its
  notifications' keys holds the new keys.

The version is in ``n:layout``. Every process checks it when it starts (``check``): a store
written by a newer release (a version above ``LAYOUT``) stops it with the reason, before it
writes anything, and so does one older than ``OLDEST`` (run ``notifier migrate`` first). Each
step is idempotent and resumable: interrupted, it is run again from the start and skips what
is done. 1 -> 2 is safe beside running processes; 2 -> 3 renames every key, and is run with
the service stopped (it refuses while a worker's heartbeat is alive): 77 s for a city of
1,000,000 subscriptions with a notification a citizen in its ledger, 7.9 million keys
(``bench/migrate_rate.py``; docs/deployment.md, "Upgrades"). A new store is given ``LAYOUT``
by the first process that meets it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from notifier.errors import ConfigError
from subscriptions.cities import REGISTRY

KEY = "n:layout"
LAYOUT = 3  # what this release writes
OLDEST = 3  # the oldest layout this release reads (``migrate`` reads from 1)
UNREAD_SETS = ("area", "geo", "dept")
SCAN_COUNT = 1000
RENAME_SCAN = 10_000  # keys renamed a call
Say = Callable[[str], None]


async def version(redis: Redis, claim: bool = True) -> int:
    """The store's layout; a store with data and no version is 1, an empty one ``LAYOUT``,
    written there with ``claim`` (whoever writes it first)."""
    raw = await redis.get(KEY)
    if raw is None:
        if await redis.exists(REGISTRY):  # a city was made by a release before the version
            return 1
        if not claim:
            return LAYOUT
        await redis.set(KEY, LAYOUT, nx=True)
        raw = await redis.get(KEY)
    return int(raw)


async def check(redis: Redis, claim: bool = True, oldest: int = OLDEST) -> int:
    """At a process's start: the store's layout, if this release reads it; else a
    ``ConfigError`` that says what to do. ``claim``: False for a process that must write
    nothing (a dry run)."""
    found = await version(redis, claim)
    if found > LAYOUT:
        raise ConfigError(
            f"the store's key layout is {found}, written by a newer release; this one reads "
            f"layouts {OLDEST} to {LAYOUT}: run the release that migrated it, or a newer one"
        )
    if found < oldest:
        raise ConfigError(
            f"the store's key layout is {found}, older than this release reads ({OLDEST} to "
            f"{LAYOUT}): stop the service and run `notifier migrate` first"
        )
    return found


async def drop_unread_sets(redis: Redis, say: Say) -> int:
    """1 -> 2: delete the ``idx:area``, ``idx:geo`` and ``idx:dept`` sets of every city."""
    deleted = 0
    batch: list[str] = []
    async for k in redis.scan_iter(match="n:*:idx:*", count=SCAN_COUNT):
        if k.split(":")[3] in UNREAD_SETS:  # n:<city>:idx:<kind>:<code>
            batch.append(k)
        if len(batch) >= SCAN_COUNT:
            deleted += await redis.delete(*batch)
            batch = []
            say(f"  {deleted:,} index sets deleted")
    if batch:
        deleted += await redis.delete(*batch)
    say(f"  {deleted:,} index sets deleted")
    return deleted


# ARGV: JSON [[key, new name], ...] (a single server's: layouts before 3 never ran on a Redis
# Cluster) -> each key that still exists renamed
_RENAME = """
for _, pair in ipairs(cjson.decode(ARGV[1])) do
  if redis.call('EXISTS', pair[1]) == 1 then redis.call('RENAME', pair[1], pair[2]) end
end
return 0
"""


async def tag_keys(redis: Redis, say: Say) -> int:
    """2 -> 3: every key of a city renamed ``n:<city>:...`` -> ``n:{<city>}:...`` (an event's
    set of notification keys rewritten first), the dead letters to ``n:{_}:...``, and the
    workers' heartbeats (which lapse in seconds) deleted. One scan of the keyspace, however
    many cities."""
    async for k in redis.scan_iter(match="n:worker:*", count=SCAN_COUNT):
        ttl = await redis.pttl(k)
        if ttl > 0:
            raise ConfigError(
                f"a worker is running ({k}, alive for {ttl} ms more): stop the workers and the "
                "API before this step, which renames every key"
            )
        await redis.delete(k)
    cities = {"_", *await redis.hkeys(REGISTRY)}
    renamed, batch = 0, []
    async for k in redis.scan_iter(match="n:[^{]*", count=RENAME_SCAN):
        city = k.split(":", 2)[1]
        if city in cities and k.count(":") >= 2:
            batch.append((k, city))
        if len(batch) >= RENAME_SCAN:
            renamed += await _rename(redis, batch)
            batch = []
            if renamed % (10 * RENAME_SCAN) < RENAME_SCAN:  # a line every 100,000 or so
                say(f"  {renamed:,} keys renamed")
    renamed += await _rename(redis, batch)
    say(f"  {renamed:,} keys renamed")
    return renamed


async def _rename(redis: Redis, keys: list[tuple[str, str]]) -> int:
    pairs = []
    for k, city in keys:
        old, new = f"n:{city}:", f"n:{{{city}}}:"
        if k.startswith(old + "event:") and k.endswith(":notifs"):  # members are keys
            async for members in _chunks(redis, k):
                async with redis.pipeline(transaction=True) as p:
                    p.srem(k, *members)
                    p.sadd(k, *(new + m.removeprefix(old) for m in members))
                    await p.execute()
        pairs.append((k, new + k.removeprefix(old)))
    if pairs:  # one call for the lot: a command each costs the client more than Redis
        await redis.eval(_RENAME, 0, json.dumps(pairs))
    return len(pairs)


async def _chunks(redis: Redis, k: str) -> AsyncIterator[list[str]]:
    """The old-named members of an event's set, a thousand at a time, until none is left."""
    while True:
        members = [m async for m in redis.sscan_iter(k, match="n:[^{]*", count=SCAN_COUNT)]
        if not members:
            return
        for start in range(0, len(members), SCAN_COUNT):
            yield members[start : start + SCAN_COUNT]


# from each layout, what takes the store to the next
STEPS: dict[int, tuple[str, Callable[[Redis, Say], Awaitable[int]]]] = {
    1: ("the idx:area, idx:geo and idx:dept sets, which nothing reads, deleted", drop_unread_sets),
    2: ("every key given its hash tag (n:{city}:...), for a Redis Cluster", tag_keys),
}


async def migrate(redis: Redis, say: Say, dry_run: bool = False) -> int:
    """Every step from the store's layout to ``LAYOUT``, each one's progress told to ``say``;
    the layout the store is at after it."""
    at = await check(redis, oldest=1)
    if at == LAYOUT:
        say(f"the store's key layout is {LAYOUT}, this release's: nothing to do")
        return at
    start = at
    if at < 3 and isinstance(redis, RedisCluster):  # the old layouts never ran on one
        raise ConfigError(
            f"the store's key layout is {at} on a Redis Cluster, where only layout 3 and later "
            "run: migrate the single server it came from, then copy its keys to the cluster"
        )
    while at < LAYOUT:
        what, step = STEPS[at]
        say(f"layout {at} -> {at + 1}: {what}")
        if not dry_run:
            await step(redis, say)
            await redis.set(KEY, at + 1)
        at += 1
    if dry_run:
        say(f"dry run: nothing changed, the store's key layout is still {start}")
        return start
    say(f"the store's key layout is now {at}")
    return at
