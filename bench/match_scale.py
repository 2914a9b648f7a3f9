"""Matching and fan-out at city scale: a million subscriptions over Paris, in one run.

    .venv/bin/python bench/match_scale.py [--subscriptions 1000000] [--py-spy PATH] [--logs DIR]

Starts its own redis-server (no persistence) and Tansu broker on free loopback ports, then:

1. build: ``--subscriptions`` subscriptions with their citizens and contact points
   (``bench/city_build.py``: the mix, and how they are written) in the empty Redis;
2. index load: ``LiveIndex.refresh`` of a fresh ``Matcher`` in this process, as a worker loads
   the city on its first match (scan, read every subscription, build the columns);
3. match latency: ``Matcher.match`` on events to each of the 80 quartiers (``--rounds``
   times, categories and severities drawn at random) and to the whole city (its 20
   arrondissements, ``--citywide`` times), then the audience materialised as the expansion
   uses it (``Audience.wanting`` for each channel);
4. city-wide alert: one ``python -m notifier worker`` (email, SMS and web push configured;
   the providers pointed at closed ports and limited to 1 message/s each, so the send agents
   wait instead of working), a warm-up announcement (the worker loads the city), then a
   ``safety``/``severe`` announcement to the 20 arrondissements POSTed to the real API; the
   ledger's counts are read every 50 ms until every notification the audience should get is
   queued, per channel.

See bench/README.md for what each figure means. Stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import functools
import gc
import os
import pstats
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from channel_servers import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM
from city_build import CITY, check_index, generate, write
from e2e import api_and_worker
from measure import CpuMeter, latency_summary, machine_busy, rss_mb
from profiles import Key, from_py_spy
from redis.asyncio import Redis

from channels.push import generate_vapid_keys
from notifier.api.auth import create_department_key
from notifier.dev import embedded
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps, make_redis
from subscriptions.areas import AreaCatalogue, load_catalogue
from subscriptions.categories import CATEGORIES
from subscriptions.contacts import CHANNELS
from subscriptions.live_index import Audience, LiveIndex
from subscriptions.matcher import Matcher, Target
from subscriptions.store import key

QUARTIER_GOAL_MS = 10.0
CITYWIDE_GOAL_S = 60.0
STALL = 30.0  # seconds with nothing more queued (once some is) before a flow is reported as is
POLL = 0.05
SESSION_TIMEOUT = 6.0
CITYWIDE = ("safety", "severe")
CITYWIDE_SAMPLES = (
    ("safety", "severe"),
    ("weather", "moderate"),
    ("roadworks", "minor"),
    ("transport", "extreme"),
)
WARMUP = ("culture", "minor", "7510501")
CONTENT = {
    "fr": {
        "title": "Alerte canicule",
        "body": "Restez au frais, buvez de l'eau, prenez des nouvelles de vos proches.",
        "link": "https://www.paris.fr/canicule",
    },
    "en": {"title": "Heatwave alert", "body": "Stay cool, drink water, check on your neighbours."},
}
# (function, end of its file's path): the share of the worker's samples with it on the stack
KEY_FUNCTIONS = (
    ("expand_announcement", "streams/delivery/expand.py"),
    ("match", "subscriptions/matcher.py"),
    ("shards", "streams/delivery/fanout.py"),
    ("expand_shard", "streams/delivery/expand.py"),
    ("from_wire", "streams/delivery/fanout.py"),
    ("add_to_digests", "streams/delivery/digests.py"),
    ("citizens_and_contacts", "subscriptions/store.py"),
    ("queue_announcement", "streams/delivery/expand.py"),  # each channel runs in a task of its own
    ("_recipients", "streams/delivery/expand.py"),
    ("sign", "subscriptions/tokens.py"),
    ("notification_id", "streams/state/ledger.py"),
    ("enqueue", "streams/state/ledger.py"),
    ("to_wire", "streams/records.py"),
    ("execute_command", "redis/asyncio/client.py"),
    ("execute", "redis/asyncio/client.py"),
)


# -- memory ---------------------------------------------------------------------------------------


def deep_size(root: object) -> int:
    """Bytes of an object and of everything its dicts, lists, tuples and sets hold, each
    object once (arrays count their buffers)."""
    seen: set[int] = set()
    total, stack = 0, [root]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple | set | frozenset):
            stack.extend(o)
    return total


def index_size(index: LiveIndex) -> int:
    held = {k: v for k, v in vars(index).items() if k not in ("redis", "catalogue", "city")}
    return deep_size(held)


# -- match latency ----------------------------------------------------------------------------


@dataclasses.dataclass
class Latency:
    match: list[float] = dataclasses.field(default_factory=list)  # seconds
    materialised: list[float] = dataclasses.field(default_factory=list)  # match + wanting
    audiences: list[int] = dataclasses.field(default_factory=list)

    def line(self, which: str) -> str:
        s = latency_summary(self.match if which == "match" else self.materialised)
        return f"{s['p50']:.2f} / {s['p99']:.2f} / {s['max']:.2f}"


async def timed_match(
    matcher: Matcher, target: Target, category: str, severity: str, into: Latency
) -> Audience:
    t0 = time.perf_counter()
    audience = await matcher.match(CITY, target, category, severity)
    t1 = time.perf_counter()
    for channel in CHANNELS:
        audience.wanting(channel)
    t2 = time.perf_counter()
    into.match.append(t1 - t0)
    into.materialised.append(t2 - t0)
    into.audiences.append(len(audience))
    return audience


def citywide(catalogue: AreaCatalogue) -> Target:
    return Target(tuple(a.code for a in catalogue.of_kind("arrondissement")))


async def latencies(
    matcher: Matcher, catalogue: AreaCatalogue, rounds: int, citywide_n: int
) -> tuple[Latency, Latency, list[str]]:
    rng = random.Random(11)
    quartiers = [a.code for a in catalogue.of_kind("quartier")]
    q = Latency()
    for _ in range(rounds):
        rng.shuffle(quartiers)
        for code in quartiers:
            severity = rng.choice(("minor", "moderate", "severe"))
            await timed_match(matcher, Target((code,)), rng.choice(CATEGORIES), severity, q)
    c = Latency()
    for i in range(citywide_n):
        category, severity = CITYWIDE_SAMPLES[i % len(CITYWIDE_SAMPLES)]
        await timed_match(matcher, citywide(catalogue), category, severity, c)
    # where a city-wide match spends its time (cProfile, in this process)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(3):
        await timed_match(matcher, citywide(catalogue), *CITYWIDE, Latency())
    prof.disable()
    return q, c, profile_lines(prof)


def profile_lines(prof: cProfile.Profile, top: int = 8) -> list[str]:
    stats: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    own = [(tt, ct, fn) for fn, (_, _, tt, ct, _) in stats.items() if "epoll" not in fn[2]]
    total = sum(tt for tt, _, _ in own) or 1.0
    out = []
    for tt, _, (filename, line, function) in sorted(own, reverse=True)[:top]:
        where = filename.rsplit("site-packages/", 1)[-1].replace(str(Path.cwd()) + "/", "")
        out.append(f"    {tt / total:>4.0%}  {function} ({where}:{line})")
    return out


# -- the city-wide alert through one worker -------------------------------------------------------


@dataclasses.dataclass
class Flow:
    event: str
    expected: dict[str, int]
    posted: float  # wall clock (time.time), the POST sent
    accepted: float  # the event's accepted_at, as the API stored it
    answered: float  # the 202 read
    processed: float  # the event's processed_at: matched, shards written
    done: dict[str, float]  # channel -> when its last notification was queued
    queued: dict[str, int]
    shards: int
    matched: int
    cpu: str = ""
    others: float = 0.0

    def until(self, channel: str) -> float:
        return self.done.get(channel, float("nan")) - self.accepted

    @property
    def all_done(self) -> float:
        if any(self.queued.get(c, 0) < n for c, n in self.expected.items()):
            return float("nan")
        return max(self.done.values(), default=self.processed) - self.accepted


def expected_counts(audience: Audience, confirmed: dict[str, int]) -> dict[str, int]:
    """Notifications the ledger should get per channel: citizens told at once on it who have
    a confirmed contact point there."""
    out = {}
    for i, channel in enumerate(CHANNELS):
        out[channel] = sum(confirmed.get(c, 0) >> i & 1 for c in audience.wanting(channel))
    return out


async def ledger_counts(redis: Redis, event: str, digested: bool = False) -> dict[str, int]:
    """Notifications of an event in the ledger per channel, whatever their status (with
    ``digested``: the items put in digests instead, which the counts hold too)."""
    out: dict[str, int] = {}
    for field, n in (await redis.hgetall(key(CITY, "event", event, "counts"))).items():
        channel, _, status = field.partition(":")
        if (status == "digested") == digested:
            out[channel] = out.get(channel, 0) + int(n)
    return out


async def run_flow(
    http: aiohttp.ClientSession,
    redis: Redis,
    body: dict[str, Any],
    expected: dict[str, int],
    proc: subprocess.Popen[bytes],
    within: float,
) -> Flow:
    posted = time.time()
    async with http.post(f"/v1/cities/{CITY}/announcements", json=body) as r:
        if r.status != 202:
            raise RuntimeError(f"POST announcement: {r.status} {await r.text()}")
        event = str((await r.json())["id"])
    answered = time.time()
    done: dict[str, float] = {}
    queued: dict[str, int] = {}
    moved, deadline = time.monotonic(), time.monotonic() + within
    while True:
        counts = await ledger_counts(redis, event)
        now = time.time()
        if counts != queued:
            moved = time.monotonic()
        for channel, n in counts.items():
            if n >= expected.get(channel, 0) and channel not in done:
                done[channel] = now
        queued = counts
        h = await redis.hgetall(key(CITY, "event", event))
        finished = all(queued.get(c, 0) >= n for c, n in expected.items())
        if finished and "processed_at" in h:
            break
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}")
        stalled = bool(queued) and time.monotonic() - moved > STALL
        if stalled or time.monotonic() > deadline:
            print(f"  !! stopped waiting: queued {queued} of {expected}", flush=True)
            break
        await asyncio.sleep(POLL)
    return Flow(
        event,
        expected,
        posted,
        float(h.get("accepted_at", posted)),
        answered,
        float(h.get("processed_at", "nan")),
        {c: t for c, t in done.items() if expected.get(c)},
        queued,
        int(h.get("shards", 0)),
        int(h.get("matched", 0)),
    )


def announcement(category: str, severity: str, areas: list[str]) -> dict[str, Any]:
    return {
        "category": category,
        "severity": severity,
        "target": {"areas": areas},
        "content": CONTENT,
    }


async def py_spy_start(py_spy: str, pid: int, out: Path) -> asyncio.subprocess.Process:
    """py-spy sampling process ``pid`` at 100 Hz into ``out`` (raw stacks) until SIGINT."""
    command = [py_spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw"]
    command += ["--output", str(out), "--nonblocking"]
    quiet = subprocess.DEVNULL
    proc = await asyncio.create_subprocess_exec(*command, stdout=quiet, stderr=quiet)
    await asyncio.sleep(1.0)  # py-spy attaches
    return proc


async def py_spy_stop(
    proc: asyncio.subprocess.Process,
    out: Path,
    keys: Sequence[Key] = KEY_FUNCTIONS,
) -> list[str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)  # it writes what it sampled, then exits
    await asyncio.wait_for(proc.wait(), 60)
    return await asyncio.to_thread(py_spy_summary, out, 14, keys)


def py_spy_summary(out: Path, top: int = 14, keys: Sequence[Key] = KEY_FUNCTIONS) -> list[str]:
    """py-spy's raw stacks summarised (``profiles``), with ``keys`` (by default this bench's
    key functions)."""
    if not out.exists():
        return ["  (py-spy wrote nothing)"]
    profile = from_py_spy(out, keys)
    return [f"  {profile.total:.0f} samples at 100 Hz", *profile.report(top)]


@dataclasses.dataclass
class Worker:
    warmup: float  # POST of the warm-up -> its notifications queued (the worker loads the city)
    flow: Flow
    peak_mb: float
    profile: list[str]
    previews: list[float]  # POST .../announcements/preview of the city-wide alert, seconds


async def preview_times(http: aiohttp.ClientSession, draft: dict[str, Any]) -> list[float]:
    """The API's preview of a draft, three times: the audience matched, its reach counted per
    channel (``SubscriptionStore.reach``), the messages rendered; nothing sent."""
    out = []
    for _ in range(3):
        t = time.perf_counter()
        async with http.post(f"/v1/cities/{CITY}/announcements/preview", json=draft) as r:
            if r.status != 200:
                raise RuntimeError(f"preview: {r.status} {await r.text()}")
            await r.read()
        out.append(time.perf_counter() - t)
    return out


async def run_worker(
    args: argparse.Namespace,
    kafka_url: str,
    redis_url: str,
    matcher: Matcher,
    confirmed: dict[str, int],
    logs: Path,
    pids: dict[str, int],
) -> Worker:
    run = uuid.uuid4().hex[:8]
    closed = embedded.free_port()  # nothing listens there: no provider is reached
    settings = Settings(
        kafka_url=kafka_url,
        redis_url=redis_url,
        smtp_url=Secret(f"smtp://127.0.0.1:{closed}"),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=Secret(AUTH_TOKEN),
        twilio_from=SMS_FROM,
        twilio_base_url=f"http://127.0.0.1:{closed}",
        vapid_private_key=Secret(generate_vapid_keys().private_key),
        push_loopback=True,
        secret_key=Secret("x" * 48),
        topic_prefix=f"bench-{run}.",
        app_id=f"notifier-bench-{run}",
        broker_session_timeout=SESSION_TIMEOUT,
        rates=dict.fromkeys(CHANNELS, 1.0),  # the send agents wait for tokens, 1/s
        api_port=embedded.free_port(),
        data_dir=logs / "worker-data",
    )
    redis = make_redis(settings)
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    deps = build_deps(settings, redis, publisher.publish, channels={})
    deps.matcher = matcher  # the API's, for the preview: loaded already
    catalogue = matcher.catalogues[CITY]
    arrondissements = [a.code for a in catalogue.of_kind("arrondissement")]
    try:
        api_key = await create_department_key(redis, CITY, "prefecture", "bench")
        async with (
            api_and_worker(settings, deps, publisher, logs / "worker.log") as proc,
            aiohttp.ClientSession(
                settings.base_url, headers={"Authorization": f"Bearer {api_key}"}
            ) as http,
        ):
            flow = functools.partial(run_flow, http, redis, proc=proc, within=args.timeout)
            category, severity, code = WARMUP
            audience = await matcher.match(CITY, Target((code,)), category, severity)
            warm = await flow(
                announcement(category, severity, [code]), expected_counts(audience, confirmed)
            )
            print(f"  worker in, city loaded: warm-up queued after {warm.all_done:.1f}s")
            audience = await matcher.match(CITY, citywide(catalogue), *CITYWIDE)
            expected = expected_counts(audience, confirmed)
            print(f"  city-wide alert: {len(audience):,} citizens, {expected}", flush=True)
            previews = await preview_times(http, announcement(*CITYWIDE, arrondissements))
            print(f"  its draft previewed in {' / '.join(f'{t:.2f}' for t in previews)} s")
            gc.collect()
            meter = CpuMeter({"worker": proc.pid, **pids})
            busy = machine_busy()
            meter.start()
            alert = await flow(announcement(*CITYWIDE, arrondissements), expected)
            meter.stop()
            ours = sum(meter.shares.values())
            alert.others = max(0.0, (machine_busy() - busy) / (time.time() - alert.posted) - ours)
            alert.cpu = meter.line()
            profile: list[str] = []
            if args.py_spy:
                print("  profiling a second city-wide alert with py-spy", flush=True)
                out = logs / "py-spy-worker.txt"
                spy = await py_spy_start(args.py_spy, proc.pid, out)
                again = await flow(announcement(*CITYWIDE, arrondissements), expected)
                profile = [
                    f"  (the profiled alert: all queued after {again.all_done:.1f}s)",
                    *await py_spy_stop(spy, out),
                ]
            peak = rss_mb(proc.pid, "VmHWM")
        return Worker(warm.all_done, alert, peak, profile, previews)
    finally:
        await redis.aclose()


# -- the run --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Built:
    subscriptions: int
    citizens: int
    kinds: dict[str, int]
    generate: float
    write: float
    replies: int
    checked: tuple[int, int]
    redis_mb: float


async def build(n: int, catalogue: AreaCatalogue, port: int) -> tuple[Built, dict[str, int]]:
    t0 = time.perf_counter()
    city = generate(n, catalogue)
    t1 = time.perf_counter()
    checked = check_index(city, catalogue)
    t2 = time.perf_counter()
    replies = await asyncio.to_thread(write, city, port)
    t3 = time.perf_counter()
    redis = Redis(port=port, decode_responses=True)
    try:
        redis_mb = (await redis.info("memory"))["used_memory"] / 2**20
    finally:
        await redis.aclose()
    built = Built(n, len(city.citizens), city.kinds, t1 - t0, t3 - t2, replies, checked, redis_mb)
    return built, city.confirmed_bits()


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    """(figure, value, goal) rows as a table, between blank lines."""
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print()
    print(f"{'figure':<{width}}  {'value':>{vwidth}}  goal")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:>{vwidth}}  {goal}")
    print()


def print_table(
    built: Built,
    load_s: float,
    index_mb: float,
    rss: tuple[float, float],
    q: Latency,
    c: Latency,
    w: Worker,
    match_profile: list[str],
) -> None:
    f = w.flow
    rows = [
        (f"build: {built.subscriptions:,} subscriptions, {built.citizens:,} citizens, s",
         f"{built.generate + built.write:.1f}", ""),
        ("index load (LiveIndex, fresh process), s", f"{load_s:.1f}", ""),
        ("quartier event, match p50 / p99 / max, ms", q.line("match"),
         f"p99 <= {QUARTIER_GOAL_MS:g}"),
        ("quartier event, + wanting() x3, p50 / p99 / max, ms", q.line("materialised"), ""),
        ("city-wide event, match p50 / p99 / max, ms", c.line("match"), ""),
        ("city-wide event, + wanting() x3, p50 / p99 / max, ms", c.line("materialised"), ""),
        *(
            (f"city-wide alert, accepted -> {ch} queued ({f.queued.get(ch, 0):,} of {n:,}), s",
             f"{f.until(ch):.1f}", "")
            for ch, n in f.expected.items()
        ),
        ("city-wide alert, accepted -> all queued, s", f"{f.all_done:.1f}",
         f"<= {CITYWIDE_GOAL_S:g}"),
        ("city-wide draft, API preview (reach per channel), 3 runs, s",
         " / ".join(f"{t:.2f}" for t in w.previews), ""),
        ("live index, own size, MB", f"{index_mb:,.0f}", ""),
        ("this process RSS, index loaded / peak, MB", f"{rss[0]:,.0f} / {rss[1]:,.0f}", ""),
        ("worker peak RSS, MB", f"{w.peak_mb:,.0f}", ""),
        ("redis used_memory after build, MB", f"{built.redis_mb:,.0f}", ""),
    ]  # fmt: skip
    print_rows(rows)
    kinds = ", ".join(f"{k} {v:,}" for k, v in built.kinds.items())
    print(f"build: {kinds}; generated in {built.generate:.1f}s, written in {built.write:.1f}s "
          f"({built.replies:,} commands); index entries of {built.checked[0]} shapes checked "
          f"against parse_subscription: {built.checked[1]} differ")  # fmt: skip
    print(
        f"audiences: quartier events median {sorted(q.audiences)[len(q.audiences) // 2]:,} "
        f"citizens (max {max(q.audiences):,}, {len(q.audiences)} events); city-wide "
        f"{min(c.audiences):,}-{max(c.audiences):,} ({len(c.audiences)} events)"
    )
    print(
        f"city-wide alert: {f.matched:,} citizens matched, {f.shards} shards; POST -> 202 "
        f"{f.answered - f.posted:.3f}s; accepted -> matched and shards written "
        f"{f.processed - f.accepted:.1f}s; worker warm-up (first match loads the city) "
        f"{w.warmup:.1f}s"
    )
    print(f"  CPU from POST to all queued (share of one core): {f.cpu}, others {f.others:.0%}")
    print("city-wide match + wanting() x3 in this process (cProfile, own time, 3 events):")
    print("\n".join(match_profile))
    if w.profile:
        print("worker during a second city-wide alert (py-spy, not in the table):")
        print("\n".join(w.profile))


async def bench(
    args: argparse.Namespace, kafka_url: str, redis_port: int, logs: Path, pids: dict[str, int]
) -> None:
    catalogue = load_catalogue(CITY)
    print(f"build: {args.subscriptions:,} subscriptions", flush=True)
    built, confirmed = await build(args.subscriptions, catalogue, redis_port)
    gc.collect()
    print(f"  {built.generate + built.write:.1f}s", flush=True)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis = make_redis(Settings(redis_url=redis_url))
    try:
        matcher = Matcher(redis, {CITY: catalogue})
        index = matcher.indexes[CITY] = LiveIndex(redis, CITY, catalogue)
        t = time.perf_counter()
        await index.refresh()
        load_s = time.perf_counter() - t
        gc.collect()
        rss = rss_mb()
        index_mb = index_size(index) / 2**20
        print(f"index load: {len(index):,} subscriptions in {load_s:.1f}s", flush=True)
        q, c, match_profile = await latencies(matcher, catalogue, args.rounds, args.citywide)
        print(f"  quartier p99 {q.line('match')}; city-wide {c.line('match')} ms", flush=True)
        print("city-wide alert through one worker", flush=True)
        w = await run_worker(args, kafka_url, redis_url, matcher, confirmed, logs, pids)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        await redis.aclose()
    print_table(built, load_s, index_mb, (rss, peak), q, c, w, match_profile)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="events per quartier (5)")
    parser.add_argument("--citywide", type=int, default=12, help="city-wide matches timed (12)")
    parser.add_argument("--timeout", type=float, default=600.0, help="longest wait, seconds")
    parser.add_argument("--py-spy", default=None, help="also profile the worker with this py-spy")
    parser.add_argument("--logs", type=Path, default=None, help="keep the logs in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as tmp:
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            kafka_port, redis_port = embedded.free_port(), embedded.free_port()
            procs.append(embedded.start_tansu(kafka_port, logs / "tansu.log"))
            procs.append(embedded.start_redis(redis_port, None, logs / "redis.log"))
            pids = {"tansu": procs[0].pid, "redis": procs[1].pid, "bench (API)": os.getpid()}
            asyncio.run(bench(args, f"kafka://127.0.0.1:{kafka_port}", redis_port, logs, pids))
        finally:
            for proc in reversed(procs):
                embedded.stop(proc)


if __name__ == "__main__":
    main()
