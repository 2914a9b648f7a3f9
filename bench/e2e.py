"""End-to-end throughput: HTTP API -> Kafka (Tansu) -> ``notifier worker`` -> SMTP, against a
Faust pass-through on the same broker. Starts and stops every server it needs.

    .venv/bin/python bench/e2e.py [--subscribers 5000] [--records 20000]

1. pass-through: ``bench/passthrough.py`` copies ``--records`` records from topic A to topic B;
   records/s from the first to the last copy on B, by the copies' timestamps (the group join
   is excluded).
2. real path: ``--subscribers`` citizens with a confirmed email subscribed to 75105; the real
   worker runs as ``python -m notifier worker``; one announcement is POSTed to the real API and
   every email is counted as it reaches an aiosmtpd server.

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from measure import CpuMeter

from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.dev import embedded
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps, make_redis
from streams.deps import Deps
from subscriptions.store import new_id
from subscriptions.subscription import parse_subscription

HERE = Path(__file__).resolve().parent
CITY = "paris"
AREA, BULK = "75105", "bench.example"  # the measured announcement and its recipients' domain
WARMUP_AREA, WARMUP = "75112", "warmup.example"  # one subscriber: tells when the worker is in
SESSION_TIMEOUT = 6.0
STALL = 30.0  # seconds without a new arrival after which a flow is reported as it stands


class CountingSink:
    """aiosmtpd handler: when each message arrived, by the domain of its first recipient."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: dict[str, list[float]] = {}

    async def handle_DATA(
        self,
        server: Any,
        session: Session,  # noqa: N802
        envelope: Envelope,
    ) -> str:
        now = time.monotonic()
        domain = str(envelope.rcpt_tos[0]).rpartition("@")[2]
        with self._lock:
            self._arrivals.setdefault(domain, []).append(now)
        return "250 OK"

    def times(self, domain: str) -> list[float]:
        with self._lock:
            return list(self._arrivals.get(domain, ()))


@dataclasses.dataclass(frozen=True)
class Flow:
    """Arrivals of a stream of items: how many, the first and the last (seconds, one clock)."""

    count: int
    first: float
    last: float

    @classmethod
    def of(cls, times: list[float]) -> Flow:
        return cls(len(times), min(times, default=0.0), max(times, default=0.0))

    @property
    def rate(self) -> float:
        span = self.last - self.first
        return (self.count - 1) / span if self.count > 1 and span > 0 else float("nan")


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        ok = check()
        if not isinstance(ok, bool):
            ok = await ok
        if ok:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_flow(
    times: Callable[[], list[float]], n: int, within: float, proc: subprocess.Popen[bytes]
) -> list[float]:
    """Arrival times once ``n`` items arrived, or nothing new came for ``STALL`` seconds."""
    deadline, seen, moved = time.monotonic() + within, 0, time.monotonic()
    while True:
        got = times()
        if len(got) >= n:
            return got
        if len(got) != seen:
            seen, moved = len(got), time.monotonic()
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode} after {seen} of {n}")
        if time.monotonic() > deadline or (seen and time.monotonic() - moved > STALL):
            print(f"  !! stopped waiting at {seen} of {n}", flush=True)
            return got
        await asyncio.sleep(0.05)


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


# -- 1. the Faust pass-through --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PassThrough:
    flow: Flow
    join: float  # worker start -> first record out
    cpu: str


async def run_passthrough(
    kafka_url: str, records: int, within: float, logs: Path, pids: dict[str, int]
) -> PassThrough:
    bootstrap = kafka_url.removeprefix("kafka://")
    run = uuid.uuid4().hex[:8]
    source, sink = f"bench-{run}.in", f"bench-{run}.out"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 4, 1) for t in (source, sink)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        payload = b"x" * 200
        futures = [
            await producer.send(source, payload, key=str(i).encode()) for i in range(records)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    print(f"  produced {records} records to {source}", flush=True)

    # Each record's time is its timestamp, set by the worker's producer as it sends the copy
    # (wall clock, this machine). Few, large fetches: every fetch at the tail of a growing
    # topic costs Tansu more as the topic grows, and this consumer should not slow the worker.
    arrivals: list[float] = []
    consumer = AIOKafkaConsumer(
        sink,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_min_bytes=256 * 1024,
        fetch_max_wait_ms=500,
    )
    await consumer.start()

    async def drain() -> None:
        while len(arrivals) < records:
            batch = await consumer.getmany(timeout_ms=500, max_records=10000)
            arrivals.extend(m.timestamp / 1000 for msgs in batch.values() for m in msgs)

    log = logs / "passthrough.log"
    started = time.time()
    options = {
        "--kafka": kafka_url,
        "--app-id": f"bench-passthrough-{run}",
        "--source": source,
        "--sink": sink,
        "--session-timeout": str(SESSION_TIMEOUT),
    }
    command = [
        sys.executable,
        str(HERE / "passthrough.py"),
        *(x for kv in options.items() for x in kv),
    ]
    proc = embedded.spawn(command, log)
    meter = CpuMeter({"pass-through worker": proc.pid, **pids})
    draining = asyncio.create_task(drain())
    try:
        await eventually(
            lambda: bool(arrivals) or proc.poll() is not None,
            within,
            "the first record out of the pass-through",
        )
        meter.start()
        got = await wait_flow(lambda: arrivals, records, within, proc)
        meter.stop()
    except BaseException:
        print(tail(log), file=sys.stderr)
        raise
    finally:
        draining.cancel()
        await asyncio.gather(draining, return_exceptions=True)
        await consumer.stop()
        embedded.stop(proc)
    flow = Flow.of(got)
    return PassThrough(flow, flow.first - started, meter.line())


# -- 2. the real path -------------------------------------------------------------------------


ANNOUNCEMENT: dict[str, Any] = {
    "category": "roadworks",
    "severity": "moderate",
    "content": {
        "fr": {
            "title": "Travaux rue Monge",
            "body": "La rue Monge est fermée.",
            "link": "https://www.paris.fr/travaux",
        },
        "en": {"title": "Roadworks on rue Monge", "body": "Rue Monge is closed."},
    },
}


@dataclasses.dataclass(frozen=True)
class EndToEnd:
    subscribers: int
    seed: float  # seconds to create the subscribers through the store
    join: float  # worker start -> the warm-up email
    flow: Flow
    posted: float  # monotonic time of the POST
    report: dict[str, Any]  # GET of the announcement once the ledger settled
    cpu: str


async def seed(deps: Deps, n: int, domain: str, area: str) -> None:
    """``n`` citizens with a confirmed email on ``domain``, each subscribed to ``area``."""
    store, catalogue = deps.store, deps.catalogues[CITY]
    sem = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with sem:
            citizen = await store.create_citizen(CITY, "fr" if i % 2 else "en")
            cp = await store.add_contact(
                CITY, citizen.id, "email", f"c{i}@{domain}", "confirmed", "bench"
            )
            sub, index = parse_subscription(
                {"area": area}, sid=new_id("sub"), citizen=cp.citizen, catalogue=catalogue
            )
            await store.add_subscription(CITY, sub, index)

    await asyncio.gather(*(one(i) for i in range(n)))


async def announce(http: aiohttp.ClientSession, area: str) -> str:
    body = {**ANNOUNCEMENT, "target": {"areas": [area]}}
    async with http.post(f"/v1/cities/{CITY}/announcements", json=body) as r:
        if r.status != 202:
            raise RuntimeError(f"POST announcement: {r.status} {await r.text()}")
        return str((await r.json())["href"])


async def settled_report(http: aiohttp.ClientSession, href: str, n: int) -> dict[str, Any]:
    """The announcement as the API shows it, once the ledger has an outcome for ``n``."""
    report: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal report
        async with http.get(href) as r:
            report = await r.json()
        email = report.get("deliveries", {}).get("email", {})
        return sum(v for k, v in email.items() if k not in ("queued", "sending")) >= n

    try:
        await eventually(done, 15.0, "the ledger to settle")
    except TimeoutError:
        print("  !! the ledger did not settle in 15s; reporting it as it stands", flush=True)
    return report


async def run_end_to_end(
    kafka_url: str,
    redis_url: str,
    smtp_port: int,
    sink: CountingSink,
    subscribers: int,
    within: float,
    logs: Path,
    pids: dict[str, int],
) -> EndToEnd:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_url=kafka_url,
        redis_url=redis_url,
        smtp_url=Secret(f"smtp://127.0.0.1:{smtp_port}"),
        secret_key=Secret("x" * 48),
        topic_prefix=f"bench-{run}.",
        app_id=f"notifier-bench-{run}",
        broker_session_timeout=SESSION_TIMEOUT,
        send_concurrency=16,
        api_port=embedded.free_port(),
    )
    redis = make_redis(settings)
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    deps = build_deps(settings, redis, publisher.publish, channels={})
    try:
        t = time.monotonic()
        await seed(deps, subscribers, BULK, AREA)
        await seed(deps, 1, WARMUP, WARMUP_AREA)
        seeded = time.monotonic() - t
        print(f"  {subscribers} subscribers created through the store in {seeded:.1f}s", flush=True)
        api_key = await create_department_key(redis, CITY, "voirie", "bench")
        async with api_and_worker(settings, deps, publisher, logs / "worker.log") as proc:
            started = time.monotonic()
            meter = CpuMeter({"notifier worker": proc.pid, **pids})
            async with aiohttp.ClientSession(
                settings.base_url, headers={"Authorization": f"Bearer {api_key}"}
            ) as http:
                await announce(http, WARMUP_AREA)
                await eventually(
                    lambda: bool(sink.times(WARMUP)) or proc.poll() is not None,
                    within,
                    "the warm-up email",
                )
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {proc.returncode}")
                joined = time.monotonic() - started
                print(f"  worker joined; warm-up email after {joined:.1f}s", flush=True)

                meter.start()
                posted = time.monotonic()
                href = await announce(http, AREA)
                got = await wait_flow(lambda: sink.times(BULK), subscribers, within, proc)
                meter.stop()
                report = await settled_report(http, href, subscribers)
            return EndToEnd(subscribers, seeded, joined, Flow.of(got), posted, report, meter.line())
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def api_and_worker(
    settings: Settings, deps: Deps, publisher: KafkaPublisher, log: Path
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """The API served from this process as ``notifier api`` serves it (``create_api`` on an
    ``AppRunner`` without access log, ``publisher`` started) and ``python -m notifier worker``
    logging to ``log``; both stopped on the way out, the worker's last lines printed if
    anything failed."""
    async with api_and_workers(settings, deps, publisher, [log]) as procs:
        yield procs[0]


@contextlib.asynccontextmanager
async def api_and_workers(
    settings: Settings, deps: Deps, publisher: KafkaPublisher, logs: list[Path]
) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    """As ``api_and_worker``, with one worker per log in ``logs``, all in one consumer group."""
    runner: web.AppRunner | None = None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await publisher.start()
        runner = web.AppRunner(create_api(settings, deps), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.api_host, settings.api_port).start()
        for log in logs:
            procs.append(
                embedded.spawn(
                    embedded.python_module("notifier", "worker"),
                    log,
                    env=embedded.child_env(settings.to_env()),
                )
            )
        yield procs
    except BaseException:
        for log in logs:
            print(tail(log), file=sys.stderr)
        raise
    finally:
        for proc in procs:
            embedded.stop(proc)
        if runner is not None:
            await runner.cleanup()
        await publisher.stop()


# -- the run ----------------------------------------------------------------------------------


def print_table(p: PassThrough, e: EndToEnd) -> None:
    ratio = e.flow.rate / p.flow.rate
    deliveries = e.report.get("deliveries", {})
    rows = [
        ("Faust pass-through, records/s", f"{p.flow.rate:,.0f}"),
        ("end-to-end to SMTP, notifications/s", f"{e.flow.rate:,.0f}"),
        ("ratio e2e / pass-through", f"{ratio:.3f}"),
        ("POST -> first email, s", f"{e.flow.first - e.posted:.3f}"),
        (
            f"POST -> last email ({e.flow.count} of {e.subscribers}), s",
            f"{e.flow.last - e.posted:.2f}",
        ),
        ("first -> last email, s", f"{e.flow.last - e.flow.first:.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    print(f"{'figure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    print(
        f"pass-through: {p.flow.count} records in {p.flow.last - p.flow.first:.2f}s, "
        f"worker start -> first record out {p.join:.1f}s"
    )
    print(f"  CPU during the flow (share of one core): {p.cpu}")
    print(
        f"end-to-end: subscribers created in {e.seed:.1f}s, worker start -> warm-up email "
        f"{e.join:.1f}s"
    )
    print(f"  CPU from POST to last email (share of one core): {e.cpu}")
    print(
        f"  API report: status={e.report.get('status')} "
        f"matched_citizens={e.report.get('matched_citizens')} deliveries={deliveries}"
    )


async def bench(
    args: argparse.Namespace,
    kafka_url: str,
    redis_url: str,
    smtp_port: int,
    sink: CountingSink,
    logs: Path,
    pids: dict[str, int],
) -> None:
    print(f"pass-through: {args.records} records", flush=True)
    p = await run_passthrough(kafka_url, args.records, args.timeout, logs, pids)
    print(f"  {p.flow.rate:,.0f} records/s", flush=True)
    print(f"end-to-end: {args.subscribers} subscribers", flush=True)
    e = await run_end_to_end(
        kafka_url, redis_url, smtp_port, sink, args.subscribers, args.timeout, logs, pids
    )
    print(f"  {e.flow.rate:,.0f} notifications/s", flush=True)
    print_table(p, e)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--subscribers",
        type=int,
        default=5000,
        help="citizens subscribed to the announced area (default 5000)",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=20000,
        help="records through the Faust pass-through (default 20000)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="longest wait for a worker to join or a flow to end, seconds",
    )
    parser.add_argument(
        "--logs", type=Path, default=None, help="keep the servers' and workers' logs in this folder"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as tmp:
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        procs: list[subprocess.Popen[bytes]] = []
        controller: Controller | None = None
        try:
            kafka_port = embedded.free_port()
            procs.append(embedded.start_tansu(kafka_port, logs / "tansu.log"))
            redis_port = embedded.free_port()
            procs.append(embedded.start_redis(redis_port, None, logs / "redis.log"))
            sink, smtp_port = CountingSink(), embedded.free_port()
            controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
            controller.start()
            pids = {"tansu": procs[0].pid, "redis": procs[1].pid, "bench process": os.getpid()}
            asyncio.run(
                bench(
                    args,
                    f"kafka://127.0.0.1:{kafka_port}",
                    f"redis://127.0.0.1:{redis_port}/0",
                    smtp_port,
                    sink,
                    logs,
                    pids,
                )
            )
        finally:
            if controller is not None:
                controller.stop()
            for proc in reversed(procs):
                embedded.stop(proc)


if __name__ == "__main__":
    main()
