"""Subscription writes through the real HTTP API: latency at a fixed request rate and the most
writes per second, next to the raw rate of the same Redis writes without HTTP, in one run.
Starts and stops every server it needs.

    .venv/bin/python bench/api_writes.py [--citizens 2000] [--rate 200] [--open-seconds 15]
                                         [--connections 32] [--closed-seconds 10] [--logs DIR]

``--citizens`` citizens with a confirmed email are written through ``SubscriptionStore`` and
their management tokens signed. Then ``POST /v1/cities/paris/citizens/{cid}/subscriptions``
with a mix of bodies (arrondissements, quartiers, points with a radius, small polygons):

1. open loop: one request every 1/``--rate`` s for ``--open-seconds``, each sent at its
   scheduled time whatever the earlier ones are doing (a constant arrival rate); latency is
   taken from the scheduled time, so a stalled API shows as latency, not as fewer requests;
2. closed loop: ``--connections`` clients, each sending its next request as soon as its last
   one is answered, for ``--closed-seconds``: the most writes/s the API gives;
3. store alone: ``SubscriptionStore.add_subscription`` (the handler's Redis writes) with the
   subscriptions parsed beforehand, ``--connections`` in flight, for ``--store-seconds``.

The API runs in this process as ``notifier api`` runs it (aiohttp ``AppRunner``, no access
log, ``KafkaPublisher``); the load generator in a process of its own (this file with
``--load``), so it never shares the API's event loop; redis-server and Tansu in theirs.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import itertools
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from e2e import eventually, tail
from measure import CpuMeter, latency_summary, machine_busy, percentile
from profiles import from_py_spy
from shapely.geometry import Point

from notifier.api.app import create_api
from notifier.dev import embedded
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps, make_redis
from streams import heap
from streams.deps import Deps
from subscriptions import tokens
from subscriptions.areas import AreaCatalogue
from subscriptions.categories import CATEGORIES, SEVERITIES
from subscriptions.store import SubscriptionStore, key, new_id
from subscriptions.subscription import Subscription, parse_subscription

SELF = Path(__file__).resolve()
CITY = "paris"
SECRET = "x" * 48
BODIES = 1009  # distinct bodies; prime, so that (citizen, body) pairs keep changing
REQUEST_TIMEOUT = 10.0  # seconds; a request still unanswered then is an error
OPEN_CONNECTIONS = 256  # most connections the open-loop generator opens (it queues beyond)
WARMUP_POSTS = 64  # POSTs each load process sends before it starts measuring (not counted)
OK = "201"

Body = dict[str, Any]


# -- the bodies ---------------------------------------------------------------------------


def point_in(catalogue: AreaCatalogue, code: str, rng: random.Random) -> tuple[float, float]:
    """A random (lon, lat) inside an area (its representative point after 20 misses)."""
    geometry = catalogue.get(code).geometry
    x0, y0, x1, y1 = geometry.bounds
    for _ in range(20):
        lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if geometry.contains(Point(lon, lat)):
            return round(lon, 6), round(lat, 6)
    p = geometry.representative_point()
    return round(p.x, 6), round(p.y, 6)


def hexagon(lon: float, lat: float, radius_m: float, turn: float) -> Body:
    """A regular hexagon of ``radius_m`` around a point, as a GeoJSON Polygon (lon/lat)."""
    dlat = radius_m / 111_320
    dlon = dlat / math.cos(math.radians(lat))
    ring = [
        [
            round(lon + dlon * math.cos(turn + k * math.pi / 3), 6),
            round(lat + dlat * math.sin(turn + k * math.pi / 3), 6),
        ]
        for k in range(6)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def body_mix(catalogue: AreaCatalogue, n: int, seed: int = 9) -> list[Body]:
    """``n`` subscription bodies: 20% an arrondissement, 20% a quartier, 35% a point with a
    radius of 100 m to 2 km, 25% a hexagon of 100-400 m; some with categories or a minimum
    severity; half name their channels, half leave them to the citizen's default."""
    rng = random.Random(seed)
    arrondissements = [a.code for a in catalogue.of_kind("arrondissement")]
    quartiers = [a.code for a in catalogue.of_kind("quartier")]
    out: list[Body] = []
    for _ in range(n):
        r = rng.random()
        body: Body
        if r < 0.2:
            body = {"area": rng.choice(arrondissements)}
        elif r < 0.4:
            body = {"area": rng.choice(quartiers)}
        else:
            lon, lat = point_in(catalogue, rng.choice(quartiers), rng)
            if r < 0.75:
                body = {
                    "point": {"lon": lon, "lat": lat},
                    "radius_m": rng.choice([100, 250, 500, 1000, 2000]),
                }
            else:
                radius = rng.uniform(100, 400)
                body = {"polygon": hexagon(lon, lat, radius, rng.uniform(0, math.pi))}
        if rng.random() < 0.4:
            body["categories"] = rng.sample(CATEGORIES, rng.randint(1, 3))
        if rng.random() < 0.2:
            body["min_severity"] = rng.choice(SEVERITIES[1:])
        if rng.random() < 0.5:
            body["channels"] = ["email"]
        out.append(body)
    return out


def kind_of(body: Body) -> str:
    if "area" in body:
        return "quartier" if len(body["area"]) > 5 else "arrondissement"
    return "point" if "point" in body else "polygon"


# -- the load generator (its own process) -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sample:
    due: float  # when the request was scheduled (open loop) or started (closed loop)
    sent: float  # when it was handed to the client
    done: float  # when its answer was read
    outcome: str  # the status ("201") or the exception's name


class GcPauses:
    """The garbage collector's pauses in this process (``gc.callbacks``), by generation."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._start))

    def since(self, first: int) -> dict[str, list[float]]:
        """Pauses from the ``first``-th on: generation -> [count, total ms, longest ms]."""
        out: dict[str, list[float]] = {}
        for generation, seconds in self.pauses[first:]:
            c = out.setdefault(f"gen{generation}", [0, 0.0, 0.0])
            c[0] += 1
            c[1] += seconds * 1000
            c[2] = max(c[2], seconds * 1000)
        return dict(sorted(out.items()))


def gc_line(pauses: dict[str, list[float]]) -> str:
    return ", ".join(
        f"{g} {int(n)}x (total {total:.0f} ms, longest {longest:.1f} ms)"
        for g, (n, total, longest) in pauses.items()
    )


class Load:
    """The requests of one run, made from the spec the bench process wrote."""

    def __init__(self, spec: dict[str, Any]) -> None:
        base = spec["base_url"]
        self.base = base
        self.targets = [
            (
                f"{base}/v1/cities/{CITY}/citizens/{cid}/subscriptions",
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            for cid, token in spec["targets"]
        ]
        self.bodies = [json.dumps(b).encode() for b in spec["bodies"]]
        self.errors: list[str] = []  # the first few error answers, for the report

    async def post(self, http: aiohttp.ClientSession, i: int, due: float) -> Sample:
        loop = asyncio.get_running_loop()
        url, headers = self.targets[i % len(self.targets)]
        sent = loop.time()
        try:
            async with http.post(url, data=self.bodies[i % len(self.bodies)], headers=headers) as r:
                text = await r.text()
                outcome = str(r.status)
            if outcome != OK and len(self.errors) < 5:
                self.errors.append(f"{outcome} {text[:300]}")
        except (aiohttp.ClientError, TimeoutError) as e:
            outcome = type(e).__name__
            if len(self.errors) < 5:
                self.errors.append(f"{outcome} {e}")
        return Sample(due, sent, loop.time(), outcome)

    async def warm_up(self, http: aiohttp.ClientSession, connections: int) -> int:
        """Open the connections and send a few POSTs (not counted); how many failed."""

        async def healthz() -> None:
            async with http.get(f"{self.base}/healthz") as r:
                await r.read()

        await asyncio.gather(*(healthz() for _ in range(connections)))
        loop, sem = asyncio.get_running_loop(), asyncio.Semaphore(8)

        async def one(i: int) -> Sample:
            async with sem:
                return await self.post(http, i, loop.time())

        got = await asyncio.gather(*(one(10**6 + i) for i in range(WARMUP_POSTS)))
        return sum(s.outcome != OK for s in got)

    async def open_loop(self, http: aiohttp.ClientSession, rate: float, n: int) -> list[Sample]:
        """Request ``i`` is due at ``t0 + i / rate``; it is sent then, whatever is in flight."""
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[Sample]] = []
        t0 = loop.time() + 0.01
        for i in range(n):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.post(http, i, due)))
        return list(await asyncio.gather(*tasks))  # each ends within REQUEST_TIMEOUT

    async def closed_loop(
        self, http: aiohttp.ClientSession, connections: int, seconds: float
    ) -> list[Sample]:
        """``connections`` clients, each sending its next request once its last is answered,
        until ``seconds`` have passed."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        counter = itertools.count()
        samples: list[Sample] = []

        async def client() -> None:
            while loop.time() < end:
                samples.append(await self.post(http, next(counter), loop.time()))

        await asyncio.gather(*(client() for _ in range(connections)))
        return samples


def per_second(samples: list[Sample]) -> list[dict[str, float]]:
    """Each whole second of the run, by when the requests were due: how many, how many
    answered 201, their p99 and max latency (ms)."""
    t0 = min((s.due for s in samples), default=0.0)
    buckets: dict[int, list[Sample]] = {}
    for s in samples:
        buckets.setdefault(int(s.due - t0), []).append(s)
    out = []
    for second in range(max(buckets, default=-1) + 1):
        got = buckets.get(second, [])
        ms = sorted((s.done - s.due) * 1000 for s in got)
        out.append(
            {
                "n": len(got),
                "ok": sum(s.outcome == OK for s in got),
                "p99": percentile(ms, 99),
                "max": ms[-1] if ms else float("nan"),
            }
        )
    return out


def mark(path: str) -> None:
    Path(path).write_text("")


async def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    load = Load(spec)
    mode, connections = spec["mode"], spec["connections"]
    limit = OPEN_CONNECTIONS if mode == "open" else connections
    connector = aiohttp.TCPConnector(limit=limit)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        warmup_errors = await load.warm_up(http, min(connections, limit))
        load.errors.clear()
        # No collection in the generator while it measures (a full one here took 30-40 ms, and
        # the requests it should have sent meanwhile would count as the API's latency): the
        # run is bounded, so is what it allocates.
        gc.collect()
        gc.freeze()
        gc.disable()
        pauses = GcPauses()  # should stay empty
        mark(spec["started"])  # the bench process starts its CPU meters
        cpu0, t0 = time.process_time(), asyncio.get_running_loop().time()
        try:
            if mode == "open":
                n = round(spec["rate"] * spec["seconds"])
                samples = await load.open_loop(http, spec["rate"], n)
            else:
                samples = await load.closed_loop(http, connections, spec["seconds"])
        finally:
            gc_pauses = pauses.since(0)
            gc.enable()
        t1 = max((s.done for s in samples), default=t0)
        cpu = time.process_time() - cpu0
        mark(spec["finished"])
    ok = [s for s in samples if s.outcome == OK]
    dues = [s.due for s in samples]
    return {
        "mode": mode,
        "requests": len(samples),
        "ok": len(ok),
        "outcomes": dict(Counter(s.outcome for s in samples if s.outcome != OK)),
        "error_answers": load.errors,
        "warmup_errors": warmup_errors,
        "wall": t1 - t0,
        "offered": (len(dues) - 1) / (max(dues) - min(dues)) if len(dues) > 1 else 0.0,
        "writes_per_s": len(ok) / (t1 - t0) if t1 > t0 else 0.0,
        "latency_ms": latency_summary([s.done - s.due for s in ok]),
        "late_ms": latency_summary([s.sent - s.due for s in samples]),
        "service_ms": latency_summary([s.done - s.sent for s in ok]),
        "gc": gc_pauses,
        "per_second": per_second(samples),
        "client_cpu": cpu / (t1 - t0) if t1 > t0 else 0.0,
    }


def load_main(spec_path: Path, out: Path) -> None:
    spec = json.loads(spec_path.read_text())
    out.write_text(json.dumps(asyncio.run(run_load(spec))))


# -- the bench process: the API, the baselines ---------------------------------------------


@dataclasses.dataclass
class Run:
    """One measured run: the load generator's report and the CPU of each process during it
    (a share of one core; ``load generator`` as it measured itself, ``others`` the rest of
    the machine)."""

    result: dict[str, Any]
    cpu: dict[str, float]
    gc: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # this process's

    @property
    def wall(self) -> float:
        return float(self.result["wall"])

    def us_per_write(self, process: str) -> float:
        ok = self.result["ok"]
        return self.cpu[process] * self.wall / ok * 1e6 if ok else float("nan")


def api_logging(path: Path, level: str) -> None:
    """As ``notifier api`` logs (``notifier.cli.main``), to a file: an unexpected error's traceback
    lands there."""
    logging.basicConfig(
        filename=path, level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


async def seed_citizens(store: SubscriptionStore, n: int) -> list[tuple[str, str]]:
    """``n`` citizens with a confirmed email: (citizen id, management token) each."""
    sem = asyncio.Semaphore(64)

    async def one(i: int) -> tuple[str, str]:
        async with sem:
            citizen = await store.create_citizen(CITY, "fr" if i % 2 else "en")
            await store.add_contact(
                CITY, citizen.id, "email", f"w{i}@writes.example", "confirmed", "bench"
            )
            return citizen.id, tokens.sign(SECRET, "manage", CITY, citizen.id)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def cpu_us(fn: Callable[[], object], n: int) -> float:
    """Wall time per call of ``fn`` (CPU only: nothing in it waits), microseconds."""
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def piece_costs(deps: Deps, bodies: list[Body], token: str, cid: str) -> dict[str, float]:
    """What a request's own steps cost alone, in this process: the token check, parsing each
    kind of body, the 201 answer (JSON); microseconds per call."""
    catalogue = deps.catalogues[CITY]
    costs = {"token check": cpu_us(lambda: tokens.verify(SECRET, token, "manage", CITY), 2000)}
    raw = [json.dumps(b) for b in bodies]
    costs["JSON body"] = cpu_us(lambda: [json.loads(r) for r in raw], 5) / len(raw)
    by_kind: dict[str, list[Body]] = {}
    for b in bodies:
        by_kind.setdefault(kind_of(b), []).append(b)
    for kind, group in sorted(by_kind.items()):

        def parse(group: list[Body] = group) -> None:
            for b in group:
                parse_subscription(b, sid=new_id("sub"), citizen=cid, catalogue=catalogue)

        costs[f"parse {kind}"] = cpu_us(parse, 3) / len(group)

    def parse_all() -> None:
        for b in bodies:
            parse_subscription(b, sid=new_id("sub"), citizen=cid, catalogue=catalogue)

    costs["parse, the mix"] = cpu_us(parse_all, 3) / len(bodies)
    subs = [parse_subscription(b, sid="sub_x", citizen=cid, catalogue=catalogue)[0] for b in bodies]
    costs["201 answer"] = cpu_us(
        lambda: [web.json_response(s.public(), status=201) for s in subs], 3
    ) / len(subs)
    return costs


async def drive(
    spec: dict[str, Any],
    name: str,
    logs: Path,
    pids: dict[str, int],
    within: float,
    pauses: GcPauses,
) -> Run:
    """Run the load generator with ``spec`` in its own process; its report and the CPU of
    ``pids`` from when it starts measuring to when it ends."""
    spec_path, out = logs / f"{name}.spec.json", logs / f"{name}.result.json"
    started, finished = logs / f"{name}.started", logs / f"{name}.finished"
    for p in (out, started, finished):
        p.unlink(missing_ok=True)
    spec = {**spec, "started": str(started), "finished": str(finished)}
    spec_path.write_text(json.dumps(spec))
    log = logs / f"{name}.load.log"
    command = [sys.executable, str(SELF)]
    command += ["--load", str(spec_path), "--out", str(out)]
    proc = embedded.spawn(command, log)
    meter = CpuMeter(pids)
    try:
        await eventually(
            lambda: started.exists() or proc.poll() is not None, 60, "the load generator"
        )
        busy, first_pause = machine_busy(), len(pauses.pauses)
        meter.start()
        t = time.monotonic()
        await eventually(
            lambda: finished.exists() or proc.poll() is not None, within, "the run to end"
        )
        meter.stop()
        wall = time.monotonic() - t
        others = (machine_busy() - busy) / wall
        await eventually(lambda: proc.poll() is not None, 30, "the load generator to exit")
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"load generator exited with {proc.returncode}:\n{tail(log)}")
    finally:
        embedded.stop(proc)
    result = json.loads(out.read_text())
    cpu = {**meter.shares, "load generator": float(result["client_cpu"])}
    cpu["others"] = max(0.0, others - sum(cpu.values()))
    return Run(result, cpu, pauses.since(first_pause))


async def store_alone(
    deps: Deps,
    templates: list[tuple[Subscription, list[tuple[str, str]]]],
    cids: list[str],
    connections: int,
    seconds: float,
    pids: dict[str, int],
    pauses: GcPauses,
) -> Run:
    """``add_subscription`` of subscriptions parsed beforehand, ``connections`` in flight."""
    loop = asyncio.get_running_loop()
    counter = itertools.count()
    times: list[float] = []
    end = loop.time() + seconds

    async def client() -> None:
        while loop.time() < end:
            i = next(counter)
            template, index = templates[i % len(templates)]
            sub = dataclasses.replace(template, id=new_id("sub"), citizen=cids[i % len(cids)])
            t = loop.time()
            await deps.store.add_subscription(CITY, sub, index)
            times.append(loop.time() - t)

    meter = CpuMeter(pids)
    busy, first_pause = machine_busy(), len(pauses.pauses)
    meter.start()
    t0 = loop.time()
    end = t0 + seconds
    await asyncio.gather(*(client() for _ in range(connections)))
    wall = loop.time() - t0
    meter.stop()
    others = (machine_busy() - busy) / wall - sum(meter.shares.values())
    result = {
        "ok": len(times),
        "requests": len(times),
        "wall": wall,
        "writes_per_s": len(times) / wall,
        "latency_ms": latency_summary(times),
    }
    return Run(result, {**meter.shares, "others": max(0.0, others)}, pauses.since(first_pause))


async def stored_subscriptions(deps: Deps) -> int:
    count = 0
    async for _ in deps.store.redis.scan_iter(match=key(CITY, "sub", "*"), count=1000):
        count += 1
    return count


# -- where the API's time goes (--py-spy) -------------------------------------------------

# (function, end of its file's path): the share of samples with it on the stack
KEY_FUNCTIONS = (
    ("_handle_request", "aiohttp/web_protocol.py"),
    ("count_requests", "notifier/api/app.py"),
    ("subscribe", "notifier/api/citizens.py"),
    ("citizen_token", "notifier/api/citizens.py"),
    ("json_body", "notifier/api/http.py"),
    ("parse_subscription", "subscriptions/subscription.py"),
    ("circle", "subscriptions/geometry.py"),
    ("parse_polygon", "subscriptions/geometry.py"),
    ("intersecting", "subscriptions/areas.py"),
    ("citizen", "subscriptions/store.py"),
    ("add_subscription", "subscriptions/store.py"),
    ("execute_command", "redis/asyncio/client.py"),
    ("json_response", "aiohttp/web_response.py"),
    ("finish_response", "aiohttp/web_protocol.py"),
)


async def profiled(py_spy: str, out: Path, run: Callable[[], Awaitable[Run]]) -> list[str]:
    """``run`` while py-spy samples this process (the API) from outside at 200 Hz."""
    command = [py_spy, "record", "--pid", str(os.getpid()), "--rate", "200", "--format", "raw"]
    proc = await asyncio.create_subprocess_exec(
        *command,
        "--output",
        str(out),
        "--nonblocking",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(1.0)  # py-spy attaches
        result = await run()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)  # it writes what it sampled, then exits
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    w = result.result
    head = (
        f"profiled closed loop (py-spy at 200 Hz, not in the table): "
        f"{w['writes_per_s']:,.0f} writes/s, API CPU {result.cpu['API (this process)']:.0%}"
    )
    if not await asyncio.to_thread(out.exists):
        return [head, "  (py-spy wrote nothing)"]
    profile = await asyncio.to_thread(from_py_spy, out, KEY_FUNCTIONS)
    return [head, f"  {profile.total:.0f} samples", *profile.report(12)]


# -- the report ---------------------------------------------------------------------------


def fmt_ms(lat: dict[str, float], *names: str) -> str:
    return " / ".join(f"{lat[n]:.1f}" for n in names)


def errors_of(r: dict[str, Any]) -> str:
    bad = r["requests"] - r["ok"]
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(r["outcomes"].items()))
    return f"{bad} of {r['requests']}" + (f" ({detail})" if detail else "")


def cpu_line(run: Run) -> str:
    return ", ".join(f"{n} {s:.0%}" for n, s in run.cpu.items())


def print_report(
    args: argparse.Namespace,
    open_run: Run,
    closed: Run,
    alone: Run,
    costs: dict[str, float],
    stored: tuple[int, int],
) -> None:
    o, c, a = open_run.result, closed.result, alone.result
    rows = [
        ("open loop: offered, requests/s", f"{o['offered']:,.1f}"),
        ("open loop: subscription writes/s (201 answers)", f"{o['writes_per_s']:,.1f}"),
        (
            "open loop: latency p50 / p95 / p99 / max, ms",
            fmt_ms(o["latency_ms"], "p50", "p95", "p99", "max"),
        ),
        ("open loop: errors", errors_of(o)),
        (f"closed loop ({args.connections} connections): writes/s", f"{c['writes_per_s']:,.0f}"),
        (
            "closed loop: latency p50 / p95 / p99 / max, ms",
            fmt_ms(c["latency_ms"], "p50", "p95", "p99", "max"),
        ),
        ("closed loop: errors", errors_of(c)),
        (f"store alone ({args.connections} in flight): writes/s", f"{a['writes_per_s']:,.0f}"),
        ("ratio closed-loop API / store alone", f"{c['writes_per_s'] / a['writes_per_s']:.3f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    print(f"{'figure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    late, service = o["late_ms"], o["service_ms"]
    print(
        f"open loop: {o['requests']} requests over {o['wall']:.2f}s; p99.9 "
        f"{o['latency_ms']['p99.9']:.1f} ms; from when each was sent (not when it was due): "
        f"p50 / p99 / max {fmt_ms(service, 'p50', 'p99', 'max')} ms; the generator sent them "
        f"late by p99 {late['p99']:.2f} ms, max {late['max']:.2f} ms"
    )
    print(f"  CPU (share of one core): {cpu_line(open_run)}")
    print(f"  API CPU per write: {open_run.us_per_write('API (this process)'):,.0f} µs")
    print(f"  GC pauses, API: {gc_line(open_run.gc) or 'none'}")
    print(f"  GC pauses, load generator: {gc_line(o['gc']) or 'none'}")
    print("  per second, p99 ms: " + " ".join(f"{s['p99']:.1f}" for s in o["per_second"]))
    print("  per second, max ms: " + " ".join(f"{s['max']:.1f}" for s in o["per_second"]))
    print(f"closed loop: {c['requests']} requests over {c['wall']:.2f}s")
    print(f"  CPU (share of one core): {cpu_line(closed)}")
    print(
        f"  CPU per write: API {closed.us_per_write('API (this process)'):,.0f} µs, "
        f"load generator {closed.us_per_write('load generator'):,.0f} µs, "
        f"redis {closed.us_per_write('redis'):,.0f} µs"
    )
    print(f"  GC pauses, API: {gc_line(closed.gc) or 'none'}")
    print(f"  GC pauses, load generator: {gc_line(c['gc']) or 'none'}")
    print("  per second, writes: " + " ".join(f"{s['ok']}" for s in c["per_second"]))
    print("  per second, p99 ms: " + " ".join(f"{s['p99']:.1f}" for s in c["per_second"]))
    print(
        f"store alone: {a['ok']} writes over {a['wall']:.2f}s, latency p50 / p99 / max "
        f"{fmt_ms(a['latency_ms'], 'p50', 'p99', 'max')} ms"
    )
    print(f"  CPU (share of one core): {cpu_line(alone)}")
    print(
        f"  CPU per write: this process {alone.us_per_write('store client (this process)'):,.0f}"
        f" µs, redis {alone.us_per_write('redis'):,.0f} µs"
    )
    print(f"  GC pauses: {gc_line(alone.gc) or 'none'}")
    print(
        "a request's own steps alone, µs: " + ", ".join(f"{k} {v:,.0f}" for k, v in costs.items())
    )
    print(f"subscriptions in Redis: {stored[0]} (201 answers and store writes: {stored[1]})")
    for name, r in (("open", o), ("closed", c)):
        if r["warmup_errors"]:
            print(f"  !! {name} loop: {r['warmup_errors']} warm-up POSTs failed")
        for answer in r["error_answers"]:
            print(f"  !! {name} loop error: {answer}")


# -- the run ------------------------------------------------------------------------------


async def bench(
    args: argparse.Namespace, kafka_url: str, redis_url: str, logs: Path, pids: dict[str, int]
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_url=kafka_url,
        redis_url=redis_url,
        secret_key=Secret(SECRET),
        topic_prefix=f"bench-{run}.",
        app_id=f"notifier-bench-{run}",
        api_port=embedded.free_port(),
    )
    api_logging(logs / "api.log", settings.log_level)
    redis = make_redis(settings)
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    deps = build_deps(settings, redis, publisher.publish, channels={})
    runner: web.AppRunner | None = None
    pauses = GcPauses()
    try:
        t = time.monotonic()
        targets = await seed_citizens(deps.store, args.citizens)
        print(f"  {args.citizens} citizens created in {time.monotonic() - t:.1f}s", flush=True)
        catalogue = deps.catalogues[CITY]
        bodies = body_mix(catalogue, BODIES)
        cid, token = targets[0]
        templates = [
            parse_subscription(b, sid="sub_x", citizen=cid, catalogue=catalogue) for b in bodies
        ]
        kinds = Counter(kind_of(b) for b in bodies)
        print(f"  {len(bodies)} bodies: {dict(sorted(kinds.items()))}", flush=True)
        costs = piece_costs(deps, bodies, token, cid)

        await publisher.start()
        app = create_api(settings, deps, checks={"kafka": publisher.ready})
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.api_host, settings.api_port).start()
        heap.freeze()  # as ``notifier api`` does once it serves (``notifier.up``)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{settings.base_url}/readyz") as r,
        ):
            if r.status != 200:
                raise RuntimeError(f"/readyz: {r.status} {await r.text()}")

        spec: dict[str, Any] = {
            "base_url": settings.base_url,
            "targets": targets,
            "bodies": bodies,
            "connections": args.connections,
        }
        api_pids = {"API (this process)": os.getpid(), **pids}
        print(f"open loop: {args.rate:g} requests/s for {args.open_seconds:g}s", flush=True)
        open_run = await drive(
            {**spec, "mode": "open", "rate": args.rate, "seconds": args.open_seconds},
            "open",
            logs,
            api_pids,
            args.open_seconds + REQUEST_TIMEOUT + 30,
            pauses,
        )
        print(f"  {open_run.result['writes_per_s']:,.1f} writes/s", flush=True)
        print(
            f"closed loop: {args.connections} connections for {args.closed_seconds:g}s", flush=True
        )
        closed_spec = {**spec, "mode": "closed", "seconds": args.closed_seconds}
        within = args.closed_seconds + REQUEST_TIMEOUT + 30
        closed = await drive(closed_spec, "closed", logs, api_pids, within, pauses)
        print(f"  {closed.result['writes_per_s']:,.0f} writes/s", flush=True)
        print(f"store alone: {args.connections} in flight for {args.store_seconds:g}s", flush=True)
        alone = await store_alone(
            deps,
            templates,
            [c for c, _ in targets],
            args.connections,
            args.store_seconds,
            {"store client (this process)": os.getpid(), "redis": pids["redis"]},
            pauses,
        )
        print(f"  {alone.result['writes_per_s']:,.0f} writes/s", flush=True)
        expected = (
            2 * WARMUP_POSTS + open_run.result["ok"] + closed.result["ok"] + alone.result["ok"]
        )
        stored = (await stored_subscriptions(deps), expected)
        print_report(args, open_run, closed, alone, costs, stored)
        problems = [
            line
            for line in (logs / "api.log").read_text(errors="replace").splitlines()
            if " ERROR " in line or " WARNING " in line
        ]
        if problems:
            print(f"  !! the API logged {len(problems)} warnings or errors; the first:")
            for line in problems[:5]:
                print(f"     {line[:300]}")
        if args.py_spy:
            print()
            for line in await profiled(
                args.py_spy,
                logs / "closed.pyspy",
                lambda: drive(closed_spec, "profiled", logs, api_pids, within, pauses),
            ):
                print(line)
    finally:
        if runner is not None:
            await runner.cleanup()
        await publisher.stop()
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--citizens", type=int, default=2000, help="citizens the requests go to (2000)"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="open loop, requests/s (200)")
    parser.add_argument("--open-seconds", type=float, default=15.0, help="open loop, s (15)")
    parser.add_argument(
        "--connections", type=int, default=32, help="closed loop and store alone, in flight (32)"
    )
    parser.add_argument("--closed-seconds", type=float, default=10.0, help="closed loop, s (10)")
    parser.add_argument("--store-seconds", type=float, default=5.0, help="store alone, s (5)")
    parser.add_argument(
        "--py-spy",
        default=None,
        help="then sample the API with this py-spy binary during one more closed loop",
    )
    parser.add_argument("--logs", type=Path, default=None, help="keep the logs in this folder")
    parser.add_argument("--load", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load is not None:  # this process is the load generator
        load_main(args.load, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="notifier-bench-writes-") as tmp:
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            kafka_port = embedded.free_port()
            procs.append(embedded.start_tansu(kafka_port, logs / "tansu.log"))
            redis_port = embedded.free_port()
            procs.append(embedded.start_redis(redis_port, None, logs / "redis.log"))
            pids = {"redis": procs[1].pid, "tansu": procs[0].pid}
            asyncio.run(
                bench(
                    args,
                    f"kafka://127.0.0.1:{kafka_port}",
                    f"redis://127.0.0.1:{redis_port}/0",
                    logs,
                    pids,
                )
            )
        finally:
            for proc in reversed(procs):
                embedded.stop(proc)


if __name__ == "__main__":
    main()
