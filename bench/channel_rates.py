"""Each channel's hand-off rate through the whole send path, next to the raw rate of its client
library alone, against local servers, in one run. Starts and stops every server it needs.

    .venv/bin/python bench/channel_rates.py [--messages 2000] [--repeat 5] [--concurrency 16]
                                       [--share-cores] [--profile] [--py-spy PATH] [--logs DIR]

For email (aiosmtplib -> aiosmtpd), SMS (twilio's async client -> the Twilio-shaped server) and
web push (pywebpush -> the push service that checks VAPID and decrypts), ``--messages``
notifications, measured three ways on one core of this process:

1. raw: the client library alone with what it needs made beforehand (MIME bytes over a pool of
   SMTP connections; ``messages.create_async`` and ``WebPusher.send_async`` with
   ``--raw-concurrency`` in flight, one VAPID header signed once);
2. channel: ``Channel.send`` of the channel objects ``notifier.wiring.make_channels`` builds,
   messages built beforehand, ``--concurrency`` in flight;
3. path: ``streams.delivery.send.send_batch`` on the batches ``expand_announcement`` wrote (500
   recipients each), one after the other as the worker's agent takes them: event state, consent,
   ledger claim, message building, provider call, ledger write, the per-delivery log line.

The raw clients are in ``raw_clients.py``; the servers, the seeded citizens and the expanded
batches in ``send_setup.py`` (``citywide.py`` uses both). The three servers run in another
process (``bench/channel_servers.py``); redis-server in its own.
This process has a core of its own, the servers and Redis share the other(s) (``place``;
``--share-cores``: any process on any core). See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import functools
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from measure import CpuMeter, Run, timed
from profiles import Profile, from_cprofile, from_py_spy
from raw_clients import Raw, start_raw
from redis.asyncio import Redis
from send_setup import (
    CHANNELS,
    Collector,
    built_messages,
    expand,
    place,
    seed,
    server_counts,
    server_settings,
    start_servers,
    worker_logging,
)

from channels.base import Channel
from notifier.dev import embedded
from notifier.settings import Settings
from notifier.wiring import build_deps, make_channels, make_redis
from streams import heap
from streams.delivery.send import send_batch
from streams.deps import Deps

WAYS = ("raw", "channel", "path")
PROFILED = 3  # expansions the profiled path run goes through


# -- the channel objects, the send path ---------------------------------------------------


async def via_channel(channel: Channel[Any], msgs: Sequence[tuple[str, Any]], limit: int) -> int:
    sem = asyncio.Semaphore(limit)

    async def one(nid: str, message: Any) -> int:
        async with sem:
            await channel.send(nid, message)
            return 1

    return sum(await asyncio.gather(*(one(nid, m) for nid, m in msgs)))


async def via_path(deps: Deps, batches: Sequence[bytes]) -> int:
    """The batches one after the other, as one agent takes its records."""
    sent = 0
    for raw in batches:
        outcomes = await send_batch(raw, deps)
        if set(outcomes) != {"sent"}:
            raise RuntimeError(f"send_batch: {outcomes}")
        sent += outcomes["sent"]
    return sent


# -- profiling the path -----------------------------------------------------------------------

# (function, end of its file's path): the time spent inside each is shown, when 1% or more.
# A batch's senders are tasks of their own (``_Sender.run`` gathers them): the per-message work
# is under ``_send`` (streams/delivery/send.py), the chunks' reads and claims under ``_claim``.
KEY_FUNCTIONS = (
    ("send_batch", "streams/delivery/send.py"),
    ("from_wire", "streams/records.py"),
    ("_stale", "streams/delivery/send.py"),
    ("contacts", "subscriptions/store.py"),
    ("_send", "streams/delivery/send.py"),
    ("_claim", "streams/delivery/send.py"),
    ("claim_many", "streams/state/ledger.py"),
    ("wait", "streams/state/ratelimit.py"),
    ("message", "channels/email.py"),  # Channel.messages: a recipient's message
    ("message", "channels/sms.py"),
    ("message", "channels/push.py"),
    ("send", "channels/base.py"),
    ("_send", "channels/email.py"),
    ("build_message", "channels/email.py"),
    ("send_message", "aiosmtplib/smtp.py"),
    ("flatten_message", "aiosmtplib/email.py"),
    ("_send", "channels/sms.py"),
    ("create_async", "message/__init__.py"),
    ("request", "http/async_http_client.py"),
    ("_send", "channels/push.py"),
    ("encode", "pywebpush/__init__.py"),
    ("post", "aiohttp/client.py"),
    ("advance_many", "streams/state/ledger.py"),
    ("__call__", "notifier/logs.py"),  # AttemptLines: the delivery line
    ("execute_command", "redis/asyncio/client.py"),
)


async def profiled(
    work: Callable[[], Awaitable[int]], py_spy: str | None, out: Path
) -> tuple[Run, Profile]:
    """``work`` under cProfile, or sampled by py-spy (another process) at 500 Hz."""
    if py_spy is None:
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        try:
            count = await work()
        finally:
            prof.disable()
        return Run(count, time.perf_counter() - t, {}), from_cprofile(prof, KEY_FUNCTIONS)
    args = [py_spy, "record", "--pid", str(os.getpid()), "--rate", "500", "--format", "raw"]
    proc = await asyncio.create_subprocess_exec(
        *args,
        "--output",
        str(out),
        "--nonblocking",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(1.0)  # py-spy attaches; its first samples are of this idle loop
        t = time.perf_counter()
        count = await work()
        run = Run(count, time.perf_counter() - t, {})
    finally:
        proc.send_signal(signal.SIGINT)  # it writes what it sampled, then exits
        await asyncio.wait_for(proc.wait(), 30)
    return run, from_py_spy(out, KEY_FUNCTIONS)


# -- the run ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Bench:
    args: argparse.Namespace
    settings: Settings
    deps: Deps
    collector: Collector
    channels: dict[str, Channel[Any]]
    meter: CpuMeter
    logs: Path
    raw: dict[str, Raw] = dataclasses.field(default_factory=dict)
    messages: dict[str, list[tuple[str, Any]]] = dataclasses.field(default_factory=dict)
    runs: dict[tuple[str, str], list[Run]] = dataclasses.field(default_factory=dict)

    async def prepare(self) -> None:
        a, s = self.args, self.settings
        batches = await expand(self.deps, self.collector, a.messages)
        for channel in CHANNELS:
            self.messages[channel] = await built_messages(self.deps, batches[channel])
        msgs = {c: [m for _, m in self.messages[c]] for c in CHANNELS}
        self.raw = await start_raw(s, msgs, a.smtp_pool, a.raw_concurrency)
        # warm-up: connections opened, code paths run once (a second, at most, per channel)
        for channel in CHANNELS:
            few = self.messages[channel][:100]
            await via_channel(self.channels[channel], few, s.send_concurrency)
        heap.freeze()  # as the worker does once started (``streams.agents``): the setup's objects

    async def measure(self, rep: int) -> None:
        n = self.args.messages
        batches = await expand(self.deps, self.collector, n)
        for channel in self.args.channels:
            raw, ch = self.raw[channel], self.channels[channel]
            msgs = self.messages[channel]
            work: dict[str, Callable[[], Awaitable[int]]] = {
                "raw": raw.run,
                "channel": functools.partial(via_channel, ch, msgs, self.args.concurrency),
                "path": functools.partial(via_path, self.deps, batches[channel]),
            }
            line = []
            for way in WAYS:
                run = await timed(self.meter, n, work[way])
                self.runs.setdefault((channel, way), []).append(run)
                line.append(f"{way} {run.rate:,.0f}/s")
            others = max(self.runs[(channel, w)][-1].cpu["others"] for w in WAYS)
            note = f"  (others used up to {others:.0%} of a core)" if others > 0.15 else ""
            print(f"  run {rep + 1} {channel}: " + ", ".join(line) + note, flush=True)

    async def profile(self) -> None:
        """The path once more per channel, over ``PROFILED`` expansions (enough samples)."""
        n = self.args.messages
        expansions = [await expand(self.deps, self.collector, n) for _ in range(PROFILED)]
        tool = "py-spy" if self.args.py_spy else "cProfile"
        for channel in self.args.channels:
            batches = [raw for e in expansions for raw in e[channel]]
            run, prof = await profiled(
                functools.partial(via_path, self.deps, batches),
                self.args.py_spy,
                self.logs / f"py-spy-{channel}.txt",
            )
            print()
            print(
                f"where the path's time goes: {channel}, {run.count} messages "
                f"({tool}, {run.rate:,.0f}/s while profiled)"
            )
            print("\n".join(prof.report(self.args.top)))

    def median(self, channel: str, way: str, figure: Callable[[Run], float]) -> float:
        return statistics.median(figure(r) for r in self.runs[(channel, way)])

    def cpu(self, channel: str, way: str) -> str:
        runs = self.runs[(channel, way)]
        return " ".join(f"{statistics.median(r.cpu[p] for r in runs):.0%}" for p in runs[0].cpu)

    def print_table(self) -> None:
        a = self.args
        header = (
            "channel",
            "raw msg/s",
            "channel msg/s",
            "path msg/s",
            "path/raw",
            "channel/raw",
            "raw µs/msg",
            "channel µs/msg",
            "path µs/msg",
            "µs raw/path",
        )
        rows = [header]
        for c in a.channels:
            raw, ch, path = (self.median(c, w, lambda r: r.rate) for w in WAYS)
            raw_us, ch_us, path_us = (self.median(c, w, lambda r: r.client_us) for w in WAYS)
            rows.append(
                (
                    c,
                    f"{raw:,.0f}",
                    f"{ch:,.0f}",
                    f"{path:,.0f}",
                    f"{path / raw:.2f}",
                    f"{ch / raw:.2f}",
                    f"{raw_us:,.0f}",
                    f"{ch_us:,.0f}",
                    f"{path_us:,.0f}",
                    f"{raw_us / path_us:.2f}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        print()
        print(
            f"medians of {a.repeat} runs of {a.messages} messages per channel and way; in flight: "
            f"raw {a.raw_concurrency} (SMTP: {a.smtp_pool} connections), channel and path "
            f"{a.concurrency} (SEND_CONCURRENCY); {a.log_format} logs; {a.placement}; µs/msg: CPU "
            "of this process per message"
        )
        for r in rows:
            cells = zip(r, widths, strict=True)
            print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(cells)))
        print()
        names = " / ".join([*self.meter.pids, "others"])
        print(f"CPU during each run, share of one core ({names}), medians:")
        for c in a.channels:
            print(f"  {c:<6} " + "   ".join(f"{w} {self.cpu(c, w)}" for w in WAYS))


async def bench(
    args: argparse.Namespace,
    ports: dict[str, int],
    push_subscriptions: list[dict[str, Any]],
    pids: dict[str, int],
    logs: Path,
) -> None:
    settings = server_settings(
        ports,
        public_url="https://alerts.example",  # links in the messages, the SMS status callback
        send_concurrency=args.concurrency,
        log_format=args.log_format,
    )
    worker_logging(settings, logs / "client.log")
    redis: Redis = make_redis(settings)
    channels = make_channels(settings)
    collector = Collector()
    deps = build_deps(settings, redis, collector.publish, channels)
    b = Bench(args, settings, deps, collector, channels, CpuMeter(pids), logs)
    try:
        t = time.monotonic()
        await seed(deps, push_subscriptions, args.messages)
        print(f"  {args.messages} citizens (email, phone, push) in {time.monotonic() - t:.1f}s")
        await b.prepare()
        for rep in range(args.repeat):
            await b.measure(rep)
        b.print_table()
        if args.profile or args.py_spy:
            await b.profile()
    finally:
        for raw in b.raw.values():
            await raw.close()
        for channel in channels.values():
            await channel.close()
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--messages", type=int, default=2000, help="per channel and way (default 2000)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument(
        "--channels",
        type=lambda v: tuple(c for c in CHANNELS if c in v.split(",")),
        default=CHANNELS,
        help="which to measure, e.g. sms,push (default all three)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=Settings().send_concurrency,
        help="SEND_CONCURRENCY of the channel and path runs (default: the setting's default)",
    )
    parser.add_argument(
        "--raw-concurrency", type=int, default=64, help="SMS and push in flight, raw (64)"
    )
    parser.add_argument("--smtp-pool", type=int, default=8, help="SMTP connections, raw (8)")
    parser.add_argument(
        "--profile", action="store_true", help="then profile one path run per channel"
    )
    parser.add_argument(
        "--py-spy", default=None, help="profile with this py-spy binary rather than cProfile"
    )
    parser.add_argument("--top", type=int, default=12, help="functions listed per profile")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=Settings().log_format,
        help="the worker's NOTIFIER_LOG_FORMAT (default: its default, text; production: json)",
    )
    parser.add_argument(
        "--share-cores",
        action="store_true",
        help="leave every process to the scheduler (default: this one on a core of its own)",
    )
    parser.add_argument("--logs", type=Path, default=None, help="keep the logs in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="notifier-bench-channels-") as tmp:
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            ports = {k: embedded.free_port() for k in ("redis", "smtp", "twilio", "push")}
            procs.append(embedded.start_redis(ports["redis"], None, logs / "redis.log"))
            t = time.monotonic()
            servers, push_subscriptions = start_servers(
                ports, Path(tmp), logs, "--push-subscribers", args.messages, procs
            )
            print(
                f"servers up in {time.monotonic() - t:.1f}s (SMTP, Twilio, push service with "
                f"{len(push_subscriptions)} subscriptions) in process {servers.pid}",
                flush=True,
            )
            pids = {"client": os.getpid(), "servers": servers.pid, "redis": procs[0].pid}
            args.placement = place(args.share_cores, servers.pid, procs[0].pid)
            asyncio.run(bench(args, ports, push_subscriptions, pids, logs))
            counts = asyncio.run(server_counts(ports["push"]))
            print(f"\nservers took: {counts}")
            refused = counts["push_refused"] + counts["twilio_requests"] - counts["twilio"]
            if refused:
                raise RuntimeError(f"{refused} requests refused by the servers")
        finally:
            for proc in reversed(procs):
                embedded.stop(proc)


if __name__ == "__main__":
    main()
