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
3. path: ``streams.send.send_batch`` on the batches ``expand_announcement`` wrote (500
   recipients each), one after the other as the worker's agent takes them: event state, consent,
   ledger claim, message building, provider call, ledger write, the per-delivery log line.

The three servers run in another process (``bench/channel_servers.py``); redis-server in its own.
This process has a core of its own, the servers and Redis share the other(s) (``place``;
``--share-cores``: any process on any core). See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import aiosmtplib
from aiosmtplib.email import flatten_message
from channel_servers import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM
from e2e import eventually, tail
from measure import CpuMeter, machine_busy
from profiles import Profile, from_cprofile, from_py_spy
from py_vapid import Vapid
from pywebpush import WebPusher
from redis.asyncio import Redis
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.base import Channel
from channels.email import Email, SmtpConfig, build_message
from channels.push import Push, generate_vapid_keys, load_vapid_private_key
from channels.sms import Sms
from notifier import embedded, logs
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps, make_channels, make_redis
from streams import heap
from streams.announcements import Announcement
from streams.deps import Deps
from streams.expand import expand_announcement
from streams.records import DeliveryBatch
from streams.send import _Messages, send_batch
from subscriptions.store import new_id
from subscriptions.subscription import parse_subscription

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CITY, AREA = "paris", "75105"
CHANNELS = ("email", "sms", "push")
WAYS = ("raw", "channel", "path")
PROFILED = 3  # expansions the profiled path run goes through
ANNOUNCEMENT: dict[str, Any] = {
    "category": "roadworks",
    "severity": "moderate",
    "target": {"areas": [AREA]},
    "content": {
        "fr": {
            "title": "Travaux rue Monge",
            "body": "La rue Monge est fermée à la circulation du 2 au 6 décembre.",
            "link": "https://www.paris.fr/travaux",
        },
        "en": {"title": "Roadworks on rue Monge", "body": "Rue Monge is closed to traffic."},
    },
}


# -- what the worker does before the send path: seed, expand ----------------------------------


class Collector:
    """``Deps.publish`` for the expansion: keeps what would go to Kafka."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, key, value))


async def seed(deps: Deps, push_subscriptions: list[dict[str, Any]], n: int) -> None:
    """``n`` citizens, each with a confirmed email, phone and push subscription, subscribed to
    ``AREA`` on the three channels; half of them in French, half in English."""
    store, catalogue = deps.store, deps.catalogues[CITY]
    sem = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with sem:
            c = await store.create_citizen(CITY, "fr" if i % 2 else "en")
            await store.add_contact(CITY, c.id, "email", f"c{i}@bench.example", "confirmed", "b")
            await store.add_contact(CITY, c.id, "sms", f"+336{i:08d}", "confirmed", "b")
            push = push_subscriptions[i]
            keys = push["keys"]
            await store.add_contact(
                CITY, c.id, "push", push["endpoint"], "confirmed", "b", keys["p256dh"], keys["auth"]
            )
            sub, index = parse_subscription(
                {"area": AREA, "channels": list(CHANNELS)},
                sid=new_id("sub"),
                citizen=c.id,
                catalogue=catalogue,
            )
            await store.add_subscription(CITY, sub, index)

    await asyncio.gather(*(one(i) for i in range(n)))


async def expand(deps: Deps, collector: Collector, n: int) -> dict[str, list[bytes]]:
    """A fresh announcement to ``AREA``, accepted and expanded as the worker does: its
    ``deliveries.<channel>`` records (fresh notification ids, queued in the ledger)."""
    a = Announcement.from_input(
        ANNOUNCEMENT,
        id=new_id("evt"),
        city=CITY,
        department="voirie",
        catalogue=deps.catalogues[CITY],
    )
    await deps.events.accept(a)
    collector.records.clear()
    await expand_announcement(a, deps)
    out: dict[str, list[bytes]] = {}
    for channel in CHANNELS:
        topic = getattr(deps.topics, channel)
        out[channel] = [v for t, _, v in collector.records if t == topic]
        got = sum(len(DeliveryBatch.from_wire(v).recipients) for v in out[channel])
        if got != n:
            raise RuntimeError(f"the expansion queued {got} {channel} notifications, not {n}")
    return out


async def built_messages(deps: Deps, batches: list[bytes]) -> list[tuple[str, Any]]:
    """(notification id, message) as ``send_batch`` builds them, for raw and channel runs."""
    out: list[tuple[str, Any]] = []
    for raw in batches:
        batch = DeliveryBatch.from_wire(raw)
        messages = _Messages(batch, deps)
        contacts = await deps.store.contacts(CITY, [r.contact for r in batch.recipients])
        for r, cp in zip(batch.recipients, contacts, strict=True):
            assert cp is not None
            out.append((r.id, messages(r, cp)))
    return out


# -- 1. the client libraries alone ------------------------------------------------------------


class Raw(Protocol):
    async def start(self) -> None: ...
    async def run(self) -> int: ...
    async def close(self) -> None: ...


class RawEmail:
    """aiosmtplib alone: each message's bytes made beforehand (as ``send_message`` would make
    them for this server), sent over a pool of connections opened beforehand."""

    def __init__(self, config: SmtpConfig, mail_from: str, msgs: Sequence[Email], pool: int):
        self.config, self.pool = config, pool
        self.sender = parseaddr(mail_from)[1]
        # aiosmtpd offers 8BITMIME and the addresses are ASCII: what send_message does then
        self.items = [
            (m.to, flatten_message(build_message(mail_from, m), utf8=False, cte_type="8bit"))
            for m in msgs
        ]
        self.conns: list[aiosmtplib.SMTP] = []

    async def start(self) -> None:
        for _ in range(self.pool):
            smtp = aiosmtplib.SMTP(hostname=self.config.host, port=self.config.port)
            await smtp.connect()
            self.conns.append(smtp)

    async def run(self) -> int:
        todo = list(reversed(self.items))

        async def worker(smtp: aiosmtplib.SMTP) -> int:
            n = 0
            while todo:
                to, data = todo.pop()
                await smtp.sendmail(self.sender, [to], data, mail_options=["BODY=8BITMIME"])
                n += 1
            return n

        return sum(await asyncio.gather(*(worker(c) for c in self.conns)))

    async def close(self) -> None:
        for smtp in self.conns:
            await smtp.quit()


class RawSms:
    """twilio's ``Client`` on its own ``AsyncTwilioHttpClient`` (one pooled aiohttp session),
    pointed at the local server, ``limit`` requests in flight."""

    def __init__(self, base_url: str, msgs: Sequence[Sms], limit: int) -> None:
        self.base_url, self.msgs, self.limit = base_url, msgs, limit
        self.http: AsyncTwilioHttpClient | None = None
        self.client: Client | None = None

    async def start(self) -> None:
        self.http = AsyncTwilioHttpClient()  # its session is made here, in the event loop
        self.client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=self.http)
        self.client.api.base_url = self.base_url

    async def run(self) -> int:
        assert self.client is not None
        messages = self.client.messages
        sem = asyncio.Semaphore(self.limit)

        async def one(m: Sms) -> int:
            async with sem:
                created = await messages.create_async(
                    to=m.to, from_=SMS_FROM, body=m.body, status_callback=m.status_callback
                )
                return 1 if created.sid else 0

        return sum(await asyncio.gather(*(one(m) for m in self.msgs)))

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


class RawPush:
    """pywebpush alone: ``WebPusher.send_async`` (it encrypts each payload) on one shared
    aiohttp session, the VAPID header signed once, payloads serialised beforehand."""

    def __init__(self, vapid_key: str, subject: str, msgs: Sequence[Push], limit: int) -> None:
        self.limit = limit
        origin = msgs[0].subscription.origin
        claims = {"aud": origin, "exp": int(time.time()) + 12 * 3600, "sub": subject}
        vapid = Vapid(private_key=load_vapid_private_key(vapid_key))
        authorization = str(vapid.sign(claims)["Authorization"])
        self.items = []
        for m in msgs:
            headers = {"Authorization": authorization, "Urgency": m.urgency}
            if m.topic:
                headers["Topic"] = m.topic
            self.items.append((m.subscription.to_json(), m.data(), headers, m.ttl))
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.limit))

    async def run(self) -> int:
        session = self.session
        assert session is not None
        sem = asyncio.Semaphore(self.limit)

        async def one(info: dict[str, Any], data: bytes, headers: dict[str, str], ttl: int) -> int:
            async with sem:
                resp = await WebPusher(info, aiohttp_session=session).send_async(
                    data, headers, ttl=ttl, content_encoding="aes128gcm"
                )
                assert isinstance(resp, aiohttp.ClientResponse)
                return 1 if resp.status == 201 else 0

        return sum(await asyncio.gather(*(one(*item) for item in self.items)))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


# -- 2. the channel objects, 3. the send path -------------------------------------------------


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


# -- measuring --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    count: int
    seconds: float
    cpu: dict[str, float]  # process -> share of one core during the run

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def client_us(self) -> float:
        """CPU time of this process (the client) per message, microseconds."""
        return self.cpu.get("client", float("nan")) * self.seconds / self.count * 1e6


async def start_raw(
    settings: Settings, msgs: dict[str, list[Any]], smtp_pool: int, limit: int
) -> dict[str, Raw]:
    """Each channel's client library alone, on the messages built beforehand, started."""
    s = settings
    raw: dict[str, Raw] = {
        "email": RawEmail(
            SmtpConfig.from_url(str(s.smtp_url)), s.mail_from, msgs["email"], smtp_pool
        ),
        "sms": RawSms(s.twilio_base_url, msgs["sms"], limit),
        "push": RawPush(str(s.vapid_private_key), s.vapid_subject, msgs["push"], limit),
    }
    for r in raw.values():
        await r.start()
    return raw


async def timed(meter: CpuMeter, expected: int, work: Callable[[], Awaitable[int]]) -> Run:
    """``work`` timed, with the CPU of our processes and of everything else on the machine
    (``others``: other people's jobs on these cores make a run slower, not the code)."""
    busy = machine_busy()
    meter.start()
    t = time.perf_counter()
    count = await work()
    seconds = time.perf_counter() - t
    meter.stop()
    others = (machine_busy() - busy) / seconds - sum(meter.shares.values())
    if count != expected:
        raise RuntimeError(f"{count} of {expected} messages taken")
    return Run(count, seconds, {**meter.shares, "others": max(0.0, others)})


# -- profiling the path -----------------------------------------------------------------------

# (function, end of its file's path): the time spent inside each is shown, when 1% or more.
# A batch's senders are tasks of their own (``_Sender.run`` gathers them): the per-message work
# is under ``_send`` (streams/send.py), the chunks' reads and claims under ``_claim``.
KEY_FUNCTIONS = (
    ("send_batch", "streams/send.py"),
    ("from_wire", "streams/records.py"),
    ("_stale", "streams/send.py"),
    ("contacts", "subscriptions/store.py"),
    ("_send", "streams/send.py"),
    ("_claim", "streams/send.py"),
    ("claim_many", "streams/ledger.py"),
    ("wait", "streams/ratelimit.py"),
    ("__call__", "streams/send.py"),  # _Messages: a recipient's message
    ("_topic", "streams/send.py"),
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
    ("advance_many", "streams/ledger.py"),
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


def worker_logging(settings: Settings, path: Path) -> None:
    """As ``notifier worker`` logs (``notifier.logs.setup``), to a file: the per-delivery INFO
    line is part of the path."""
    logs.setup(settings, "worker", open(path, "a", encoding="utf-8"))  # noqa: SIM115 (for the run)


def place(share: bool, *others: int) -> str:
    """This process (the worker, or the raw client) on a core of its own, the servers and
    redis-server (``others``) on the rest, as a worker runs in production, where Redis and the
    providers are other machines; unless ``share``. Left to the scheduler on two cores, Redis,
    woken by each script call, runs on the worker's core and takes it from the worker: 15-20 µs a
    message, seen by py-spy in the worker's socket writes (``bench/README.md``). What it says."""
    cores = sorted(os.sched_getaffinity(0))
    if share or len(cores) < 2:
        return f"every process on any of the {len(cores)} cores"
    os.sched_setaffinity(0, cores[:1])
    for pid in others:
        os.sched_setaffinity(pid, cores[1:])
    return f"this process on core {cores[0]}, the servers and Redis on {len(cores) - 1} other(s)"


def server_settings(ports: dict[str, int], **more: Any) -> Settings:
    """Settings of a client of ``bench/channel_servers.py`` and of the redis-server on
    ``ports``, database 0 (a fresh VAPID key), with ``more``."""
    return Settings(
        redis_url=f"redis://127.0.0.1:{ports['redis']}/0",
        smtp_url=Secret(f"smtp://127.0.0.1:{ports['smtp']}"),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=Secret(AUTH_TOKEN),
        twilio_from=SMS_FROM,
        twilio_base_url=f"http://127.0.0.1:{ports['twilio']}",
        vapid_private_key=Secret(generate_vapid_keys().private_key),
        secret_key=Secret("x" * 48),
        **more,
    )


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


def start_servers(
    ports: dict[str, int],
    tmp: Path,
    logs: Path,
    push_option: str,
    push_value: int,
    procs: list[subprocess.Popen[bytes]],
) -> tuple[subprocess.Popen[bytes], list[dict[str, Any]]]:
    """``bench/channel_servers.py`` on ``ports`` (smtp, twilio, push), appended to ``procs``
    once started (so that the caller stops it); its push subscriptions once it listens.
    ``push_option``: ``--push-subscribers`` or ``--push-pool``, with ``push_value``."""
    ready = tmp / "push-subscriptions.json"
    command = [
        sys.executable,
        str(HERE / "channel_servers.py"),
        *("--smtp-port", str(ports["smtp"]), "--twilio-port", str(ports["twilio"])),
        *("--push-port", str(ports["push"]), "--ready", str(ready)),
        *(push_option, str(push_value)),
    ]
    procs.append(embedded.spawn(command, logs / "servers.log"))
    servers = procs[-1]
    asyncio.run(
        eventually(lambda: ready.exists() or servers.poll() is not None, 120, "the servers")
    )
    if servers.poll() is not None:
        raise RuntimeError(f"servers exited: {tail(logs / 'servers.log')}")
    return servers, list(json.loads(ready.read_text()))


async def server_counts(port: int) -> dict[str, int]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/bench/counts") as r,
    ):
        return dict(await r.json())


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
