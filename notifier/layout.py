"""The store's key layout, by version, and ``notifier migrate`` from one to the next.

- **1**: the layout of the releases before the version was kept (no ``n:layout`` key): besides
  each subscription's own ``index`` field, ``idx:area``, ``idx:geo`` and ``idx:dept`` sets.
- **2**: those sets gone. Nothing ever read them (the live index matches on the ``index``
  field); they held 8% of a city's memory (``bench/redis_memory.py``). Only a request's
  followers keep a set (``subscriptions.store.SETS``).

The version is in ``n:layout``. Every process checks it when it starts (``check``): a store
written by a newer release (a version above ``LAYOUT``) stops it with the reason, before it
writes anything; a store this release still reads (``OLDEST`` to ``LAYOUT``) runs, and
``notifier migrate`` moves it on, while the service runs. Each step is safe beside running
processes of this release, idempotent, and resumable: interrupted, it is run again from the
start and skips what is done. A new store is given ``LAYOUT`` by the first process that meets
it. Redis Cluster's layout (docs/redis-cluster-plan.md) will be a version of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from notifier.errors import ConfigError
from subscriptions.cities import REGISTRY

KEY = "n:layout"
LAYOUT = 2  # what this release writes
OLDEST = 1  # the oldest layout this release reads
UNREAD_SETS = ("area", "geo", "dept")
SCAN_COUNT = 1000
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


async def check(redis: Redis, claim: bool = True) -> int:
    """At a process's start: the store's layout, if this release reads it; else a
    ``ConfigError`` that says what to do. ``claim``: False for a process that must write
    nothing (a dry run)."""
    found = await version(redis, claim)
    if found > LAYOUT:
        raise ConfigError(
            f"the store's key layout is {found}, written by a newer release; this one reads "
            f"layouts {OLDEST} to {LAYOUT}: run the release that migrated it, or a newer one"
        )
    if found < OLDEST:
        raise ConfigError(
            f"the store's key layout is {found}, older than this release reads ({OLDEST} to "
            f"{LAYOUT}): run `notifier migrate` with a release that reads it first"
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


# from each layout, what takes the store to the next
STEPS: dict[int, tuple[str, Callable[[Redis, Say], Awaitable[int]]]] = {
    1: ("the idx:area, idx:geo and idx:dept sets, which nothing reads, deleted", drop_unread_sets),
}


async def migrate(redis: Redis, say: Say, dry_run: bool = False) -> int:
    """Every step from the store's layout to ``LAYOUT``, each one's progress told to ``say``;
    the layout the store is at after it."""
    at = await check(redis)
    if at == LAYOUT:
        say(f"the store's key layout is {LAYOUT}, this release's: nothing to do")
        return at
    start = at
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
