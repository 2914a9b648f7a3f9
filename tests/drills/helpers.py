"""What the failure drills share: providers that can be taken down and brought back on the same
port, workers as real processes (stopped, or killed with SIGKILL), subscribers written through
the store, announcements published through the real API, and what an operator reads back (the
messages each provider took, the ledger's figures)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import email.header
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from redis.asyncio import Redis

from channels.push import PushSubscription, generate_vapid_keys
from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.dev import embedded, twilio_fake
from notifier.dev.push_service_fake import PushServiceFake
from notifier.dev.push_service_fake import create_app as push_app
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps, make_redis
from streams.delivery.send import unrecorded_at_most
from subscriptions.areas import load_catalogue
from subscriptions.store import SubscriptionStore, new_id
from subscriptions.subscription import parse_subscription
from tests.stage import eventually

CITY = "paris"
FROM = "+33700000001"
TWILIO_SID, TWILIO_TOKEN = "AC" + "1" * 32, "f" * 32


class LightSink:
    """An aiosmtpd handler that keeps (recipient, subject) of each message it takes: cheap
    enough to keep up with a worker sending tens of thousands of messages."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        head = (envelope.original_content or b"").split(b"\r\n\r\n", 1)[0]
        found = re.search(rb"^Subject: (.*(?:\r\n[ \t].*)*)", head, re.MULTILINE)
        raw = found.group(1).decode("ascii", "replace") if found else ""
        subject = str(email.header.make_header(email.header.decode_header(raw)))
        self.taken.extend((to, subject) for to in envelope.rcpt_tos)
        return "250 OK"


class SmtpServer:
    """An aiosmtpd server on a fixed port that can go away and come back (same sink)."""

    def __init__(self) -> None:
        self.sink = LightSink()
        self.port = embedded.free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self._controller: Controller | None = None

    def up(self) -> None:
        self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[tuple[str, str]]:
        """(recipient, subject) of every message taken, duplicates included."""
        return list(self.sink.taken)


class RedisServer:
    """redis-server with its append-only file under ``data``, restarted on the same port."""

    def __init__(self, data: Path, log: Path) -> None:
        self.port, self.data, self.log = embedded.free_port(), data, log
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def up(self) -> None:
        self.proc = embedded.start_redis(self.port, self.data, self.log)

    def down(self) -> None:
        """SIGTERM, as a service manager stops it: Redis flushes its AOF and exits."""
        if self.proc is not None:
            embedded.stop(self.proc)
            self.proc = None


class TwilioServer:
    """The Twilio-shaped server (``notifier.dev.twilio_fake``) on a fixed port, down and up
    again."""

    def __init__(self) -> None:
        self.fake = twilio_fake.TwilioFake(TWILIO_SID, TWILIO_TOKEN, numbers=[FROM])
        self.port = embedded.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None

    async def up(self) -> None:
        self._runner, _ = await twilio_fake.start(self.fake, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def received(self) -> list[tuple[str, str]]:
        """(number, text) of every message taken, duplicates included."""
        return [(m.to, m.body) for m in list(self.fake.messages)]


class PushServer:
    """The push service (``notifier.dev.push_service_fake``) on a fixed port, down and up again."""

    def __init__(self) -> None:
        self.fake = PushServiceFake()
        self.port = embedded.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None

    async def up(self) -> None:
        self._runner = web.AppRunner(push_app(self.fake), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def received(self) -> list[tuple[str, str]]:
        """(subscription token, title) of every push taken, duplicates included."""
        return [(p.token, str(p.json()["title"])) for p in list(self.fake.received)]


def with_providers(
    settings: Settings, smtp: SmtpServer, sms: TwilioServer | None, push: PushServer | None
) -> Settings:
    """``settings`` pointed at these providers (SMS and push on when given)."""
    extra: dict[str, Any] = {"smtp_url": Secret(smtp.url)}
    if sms is not None:
        extra.update(
            twilio_account_sid=TWILIO_SID,
            twilio_auth_token=Secret(TWILIO_TOKEN),
            twilio_from=FROM,
            twilio_base_url=sms.url,
        )
    if push is not None:
        extra["vapid_private_key"] = Secret(generate_vapid_keys().private_key)
    return settings.replace(**extra)


class Worker:
    """``notifier worker`` as a real process; ``kill()`` is SIGKILL: no goodbye of any kind."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen[bytes] = embedded.spawn(
            embedded.python_module("notifier", "worker"),
            log,
            env=embedded.child_env(settings.to_env()),
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        embedded.stop(self.proc)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclasses.dataclass
class Api:
    client: TestClient[Any, Any]
    key: str  # a department key of "voirie"

    async def announce(
        self, title: str, area: str = "75105", expires_in: float | None = None, **more: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "category": "roadworks",
            "severity": "severe",  # not held back by quiet hours
            "target": {"areas": [area]},
            "content": {"fr": {"title": title, "body": "Rue fermée."}},
            **more,
        }
        if expires_in is not None:
            when = datetime.now(UTC) + timedelta(seconds=expires_in)
            body["expires_at"] = when.isoformat(timespec="seconds")
        r = await self.client.post(
            f"/v1/cities/{CITY}/announcements",
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert r.status == 202, await r.text()
        return dict(await r.json())

    async def deliveries(self, href: str) -> dict[str, dict[str, int]]:
        """The announcement's delivery figures, as a department reads them."""
        r = await self.client.get(href, headers={"Authorization": f"Bearer {self.key}"})
        assert r.status == 200, await r.text()
        return dict((await r.json())["deliveries"])


@contextlib.asynccontextmanager
async def served_api(settings: Settings, redis: Redis) -> AsyncIterator[Api]:
    """The real API in this process, publishing to the real broker."""
    publisher = KafkaPublisher(settings.kafka_bootstrap, timeout=5.0)
    await publisher.start()
    deps = build_deps(settings, redis, publisher.publish, {})
    client = TestClient(TestServer(create_api(settings, deps)))
    await client.start_server()
    try:
        yield Api(client, await create_department_key(redis, CITY, "voirie"))
    finally:
        await client.close()
        await publisher.stop()


async def subscribe(
    redis: Redis,
    n: int,
    channel: str,
    address: Any,
    area: str = "75105",
    push: PushServer | None = None,
) -> list[str]:
    """``n`` citizens, each with one confirmed contact point on ``channel`` (``address(i)``; for
    push, a fresh subscription of ``push``) subscribed to ``area``; their addresses as the
    provider sees them (email address, E.164 number, push token)."""
    store, catalogue = SubscriptionStore(redis), load_catalogue(CITY)
    sem = asyncio.Semaphore(64)
    seen: list[str] = [""] * n

    async def one(i: int) -> None:
        async with sem:
            citizen = await store.create_citizen(CITY, "fr")
            if channel == "push":
                assert push is not None
                sub, _ = push.fake.subscribe(push.url)
                await store.add_contact(
                    CITY, citizen.id, "push", sub.endpoint, "confirmed", "drill", sub.p256dh,
                    sub.auth,
                )  # fmt: skip
                seen[i] = token_of(sub)
            else:
                await store.add_contact(CITY, citizen.id, channel, address(i), "confirmed", "drill")
                seen[i] = address(i)
            body = {"area": area, "channels": [channel]}
            sub_, index = parse_subscription(
                body, sid=new_id("sub"), citizen=citizen.id, catalogue=catalogue
            )
            await store.add_subscription(CITY, sub_, index)

    await asyncio.gather(*(one(i) for i in range(n)))
    return seen


@dataclasses.dataclass
class EmailFlow:
    """What ``email_flow`` set up: the settings the workers run with, the SMTP server, the
    served API, the subscribers' addresses, and the workers (more may be started)."""

    settings: Settings
    smtp: SmtpServer
    api: Api
    to: list[str]
    workers: list[Worker]
    logs: Path

    def start_worker(self, name: str) -> Worker:
        w = Worker(self.settings, self.logs / f"worker-{self.settings.app_id}-{name}.log")
        self.workers.append(w)
        return w


@contextlib.asynccontextmanager
async def email_flow(
    settings: Settings, redis: Redis, logs: Path, citizens: int, workers: tuple[str, ...] = ("1",)
) -> AsyncIterator[EmailFlow]:
    """A drill's stage for email: an SMTP server, ``citizens`` subscribers of 75105
    (``email_address(i)``) and one of 75112 for the warm-up, the workers named ``workers``
    started, the API served, and one warm-up email through (the group has joined, every agent
    runs). On the way out the workers stop (the tail of their logs printed when the drill
    failed) and the SMTP server too."""
    smtp = SmtpServer()
    smtp.up()
    s = settings.replace(smtp_url=Secret(smtp.url), worker_metrics_port=0)
    started: list[Worker] = []
    try:
        to = await subscribe(redis, citizens, "email", email_address)
        await subscribe(redis, 1, "email", lambda i: "warm@example.org", area="75112")
        async with served_api(s, redis) as api:
            flow = EmailFlow(s, smtp, api, to, started, logs)
            for name in workers:
                flow.start_worker(name)
            await api.announce("Avant", area="75112")
            await eventually(
                lambda: reached(smtp.received(), "Avant") or not all(w.alive() for w in started),
                within=90,
                what="the warm-up email",
            )
            assert all(w.alive() for w in started), started[0].tail()
            yield flow
    except BaseException:
        for w in started:
            print(w.tail())
        raise
    finally:
        for w in started:
            w.stop()
        smtp.down()


def email_address(i: int) -> str:
    return f"c{i}@example.org"


def token_of(sub: PushSubscription) -> str:
    return sub.endpoint.rsplit("/", 1)[1]


def phone(i: int) -> str:
    return f"+336{10_000_000 + i:08d}"


def duplicates(received: list[Any]) -> int:
    """How many messages a recipient got more than once."""
    return sum(n - 1 for n in collections.Counter(received).values() if n > 1)


def reached(received: list[tuple[str, str]], title: str) -> list[str]:
    """The recipients of the messages that carry ``title``, once per message."""
    return [to for to, text in received if title in text]


async def a_fifth_reached(smtp: SmtpServer, title: str, citizens: int) -> int:
    """Wait until a fifth of ``citizens`` have the email with ``title``: a drill breaks
    something in the middle of the flow, not before it; how many had it then."""
    await eventually(
        lambda: len(reached(smtp.received(), title)) >= citizens // 5,
        within=60,
        what="a fifth of the emails",
    )
    return len(reached(smtp.received(), title))


async def all_reached_and_settled(
    flow: EmailFlow, href: str, title: str, within: float, after: str
) -> None:
    """Every subscriber of ``flow`` has the email with ``title``, and the ledger has every
    outcome; else an assertion that says how many and the ledger's figures."""
    smtp, api, citizens = flow.smtp, flow.api, len(flow.to)

    def everyone() -> bool:
        return len(set(reached(smtp.received(), title))) == citizens

    async def ledger() -> bool:
        return settled(await api.deliveries(href), "email", citizens)

    try:
        await eventually(everyone, within=within, what=f"every email after {after}")
        await eventually(ledger, within=30, what="the ledger's outcomes")
    except AssertionError as e:
        got = len(set(reached(smtp.received(), title)))
        figures = await api.deliveries(href)
        raise AssertionError(f"{e}: {got} of {citizens} reached; ledger {figures}") from None


FINAL = {"sent", "delivered", "undelivered", "failed", "expired", "skipped", "superseded"}


def settled(deliveries: dict[str, dict[str, int]], channel: str, n: int) -> bool:
    """Every one of ``n`` notifications on ``channel`` has its outcome."""
    by_status = deliveries.get(channel, {})
    return sum(v for k, v in by_status.items() if k in FINAL | {"cancelled"}) == n


async def claims_held(redis: Redis) -> dict[str, float]:
    """The notification records being handed over now (key -> when claimed)."""
    keys = [k async for k in redis.scan_iter(match=f"n:{{{CITY}}}:notif:*", count=1000)]
    async with redis.pipeline(transaction=False) as p:
        for k in keys:
            p.hmget(k, "status", "claimed_at")
        rows = await p.execute()
    return {
        k: float(claimed)
        for k, (status, claimed) in zip(keys, rows, strict=True)
        if status == "sending" and claimed
    }


STAMP = "%Y-%m-%d %H:%M:%S,%f"  # how a worker's text log line starts (``notifier.logs``)


def restart_figures(log: Path, killed: float) -> dict[str, float]:
    """Seconds from ``killed`` (``time.time()``) to what a restarted worker's log shows: its
    first line (the process is up and wired), the group joined (partitions assigned), its first
    message handed over and its last."""
    marks = {"started": "", "joined": "_on_partitions_assigned", "first sent": "outcome=sent"}
    out: dict[str, float] = {}
    last = None
    for line in log.read_text(errors="replace").splitlines():
        try:
            at = datetime.strptime(line[:23], STAMP).timestamp()  # local time, as logged
        except ValueError:
            continue
        for name, mark in marks.items():
            if name not in out and mark in line:
                out[name] = at - killed
        if "outcome=sent" in line:
            last = at - killed
    if last is not None:
        out["last sent"] = last
    return out


async def primary_lost_during_a_flow(
    settings: Settings, logs: Path, move: Callable[[], object], how: str, citizens: int = 1000
) -> None:
    """A ``citizens``-recipient announcement's emails going out while ``move`` (run on a
    thread: a failover, a primary killed) takes the store's primary away, with the API's
    figures read every 50 ms meanwhile: every recipient served, duplicates within what the
    worker had in flight, and every API answer 200 or 503 with ``Retry-After`` (never 500)."""
    redis = make_redis(settings)  # the API's client, as ``notifier api`` makes it
    statuses: list[tuple[int, str | None]] = []
    try:
        async with email_flow(settings, redis, logs, citizens) as f:
            smtp, api = f.smtp, f.api
            event = await api.announce("Pendant")
            sent_before = await a_fifth_reached(smtp, "Pendant", citizens)
            probing = asyncio.create_task(_probe(api, event["href"], statuses))
            await asyncio.to_thread(move)
            assert sent_before < citizens, f"the flow was over before the {how}: no drill"
            try:
                await all_reached_and_settled(f, event["href"], "Pendant", 60, f"the {how}")
            finally:
                probing.cancel()
            figures = await api.deliveries(event["href"])
        received = reached(smtp.received(), "Pendant")
        print(
            f"{how}: ledger after it {figures}; {duplicates(received)} duplicates; "
            f"API answers meanwhile {_counted(statuses)}"
        )
        assert sorted(set(received)) == sorted(f.to)
        assert figures == {"email": {"sent": citizens}}
        # the messages the worker had in hand when its connection to the primary went
        assert duplicates(received) <= 2 * unrecorded_at_most(f.settings.send_concurrency)
        # while there was no primary the API said so: 503 with Retry-After, never a 500
        assert all(code in (200, 503) for code, _ in statuses), _counted(statuses)
        assert all(after for code, after in statuses if code == 503), _counted(statuses)
    finally:
        await redis.aclose()


async def _probe(api: Api, href: str, statuses: list[tuple[int, str | None]]) -> None:
    """The department's figures read every 50 ms, as a console open on the event does."""
    while True:
        r = await api.client.get(href, headers={"Authorization": f"Bearer {api.key}"})
        statuses.append((r.status, r.headers.get("Retry-After")))
        r.release()
        await asyncio.sleep(0.05)


def _counted(statuses: list[tuple[int, str | None]]) -> dict[int, int]:
    return dict(collections.Counter(code for code, _ in statuses))
