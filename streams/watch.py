"""The lag and stuck watch: per city, channel and lane, how long the oldest queued notification
has waited, and which are ``sending`` past their lease (their sender died or is cut off).

Read from the ledger's two indexes (``streams.state.ledger``): the active events (those with
notifications not final yet, by when their first were queued) and each channel's claims (by when
claimed). An event's lane is the one its batches went to (``streams.delivery.lanes``: ``small``, or
for an audience cut into shards ``urgent`` or ``bulk`` by its severity, as its expansion wrote it; a
digest's ``digest``). The leader's timer puts the figures on the worker's ``/metrics``;
``notifier stuck`` prints them per event with a hint of why.
"""

from __future__ import annotations

import dataclasses
import time

from redis.asyncio import Redis

from channels import NAMES as CHANNELS
from streams.delivery.fanout import SHARD_SIZE
from streams.delivery.lanes import BULK, DIGEST, LANES, SMALL
from streams.deps import Watching
from streams.state.ledger import LEASE_SECONDS
from subscriptions.store import key

MAX_EVENTS = 1000  # active events read per city and tick (the oldest first)
MAX_STUCK = 10_000  # stuck claims read per city and channel


@dataclasses.dataclass
class Backlog:
    """One event's notifications on one channel that are not final yet."""

    city: str
    event: str
    channel: str
    lane: str
    queued: int = 0
    sending: int = 0
    queued_since: float | None = None  # when the event's first notifications were queued
    stuck: int = 0  # sending past the lease
    stuck_since: float | None = None  # the oldest stuck claim
    retry_at: float | None = None  # a queued one's next try, if it waits for one
    error: str = ""  # the provider's last words on it
    holders: tuple[str, ...] = ()  # who holds the stuck claims

    def waiting_for_retry(self, now: float) -> bool:
        return self.retry_at is not None and self.retry_at > now

    def hint(self, now: float) -> str:
        if self.stuck:
            return (
                "sending past its lease: the worker holding it stopped or lost the store; "
                "the claim is taken back when the lease lapses or the batch runs again"
            )
        if self.waiting_for_retry(now):
            return f"waiting for a retry: the provider refused it ({self.error or 'no reason'})"
        if self.queued and self.queued_since is not None and now - self.queued_since > 60:
            return "queued and not picked up: the workers are behind (consumer lag) or down"
        return "in progress"


async def backlogs(redis: Redis, city: str, now: float | None = None) -> list[Backlog]:
    """What is not final in ``city``, per event and channel; finished events leave the index."""
    now = time.time() if now is None else now
    active = key(city, "active")
    events = await redis.zrange(active, 0, MAX_EVENTS - 1, withscores=True)
    async with redis.pipeline(transaction=False) as p:
        for event, _ in events:
            p.hgetall(key(city, "event", event, "counts"))
            p.hmget(key(city, "event", event), "lane", "matched")
        rows = await p.execute()
    out: dict[tuple[str, str], Backlog] = {}
    done = []
    for (event, since), counts, (lane, matched) in zip(events, rows[::2], rows[1::2], strict=True):
        lane = lane or _lane(event, int(matched or 0))
        pending = False
        for channel in CHANNELS:
            queued = int(counts.get(f"{channel}:queued", 0))
            sending = int(counts.get(f"{channel}:sending", 0))
            if queued > 0 or sending > 0:
                pending = True
                b = Backlog(city, event, channel, lane, queued, sending)
                b.queued_since = since if queued > 0 else None
                out[(event, channel)] = b
        if not pending:
            done.append(event)
    if done:
        await redis.zrem(active, *done)
    await _stuck(redis, city, now, out)
    await _retries(redis, city, now, out)
    return sorted(out.values(), key=lambda b: (b.queued_since or now, b.event, b.channel))


def _lane(event: str, matched: int = 0) -> str:
    """The lane of an event whose expansion did not say it (a digest's; before the lanes)."""
    if event.startswith("digest-"):
        return DIGEST
    return BULK if matched > SHARD_SIZE else SMALL


async def _stuck(redis: Redis, city: str, now: float, out: dict[tuple[str, str], Backlog]) -> None:
    """Claims older than the lease, checked against their records (an index entry whose record
    has moved on, or gone, is dropped)."""
    for channel in CHANNELS:
        index = key(city, "sending", channel)
        old = await redis.zrangebyscore(
            index, "-inf", now - LEASE_SECONDS, start=0, num=MAX_STUCK, withscores=True
        )
        if not old:
            continue
        async with redis.pipeline(transaction=False) as p:
            for nid, _ in old:
                p.hmget(key(city, "notif", nid), "status", "event", "holder")
            records = await p.execute()
        stale = []
        for (nid, claimed), (status, event, holder) in zip(old, records, strict=True):
            if status != "sending":
                stale.append(nid)
                continue
            b = out.get((event, channel))
            if b is None:  # an event past MAX_EVENTS, or its counts lag: still stuck
                b = out[(event, channel)] = Backlog(city, event, channel, _lane(event), sending=1)
            b.stuck += 1
            b.stuck_since = claimed if b.stuck_since is None else min(b.stuck_since, claimed)
            if holder and holder not in b.holders:
                b.holders += (holder,)
        if stale:
            await redis.zrem(index, *stale)


async def _retries(
    redis: Redis, city: str, now: float, out: dict[tuple[str, str], Backlog]
) -> None:
    """For each backlog with queued notifications, a sample of its event's records: when every
    queued one of the sample waits for a retry, so does the backlog (a provider refused them,
    which the error rate tells; it is not lag)."""
    waiting = [b for b in out.values() if b.queued]
    async with redis.pipeline(transaction=False) as p:
        for b in waiting:
            p.srandmember(key(city, "event", b.event, "notifs"), 20)
        samples = await p.execute()
    for b, keys in zip(waiting, samples, strict=True):
        async with redis.pipeline(transaction=False) as p:
            for k in keys:
                p.hmget(k, "status", "channel", "retry_at", "error")
            rows = await p.execute()
        queued = [(float(r or 0), e) for s, c, r, e in rows if s == "queued" and c == b.channel]
        if queued and all(r > now for r, _ in queued):
            b.retry_at, b.error = min(queued)[0], queued[0][1] or ""


@dataclasses.dataclass(frozen=True)
class Figures:
    """Per (channel, lane): the oldest queued notification's age (not counting those waiting
    for a retry), how many are stuck and the oldest stuck one's age (0 when none)."""

    oldest_queued: dict[tuple[str, str], float]
    stuck: dict[tuple[str, str], int]
    oldest_stuck: dict[tuple[str, str], float]


def figures(found: list[Backlog], now: float | None = None) -> Figures:
    now = time.time() if now is None else now
    pairs = [(c, lane) for c in CHANNELS for lane in LANES]
    oldest = dict.fromkeys(pairs, 0.0)
    stuck = dict.fromkeys(pairs, 0)
    oldest_stuck = dict.fromkeys(pairs, 0.0)
    for b in found:
        k = (b.channel, b.lane)
        if b.queued_since is not None and not b.waiting_for_retry(now):
            oldest[k] = max(oldest[k], now - b.queued_since)
        if b.stuck:
            stuck[k] += b.stuck
            oldest_stuck[k] = max(oldest_stuck[k], now - (b.stuck_since or now))
    return Figures(oldest, stuck, oldest_stuck)


async def observe(deps: Watching) -> None:
    """The figures of every city on this worker's ``/metrics`` (a timer's job)."""
    found: list[Backlog] = []
    for city in list(deps.catalogues):
        found += await backlogs(deps.store.redis, city)
    f = figures(found)
    deps.metrics.record_backlog(f.oldest_queued, f.stuck, f.oldest_stuck)
