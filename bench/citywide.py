"""The city-wide alert handed over to the local providers by two workers, and what a
neighbourhood event waits meanwhile; next to the client libraries' raw rates, in one run.

    .venv/bin/python bench/citywide.py [--subscriptions 1000000] [--partitions 4]
                                       [--drain-limit 900] [--py-spy PATH] [--logs DIR]
                                       [--redis server|cluster]

Starts its own Tansu broker, redis-server (no persistence; with ``--redis cluster``, a Redis
Cluster of 3 primaries and 3 replicas too, which the service uses) and the three providers'
local servers (``bench/channel_servers.py``: SMTP, Twilio-shaped, web push; one process of
their own, which stamps when each recipient's message arrives), then:

1. build: ``--subscriptions`` subscriptions over Paris (``bench/city_build.py``), their push
   subscriptions served by the local push service; the category ``culture`` is taken out of
   the generated city and given to dedicated citizens only: ``--groups`` groups of ``--group``
   citizens, each group subscribed to a quartier of its own (the neighbourhood events), and
   ``--large`` citizens on another quartier (the 5,000-recipient event);
2. raw: each channel's client library alone against the same servers (``channel_rates``'s raw
   runs, its messages built from an announcement to citizens seeded in Redis database 1),
   ``--raw-repeat`` times; the combined raw rate for the alert's mix of channels;
3. the topics made with ``--partitions`` partitions (``notifier topics create``'s code), the
   API in this process and TWO ``python -m notifier worker`` in one consumer group; warm-up
   neighbourhood events until both workers have loaded the city;
4. the alert (``safety``/``severe`` to the 20 arrondissements) POSTed to the API: accepted ->
   all queued (the ledger), then -> all handed over (ledger ``sent``), for at most
   ``--drain-limit`` seconds after the POST (then the rate and the projected total); while it
   drains, a neighbourhood event (``culture``/``minor``, one group) every ``--every`` seconds,
   each recipient's latency from the POST to its provider's arrival stamp;
5. after the drain: ``--alone`` neighbourhood events one at a time, then the 5,000-recipient
   event ``--large-runs`` times.

See bench/README.md for what each figure means. Stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import scaling
from channel_rates import KEY_FUNCTIONS as SEND_KEYS
from city_build import CITY, City, generate, write
from e2e import api_and_workers
from match_scale import (
    CITYWIDE,
    announcement,
    citywide,
    expected_counts,
    print_rows,
    py_spy_start,
    py_spy_stop,
    run_flow,
)
from measure import CpuMeter, latency_summary, machine_busy, rss_mb, timed
from raw_clients import start_raw
from redis.asyncio import Redis
from send_setup import Collector, built_messages, server_settings, start_servers
from send_setup import expand as expand_rates
from send_setup import seed as seed_rates

from notifier.api.auth import create_department_key
from notifier.cli.topics import create as create_topics
from notifier.dev import embedded
from notifier.dev.redis_cluster import ClusterGroup
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Settings
from notifier.wiring import build_deps, make_channels, make_redis
from streams.deps import Deps
from streams.state.ledger import FINAL, Ledger
from subscriptions.areas import AreaCatalogue, load_catalogue
from subscriptions.contacts import CHANNELS
from subscriptions.live_index import LiveIndex
from subscriptions.matcher import Matcher
from subscriptions.store import key, new_id
from subscriptions.subscription import parse_subscription

HERE = Path(__file__).resolve().parent
RESERVED = "culture"  # the neighbourhood events' category: only the dedicated citizens have it
SMALL = (RESERVED, "minor")
CYCLE = ("email",) * 6 + ("sms",) * 2 + ("push",) * 2  # dedicated citizen j's channel: j % 10
HANDED = ("sent", "delivered")
QUEUED_GOAL_S, DRAIN_GOAL_S, RATIO_GOAL = 60.0, 480.0, 0.75
SMALL_GOAL_MS, LARGE_GOAL_S = 250.0, 5.0
SESSION_TIMEOUT = 6.0
PUSH_POOL = 1000  # key pairs the push service holds for every push subscriber


# -- the city and the dedicated citizens ----------------------------------------------------------


def reserve(city: City, category: str) -> int:
    """Take ``category`` out of the generated subscriptions (``general`` where it was the only
    one): the events in it reach the dedicated citizens only. How many were changed."""
    changed = 0
    for i, s in enumerate(city.subs):
        if category in s.categories:
            rest = tuple(c for c in s.categories if c != category) or ("general",)
            city.subs[i] = dataclasses.replace(s, categories=rest)
            changed += 1
    return changed


class PushPool:
    """Push subscriptions on the local push service: token ``<prefix><n>`` uses the keys of
    pool item ``n % len(pool)`` (``channel_servers.PooledSubscribers``)."""

    def __init__(self, pool: list[dict[str, Any]]) -> None:
        self.pool = pool
        self.base = pool[0]["endpoint"].rsplit("/", 1)[0]

    def of(self, prefix: str, n: int) -> tuple[str, str, str]:
        keys = self.pool[n % len(self.pool)]["keys"]
        return f"{self.base}/{prefix}{n}", keys["p256dh"], keys["auth"]

    def city(self, c: int) -> tuple[str, str, str]:
        return self.of("c", c)

    def subscriptions(self, prefix: str, n: int) -> list[dict[str, Any]]:
        out = []
        for i in range(n):
            endpoint, p256dh, auth = self.of(prefix, i)
            out.append({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
        return out


@dataclasses.dataclass
class Group:
    quartier: str
    keys: list[str]  # the members' arrival keys (channel_servers.Arrivals)
    channels: Counter[str]
    busy: asyncio.Task[Any] | None = None  # its last event, until all of it arrived


async def seed_group(
    deps: Deps, catalogue: AreaCatalogue, push: PushPool, quartier: str, first: int, n: int
) -> Group:
    """``n`` citizens (numbers ``first``..), each with one confirmed contact point (channel
    ``CYCLE[j % 10]``) and subscribed to ``quartier`` for ``RESERVED`` on it."""
    sem = asyncio.Semaphore(64)
    keys: list[str] = []
    channels: Counter[str] = Counter()

    async def one(j: int) -> None:
        channel = CYCLE[j % len(CYCLE)]
        address, p256dh, auth = {
            "email": (f"n{j}@neighbours.example", "", ""),
            "sms": (f"+337{j:08d}", "", ""),
            "push": push.of("n", j),
        }[channel]
        keys.append(f"{channel}:{address.rsplit('/', 1)[-1]}")
        channels[channel] += 1
        async with sem:
            c = await deps.store.create_citizen(CITY, "fr" if j % 7 else "en")
            await deps.store.add_contact(
                CITY, c.id, channel, address, "confirmed", "bench", p256dh, auth
            )
            body = {"area": quartier, "categories": [RESERVED], "channels": [channel]}
            sub, index = parse_subscription(
                body, sid=new_id("sub"), citizen=c.id, catalogue=catalogue
            )
            await deps.store.add_subscription(CITY, sub, index)

    await asyncio.gather(*(one(j) for j in range(first, first + n)))
    return Group(quartier, keys, channels)


# -- 2. the client libraries alone ----------------------------------------------------------------


@dataclasses.dataclass
class RawRates:
    rates: dict[str, list[float]]  # channel -> msg/s of each round
    cpu: dict[str, str]

    def median(self, channel: str) -> float:
        return statistics.median(self.rates[channel])

    def combined(self, mix: dict[str, int]) -> float:
        """Notifications/s the three libraries, one after the other in one process, would hand
        over the ``mix`` at: its total over the sum of each channel's count / its raw rate."""
        total = sum(mix.values())
        return total / sum(n / self.median(c) for c, n in mix.items() if n)


async def raw_rates(
    settings: Settings, push: PushPool, n: int, repeat: int, meter: CpuMeter, setup_url: str
) -> RawRates:
    """``channel_rates``'s raw runs against the same servers; their setup in the Redis of
    ``setup_url``, emptied after them (not the city's)."""
    s = settings.replace(redis_url=setup_url)
    redis = make_redis(s)
    collector = Collector()
    channels = make_channels(s)  # what builds each message, as send_batch has it built
    deps = build_deps(s, redis, collector.publish, channels)
    raw = {}
    try:
        await seed_rates(deps, push.subscriptions("r", n), n)
        batches = await expand_rates(deps, collector, n)
        msgs = {c: [m for _, m in await built_messages(deps, batches[c])] for c in CHANNELS}
        raw = await start_raw(s, msgs, 8, 64)
        for r in raw.values():  # warm-up: connections opened, code paths run once
            await r.run()
        rates: dict[str, list[float]] = {c: [] for c in CHANNELS}
        cpu: dict[str, str] = {}
        for _ in range(repeat):
            for channel in CHANNELS:
                run = await timed(meter, n, raw[channel].run)
                rates[channel].append(run.rate)
                cpu[channel] = ", ".join(f"{p} {v:.0%}" for p, v in run.cpu.items())
        return RawRates(rates, cpu)
    finally:
        for r in raw.values():
            await r.close()
        for channel in channels.values():
            await channel.close()
        await redis.flushdb()
        await redis.aclose()


# -- the servers' arrival stamps ------------------------------------------------------------------


class Servers:
    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self.http, self.url = http, f"http://127.0.0.1:{port}/bench"

    async def counts(self) -> dict[str, int]:
        async with self.http.get(f"{self.url}/counts") as r:
            return dict(await r.json())

    async def arrivals(self, keys: list[str], since: float) -> dict[str, float | None]:
        async with self.http.post(f"{self.url}/arrivals", json={"keys": keys, "since": since}) as r:
            return dict(await r.json())


@dataclasses.dataclass
class Small:
    posted: float
    latencies: list[float]  # seconds, POST -> each arrival
    missing: int
    during: bool  # posted while the alert drained
    expanded: float  # POST -> the event's processed_at: matched, its batches written
    by_channel: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    event: str = ""
    accepted: float = 0.0  # POST -> its 202

    @property
    def last(self) -> float:
        return max(self.latencies, default=float("nan"))


async def small_event(
    http: aiohttp.ClientSession,
    servers: Servers,
    redis: Redis,
    group: Group,
    category: str,
    severity: str,
    within: float,
    during: bool = False,
) -> Small:
    """POST an event to the group's quartier; wait until each member's message arrived."""
    posted = time.time()
    body = announcement(category, severity, [group.quartier])
    async with http.post(f"/v1/cities/{CITY}/announcements", json=body) as r:
        if r.status != 202:
            raise RuntimeError(f"POST announcement: {r.status} {await r.text()}")
        event = str((await r.json())["id"])
    accepted = time.time() - posted
    deadline = time.monotonic() + within
    while True:
        await asyncio.sleep(0.25)
        got = await servers.arrivals(group.keys, posted)
        times = [t for t in got.values() if t is not None]
        if len(times) == len(group.keys) or time.monotonic() > deadline:
            processed = await redis.hget(key(CITY, "event", event), "processed_at")
            expanded = float(processed or "nan") - posted
            missing = len(group.keys) - len(times)
            by_channel: dict[str, list[float]] = {}
            for k, t in got.items():
                if t is not None:
                    by_channel.setdefault(k.split(":", 1)[0], []).append(t - posted)
            latencies = [t - posted for t in times]
            return Small(posted, latencies, missing, during, expanded, by_channel, event, accepted)


def write_small_events(path: Path, events: list[Small], alert_accepted: float) -> None:
    """One line per neighbourhood event: its id, when it was posted (epoch s, and s after the
    alert was accepted), POST -> processed_at and -> its last arrival, ms."""
    with path.open("w") as f:
        f.write("event,posted,after_alert_s,during,accepted_ms,expanded_ms,last_ms,missing\n")
        for e in events:
            f.write(f"{e.event},{e.posted:.3f},{e.posted - alert_accepted:.1f},{int(e.during)},"
                    f"{e.accepted * 1000:.0f},"
                    f"{e.expanded * 1000:.0f},{e.last * 1000:.0f},{e.missing}\n")  # fmt: skip


def summary(events: list[Small]) -> str:
    if not events:
        return "-"
    s = latency_summary([v for e in events for v in e.latencies])
    return f"{s['p50']:,.0f} / {s['p99']:,.0f} / {s['max']:,.0f}"


def by_channel(events: list[Small]) -> str:
    """p50 / p99 per channel: which lane a tail comes from."""
    out = []
    for channel in CHANNELS:
        values = [v for e in events for v in e.by_channel.get(channel, [])]
        if values:
            s = latency_summary(values)
            out.append(f"{channel} {s['p50']:,.0f}/{s['p99']:,.0f}")
    return ", ".join(out) or "-"


def expanded(events: list[Small]) -> str:
    if not events:
        return "-"
    s = latency_summary([e.expanded for e in events])
    return f"{s['p50']:,.0f} / {s['p99']:,.0f}"


def last_p99(events: list[Small]) -> str:
    if not events:
        return "-"
    s = latency_summary([e.last for e in events])
    return f"{s['p50']:,.0f} / {s['p99']:,.0f}"


async def neighbourhood_events(
    http: aiohttp.ClientSession,
    servers: Servers,
    redis: Redis,
    groups: list[Group],
    every: float,
    within: float,
    stop: asyncio.Event,
) -> tuple[list[Small], int]:
    """A neighbourhood event every ``every`` seconds until ``stop``, each to the next group
    whose last event has all arrived (a group still waiting is passed over: counted); each
    waited for ``within`` seconds at most."""
    tasks: list[asyncio.Task[Small]] = []
    passed, k = 0, 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            break
        except TimeoutError:
            pass
        group = groups[k % len(groups)]
        k += 1
        if group.busy is not None and not group.busy.done():
            passed += 1
            continue
        task = asyncio.create_task(
            small_event(http, servers, redis, group, *SMALL, within, during=True)
        )
        group.busy = task
        tasks.append(task)
    return list(await asyncio.gather(*tasks)), passed


# -- 4. the alert ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Drain:
    expected: dict[str, int]
    accepted: float
    queued_s: float  # accepted -> all queued
    handed: dict[str, int]  # channel -> sent or delivered when it stopped
    other: dict[str, int]  # channel -> other final statuses (failed, ...)
    done: dict[str, float]  # channel -> accepted -> its last handed over, s
    end: float  # the last count (all handed over, or the limit)
    series: list[tuple[float, int]]  # (time.time(), handed over in all)
    provider: dict[str, int]  # what the servers took from the POST to the end
    cpu: str = ""
    others: float = 0.0
    profile: list[str] = dataclasses.field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.expected.values())

    @property
    def handed_total(self) -> int:
        return sum(self.handed.values())

    @property
    def complete(self) -> bool:
        return all(
            self.handed.get(c, 0) + self.other.get(c, 0) >= n for c, n in self.expected.items()
        )

    @property
    def rate(self) -> float:
        """Handed over per second, from the event's acceptance to the last count."""
        return self.handed_total / (self.end - self.accepted)

    def rate_between(self, t0: float, t1: float) -> float:
        inside = [(t, n) for t, n in self.series if t0 <= t <= t1]
        if len(inside) < 2:
            return float("nan")
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


async def drain(
    redis: Redis, event: str, expected: dict[str, int], accepted: float, queued_s: float,
    limit: float, procs: list[subprocess.Popen[bytes]], servers: Servers, before: dict[str, int],
) -> Drain:  # fmt: skip
    """Reads the event's ledger counts every 0.5 s until every notification has a final
    status or was handed over, or ``limit`` seconds after the acceptance."""
    ledger = Ledger(redis)
    series: list[tuple[float, int]] = []
    done: dict[str, float] = {}
    while True:
        counts = await ledger.counts(CITY, event)
        now = time.time()
        handed = {c: sum(v.get(s, 0) for s in HANDED) for c, v in counts.items()}
        other = {
            c: sum(n for s, n in v.items() if s in FINAL and s not in HANDED)
            for c, v in counts.items()
        }
        series.append((now, sum(handed.values())))
        for c, n in expected.items():
            if c not in done and handed.get(c, 0) + other.get(c, 0) >= n:
                done[c] = now - accepted
        if len(done) == len(expected) or now - accepted > limit:
            break
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited with {proc.returncode}")
        await asyncio.sleep(0.5)
    after = await servers.counts()
    provider = {k: after[k] - before[k] for k in ("smtp", "twilio", "push")}
    return Drain(expected, accepted, queued_s, handed, other, done, now, series, provider)


async def profile_workers(
    py_spy: str, procs: list[subprocess.Popen[bytes]], seconds: float, logs: Path
) -> list[str]:
    """Both workers sampled by py-spy at 100 Hz for ``seconds``, summed."""
    outs = [logs / f"py-spy-worker-{i + 1}.txt" for i in range(len(procs))]
    spies = [await py_spy_start(py_spy, p.pid, o) for p, o in zip(procs, outs, strict=True)]
    await asyncio.sleep(seconds)
    lines = []
    for i, (spy, out) in enumerate(zip(spies, outs, strict=True)):
        lines.append(f"  worker {i + 1}:")
        lines += await py_spy_stop(spy, out, SEND_KEYS)
    return lines


def deliveries_by_worker(logs: list[Path]) -> list[int]:
    """The per-delivery log lines (``outcome=sent``) of each worker's log, the whole run."""
    out = []
    for log in logs:
        with log.open(errors="replace") as fh:
            out.append(sum(" outcome=sent " in line for line in fh))
    return out


# -- the run --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    subscriptions: int
    citizens: int
    build_s: float
    reserved: int
    raw: RawRates
    flow_shards: int
    flow_matched: int
    drain: Drain
    small_during: list[Small]
    passed: int
    small_alone: list[Small]
    large: list[Small]
    large_channels: Counter[str]
    small_size: int
    partitions: int
    by_worker: list[int]
    peaks: list[float]
    warmup_s: float


def print_table(r: Result) -> None:
    d, raw = r.drain, r.raw
    combined = raw.combined(d.expected)
    mix = ", ".join(f"{c} {n:,}" for c, n in d.expected.items())
    if d.complete:
        handed = f"{d.end - d.accepted:.1f}"
        projected = ""
    else:
        left = d.total - d.handed_total - sum(d.other.values())
        at = d.rate_between(d.end - 120.0, d.end)  # the last two minutes' rate
        projected = (  # none handed over in the last two minutes: stuck, said so
            f" (stopped; projected {d.end - d.accepted + left / at:,.0f})"
            if at > 0
            else f" (stopped; {left:,} not handed over, none in the last two minutes)"
        )
        handed = f"> {d.end - d.accepted:.0f}"
    large = [e.last for e in r.large]
    rows = [
        (f"build: {r.subscriptions:,} subscriptions, {r.citizens:,} citizens, s",
         f"{r.build_s:.1f}", ""),
        *((f"raw client library, {c}, msg/s (median of {len(raw.rates[c])})",
           f"{raw.median(c):,.0f}", "") for c in CHANNELS),
        (f"raw combined for the alert's mix ({mix}), msg/s", f"{combined:,.0f}", ""),
        ("alert: accepted -> all queued, s", f"{d.queued_s:.1f}", f"<= {QUEUED_GOAL_S:g}"),
        *((f"alert: accepted -> {c} all handed over ({d.handed.get(c, 0):,} of {n:,}), s",
           f"{d.done[c]:.1f}" if c in d.done else "-", "") for c, n in d.expected.items()),
        (f"alert: accepted -> all {d.total:,} handed over, two workers, s{projected}", handed,
         f"<= {DRAIN_GOAL_S:g}"),
        ("alert: handed over / s, accepted -> last", f"{d.rate:,.0f}", ""),
        ("alert: handed over / s, once all queued",
         f"{d.rate_between(d.accepted + d.queued_s, d.end):,.0f}", ""),
        ("ratio handed over / raw combined", f"{d.rate / combined:.2f}", f">= {RATIO_GOAL:g}"),
        (f"neighbourhood event ({r.small_size}) during the drain, p50 / p99 / max, ms",
         summary(r.small_during), f"p99 <= {SMALL_GOAL_MS:g}"),
        ("  its last recipient, p50 / p99 over events, ms", last_p99(r.small_during), ""),
        ("  by channel, p50/p99, ms", by_channel(r.small_during), ""),
        ("  POST -> matched and batches written, p50 / p99, ms", expanded(r.small_during), ""),
        ("  posted while the alert was being queued, p50 / p99 / max, ms",
         summary([e for e in r.small_during if e.posted < d.accepted + d.queued_s]), ""),
        ("  posted once it was all queued, p50 / p99 / max, ms",
         summary([e for e in r.small_during if e.posted >= d.accepted + d.queued_s]), ""),
        (f"neighbourhood event ({r.small_size}) alone, p50 / p99 / max, ms", summary(r.small_alone),
         f"p99 <= {SMALL_GOAL_MS:g}"),
        ("  its last recipient, p50 / p99 over events, ms", last_p99(r.small_alone), ""),
        ("  by channel, p50/p99, ms", by_channel(r.small_alone), ""),
        ("  POST -> matched and batches written, p50 / p99, ms", expanded(r.small_alone), ""),
        (f"{sum(r.large_channels.values()):,}-recipient event alone, POST -> last, s",
         " / ".join(f"{v:.2f}" for v in large) or "-", f"<= {LARGE_GOAL_S:g}"),
    ]  # fmt: skip
    print_rows(rows)
    print(f"alert: {r.flow_matched:,} citizens matched, {r.flow_shards} shards; topics with "
          f"{r.partitions} partitions; other final statuses {d.other}; the servers took "
          f"{d.provider} from the POST to the end (neighbourhood events included); 'sent' "
          f"lines per worker log, whole run: {r.by_worker}")  # fmt: skip
    print(f"  CPU from POST to the end of the drain (share of one core): {d.cpu}, "
          f"others {d.others:.0%}")  # fmt: skip
    print(
        "  raw runs, CPU of the last round: " + "; ".join(f"{c}: {v}" for c, v in raw.cpu.items())
    )
    during = sum(len(e.latencies) for e in r.small_during)
    missing = sum(e.missing for e in r.small_during + r.small_alone + r.large)
    print(f"neighbourhood events: {len(r.small_during)} during the drain ({during:,} "
          f"notifications; {r.passed} passed over, their group still waiting), "
          f"{len(r.small_alone)} alone; not arrived when given up: {missing}; large event channels "
          f"{dict(r.large_channels)}")  # fmt: skip
    print(f"workers: warm-up (join, both load the city) {r.warmup_s:.1f}s; peak RSS "
          + " / ".join(f"{p:,.0f}" for p in r.peaks) + " MB; " + f"{r.reserved:,} generated "
          f"subscriptions had {RESERVED!r} taken out")  # fmt: skip
    if d.profile:
        print("workers during the drain (py-spy, 100 Hz):")
        print("\n".join(d.profile))


async def bench(
    args: argparse.Namespace,
    ports: dict[str, int],
    push: PushPool,
    logs: Path,
    pids: dict[str, int],
    redis_urls: dict[str, str],
) -> None:
    catalogue = load_catalogue(CITY)
    quartiers = [a.code for a in catalogue.of_kind("quartier")]
    shape = "one redis-server" if args.redis == "server" else "a Redis Cluster, 3 primaries"
    if args.min_replicas_to_write:
        shape += f", min-replicas-to-write {args.min_replicas_to_write}"
    print(f"redis: {shape}; build: {args.subscriptions:,} subscriptions", flush=True)
    t0 = time.perf_counter()
    city = generate(args.subscriptions, catalogue)
    reserved = reserve(city, RESERVED)
    await asyncio.to_thread(write, city, ports["city"], push.city)  # the city's slot's primary
    build_s = time.perf_counter() - t0
    confirmed, n_citizens = city.confirmed_bits(), len(city.citizens)
    del city
    print(f"  {build_s:.1f}s", flush=True)
    run = uuid.uuid4().hex[:8]
    settings = server_settings(
        ports,
        redis_url=redis_urls["service"],
        kafka_url=f"kafka://127.0.0.1:{ports['kafka']}",
        topic_prefix=f"bench-{run}.",
        topic_partitions=args.partitions,
        app_id=f"notifier-bench-{run}",
        broker_session_timeout=SESSION_TIMEOUT,
        api_port=embedded.free_port(),
        data_dir=logs / "worker-data",
    )
    redis = make_redis(settings)
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    deps = build_deps(settings, redis, publisher.publish, channels={})
    meter = CpuMeter({"bench (API)": os.getpid(), **pids})
    try:
        first = 0
        groups = []
        for g in range(args.groups):
            groups.append(await seed_group(deps, catalogue, push, quartiers[g], first, args.group))
            first += args.group
        large = await seed_group(deps, catalogue, push, quartiers[args.groups], first, args.large)
        print(f"  dedicated citizens: {args.groups} groups of {args.group}, {args.large} on "
              f"{large.quartier}", flush=True)  # fmt: skip
        # who the alert should reach (as match_scale finds it), then the matcher is let go
        matcher = Matcher(redis, {CITY: catalogue})
        matcher.indexes[CITY] = LiveIndex(redis, CITY, catalogue)
        audience = await matcher.match(CITY, citywide(catalogue), *CITYWIDE)
        expected = expected_counts(audience, confirmed)
        del matcher, audience, confirmed
        gc.collect()
        print(f"  the alert should queue {expected}", flush=True)

        print("raw client libraries against the servers", flush=True)
        raw = await raw_rates(
            settings, push, args.raw_messages, args.raw_repeat, meter, redis_urls["raw"]
        )
        print("  " + ", ".join(f"{c} {raw.median(c):,.0f}/s" for c in CHANNELS), flush=True)

        report = await create_topics(settings)
        if not report.ok:
            raise RuntimeError(f"topics: {report.problems}")
        api_key = await create_department_key(redis, CITY, "prefecture", "bench")
        wlogs = [logs / "worker-1.log", logs / "worker-2.log"]
        gc.freeze()  # this process's setup data is not the API's: its collections skip it
        async with (
            api_and_workers(settings, deps, publisher, wlogs) as procs,
            aiohttp.ClientSession(
                settings.base_url, headers={"Authorization": f"Bearer {api_key}"}
            ) as http,
            aiohttp.ClientSession() as plain,
        ):
            servers = Servers(plain, ports["push"])
            t = time.monotonic()
            loaded = 0
            for k in range(args.max_warmups):
                e = await small_event(http, servers, redis, groups[k % len(groups)], *SMALL, 180.0)
                loaded = sum("subscriptions loaded" in w.read_text(errors="replace") for w in wlogs)
                print(f"  warm-up {k + 1}: last arrival after {e.last:.2f}s, workers with the "
                      f"city loaded: {loaded}", flush=True)  # fmt: skip
                if loaded == len(wlogs) and k >= 3 and e.last < 2.0:
                    break
            warmup_s = time.monotonic() - t
            for group in groups:
                group.busy = None
            print("city-wide alert", flush=True)
            pids2 = {"worker 1": procs[0].pid, "worker 2": procs[1].pid}
            meter2 = CpuMeter({**pids2, "bench (API)": os.getpid(), **pids})
            busy = machine_busy()
            stop = asyncio.Event()
            before = await servers.counts()
            meter2.start()
            small = asyncio.create_task(
                neighbourhood_events(
                    http, servers, redis, groups, args.every, args.drain_limit, stop
                )
            )
            flow = await run_flow(
                http,
                redis,
                announcement(*CITYWIDE, [a.code for a in catalogue.of_kind("arrondissement")]),
                expected,
                procs[0],
                args.drain_limit,
            )
            queued_s = flow.all_done
            print(f"  all queued after {queued_s:.1f}s; draining", flush=True)
            scaler = None
            if args.scale:  # bench/scaling.py
                scaler = asyncio.create_task(
                    scaling.scale(settings, procs, logs, flow.accepted, *args.scale)
                )
            spy = None
            if args.py_spy:
                spy = asyncio.create_task(
                    profile_workers(args.py_spy, procs, args.py_spy_seconds, logs)
                )
            d = await drain(redis, flow.event, expected, flow.accepted, queued_s,
                            args.drain_limit, procs, servers, before)  # fmt: skip
            meter2.stop()
            d.cpu = meter2.line()
            d.others = max(
                0.0,
                (machine_busy() - busy) / (d.end - flow.posted)
                - sum(v for v in meter2.shares.values() if v == v),
            )
            stop.set()
            scaled = None
            if scaler is not None:
                if not scaler.done():  # the drain ended first: what happened is reported
                    scaler.cancel()
                [scaled] = await asyncio.gather(scaler, return_exceptions=True)
            during, passed = await small
            if spy is not None:
                d.profile = await spy
            print(
                f"  handed over {d.handed_total:,} of {d.total:,} after {d.end - d.accepted:.1f}s",
                flush=True,
            )
            alone = []
            for k in range(args.alone):
                alone.append(
                    await small_event(http, servers, redis, groups[k % len(groups)], *SMALL, 120.0)
                )
                await asyncio.sleep(0.5)
            big = []
            for _ in range(args.large_runs):
                big.append(await small_event(http, servers, redis, large, *SMALL, 120.0))
                await asyncio.sleep(1.0)
            peaks = [rss_mb(p.pid, "VmHWM") for p in procs]
        by_worker = await asyncio.to_thread(deliveries_by_worker, wlogs)
        if args.logs:  # each neighbourhood event's figures, to read beside the workers' logs
            write_small_events(logs / "small-events.csv", [*during, *alone], flow.accepted)
    finally:
        await redis.aclose()
    print_table(Result(args.subscriptions, n_citizens, build_s, reserved, raw, flow.shards,
                       flow.matched, d, during, passed, alone, big, large.channels, args.group,
                       args.partitions, by_worker, peaks, warmup_s))  # fmt: skip
    if isinstance(scaled, scaling.Scaled):
        print("scaling the workers during the drain (bench/scaling.py):")
        for line in scaling.report(scaled, d.series, d.end, d.accepted):
            print(line)
        small = sum(len(e.latencies) for e in during)
        extra = sum(d.provider.values()) - d.total - small
        print(f"  the providers took {extra:,} messages more than the alert's notifications and "
              f"the neighbourhood events' arrivals: sent twice, about")  # fmt: skip
    elif scaled is not None:
        print(f"scaling the workers: {scaled!r}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4, help="of every topic (4)")
    parser.add_argument("--groups", type=int, default=20, help="neighbourhood groups (20)")
    parser.add_argument("--group", type=int, default=100, help="citizens per group (100)")
    parser.add_argument("--large", type=int, default=5000, help="the large event's citizens")
    parser.add_argument("--every", type=float, default=3.0, help="s between neighbourhood events")
    parser.add_argument(
        "--alone", type=int, default=30, help="neighbourhood events after the drain"
    )
    parser.add_argument("--large-runs", type=int, default=3)
    parser.add_argument("--raw-messages", type=int, default=2000)
    parser.add_argument("--raw-repeat", type=int, default=3)
    parser.add_argument("--max-warmups", type=int, default=12)
    parser.add_argument("--drain-limit", type=float, default=900.0, help="s after the POST (900)")
    parser.add_argument("--py-spy", default=None, help="also profile both workers with this py-spy")
    parser.add_argument("--py-spy-seconds", type=float, default=30.0)
    parser.add_argument("--logs", type=Path, default=None, help="keep the logs in this folder")
    parser.add_argument(
        "--scale",
        nargs=2,
        type=float,
        metavar=("JOIN", "LEAVE"),
        help="a third worker joins JOIN s after the alert's POST, worker 1 leaves at LEAVE s",
    )
    parser.add_argument(
        "--redis",
        choices=("server", "cluster"),
        default="server",
        help="one redis-server (default), or a Redis Cluster of 3 primaries and 3 replicas",
    )
    parser.add_argument(
        "--min-replicas-to-write",
        type=int,
        default=0,
        help="with --redis cluster: each primary's min-replicas-to-write (0: Redis's default)",
    )
    parser.add_argument(
        "--servers-no-freeze",
        action="store_true",
        help="the providers' servers leave what they keep to full collections (a diagnostic)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="notifier-bench-citywide-") as tmp:
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        procs: list[subprocess.Popen[bytes]] = []
        clusters: list[ClusterGroup] = []
        try:
            ports = {k: embedded.free_port() for k in ("kafka", "redis", "smtp", "twilio", "push")}
            procs.append(embedded.start_tansu(ports["kafka"], logs / "tansu.log"))
            procs.append(embedded.start_redis(ports["redis"], None, logs / "redis.log"))
            one = f"redis://127.0.0.1:{ports['redis']}"
            urls, ports["city"] = {"service": one + "/0", "raw": one + "/1"}, ports["redis"]
            if args.redis == "cluster":  # the city on the cluster; the raw runs' setup beside
                cluster = ClusterGroup(Path(tmp) / "redis-cluster", logs)
                clusters.append(cluster)
                cluster.up()
                if args.min_replicas_to_write:  # a primary takes no write its replica lags
                    cluster.config_set("min-replicas-to-write", args.min_replicas_to_write)
                    cluster.config_set("min-replicas-max-lag", 10)
                urls = {"service": cluster.url, "raw": one + "/0"}
                ports["city"] = cluster.primary_of(key(CITY, ""))
            more = ("--no-freeze",) if args.servers_no_freeze else ()
            servers, pool = start_servers(
                ports, Path(tmp), logs, "--push-pool", PUSH_POOL, procs, *more
            )
            push = PushPool(pool)
            pids = {"tansu": procs[0].pid, "redis": procs[1].pid, "servers": servers.pid}
            for cluster in clusters:
                pids = {k: v for k, v in pids.items() if k != "redis"}
                for port in cluster.primaries():
                    pids[f"redis {port}"] = cluster.procs[port].pid
            asyncio.run(bench(args, ports, push, logs, pids, urls))
        finally:
            for proc in reversed(procs):
                embedded.stop(proc)
            for cluster in clusters:
                cluster.down()


if __name__ == "__main__":
    main()
