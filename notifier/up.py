"""``notifier up``: the whole service on one machine, embedding what is not configured.

With nothing configured it starts Tansu and redis-server on free loopback ports, a local SMTP
outbox and a local Twilio-shaped server (both readable under ``/dev/``), keeps a secret key, a
VAPID key and a department key under DATA_DIR, runs the worker as a child process and the API in
this one. Ready means ready: the banner ("notifier is up") comes, and the API's ``/readyz``
answers 200, only once the worker has joined its consumer group and loaded the cities, so that
what is sent from then on is delivered. Ctrl-C (or SIGTERM) stops everything; children also die
with this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from aiosmtpd.smtp import SMTP

from channels.push import generate_vapid_keys
from notifier import layout
from notifier.api.app import create_api
from notifier.api.auth import create_department_key, department_of
from notifier.api.keys import DevServices
from notifier.dev import embedded, twilio_fake
from notifier.dev.outbox import OutboxHandler
from notifier.errors import ConfigError
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_services, make_redis
from streams import heap

DEV_DEPARTMENT = "voirie"
DEV_SMS_FROM = "+33700000001"
WAIT_POLL = 0.5  # seconds between two questions to the worker while it starts
WAIT_NOTE = 15.0  # seconds between two "still waiting" lines


class EmbeddedWorker:
    """The worker ``notifier up`` runs as its child, asked through its own ``/readyz``
    (``notifier.worker_http``): it can deliver once it has joined its consumer group and
    loaded the cities, some seconds after the API answers."""

    def __init__(self, proc: subprocess.Popen[bytes], base: str) -> None:
        self.proc = proc
        self.url = f"{base}/readyz"

    async def ready(self) -> bool | str:
        """True, or what it waits for (the API's ``/readyz`` shows it)."""
        if self.proc.poll() is not None:
            return f"stopped (exit code {self.proc.returncode})"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
                http.get(self.url) as r,
            ):
                if r.status == 200:
                    return True
                state = await r.json()
                return f"{state['group']} its group, {state['cities']} the cities"
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            return "starting"

    async def wait(self, stopping: asyncio.Event) -> None:
        """Until the worker is ready (or Ctrl-C), saying so while it waits."""
        print(
            "waiting for the worker to join its consumer group and load the cities "
            "(about 10-40 s; /readyz answers 503 until then)…",
            flush=True,
        )
        since = time.monotonic()
        said = since
        while not stopping.is_set():
            state = await self.ready()
            if state is True:
                return
            if self.proc.poll() is not None:
                raise ConfigError(
                    f"the worker stopped (exit code {self.proc.returncode}) before it was "
                    "ready; its lines are above"
                )
            if time.monotonic() - said >= WAIT_NOTE:
                said = time.monotonic()
                print(f"still waiting for the worker ({said - since:.0f} s): {state}", flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), WAIT_POLL)


async def serve_api(
    settings: Settings,
    dev: DevServices | None = None,
    ready: list[str] | None = None,
    worker: EmbeddedWorker | None = None,
) -> None:
    """Run the API (and the dev services ``dev`` names) until SIGINT/SIGTERM. With ``worker``
    (``notifier up``), its ``/readyz`` asks the worker too, and the ``ready`` lines are printed
    only once the worker is ready."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    redis = make_redis(settings)
    await layout.check(redis)  # never a newer release's store
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    await publisher.start()
    smtp_server = None
    fake_runner = None
    try:
        if dev is not None and dev.outbox_dir is not None:
            port = int(str(settings.smtp_url).rsplit(":", 1)[1])
            handler = OutboxHandler(dev.outbox_dir)
            smtp_server = await loop.create_server(lambda: SMTP(handler), "127.0.0.1", port)
        if dev is not None and dev.twilio is not None:
            port = int(settings.twilio_base_url.rsplit(":", 1)[1])
            fake_runner, _ = await twilio_fake.start(dev.twilio, "127.0.0.1", port)
        deps = build_services(settings, redis, publisher.publish)
        await deps.cities.refresh()
        if settings.default_city not in deps.cities:
            raise ConfigError(
                f"NOTIFIER_DEFAULT_CITY={settings.default_city!r} is not a city here: "
                "create it with `notifier city create FILE`"
            )
        checks: dict[str, Callable[[], Awaitable[bool | str]]] = {"kafka": publisher.ready}
        if worker is not None:
            checks["worker"] = worker.ready
        app = create_api(settings, deps, dev, checks=checks)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.api_host, settings.api_port).start()
            heap.freeze()  # what it loaded to start is not walked by every full collection
            if worker is not None:
                await worker.wait(stopping)
            if not stopping.is_set():
                for line in ready or [f"API on {settings.base_url}"]:
                    print(line, flush=True)
            await stopping.wait()
            print("stopping…", flush=True)
        finally:
            await runner.cleanup()
    finally:
        if fake_runner is not None:
            await fake_runner.cleanup()
        if smtp_server is not None:
            smtp_server.close()
        await publisher.stop()
        await redis.aclose()


def _kept(path: Path, make: str) -> str:
    """A secret kept under DATA_DIR (made once, readable by its owner only)."""
    if not path.exists():
        path.write_text(make)
        path.chmod(0o600)
    return path.read_text().strip()


async def _dev_key(settings: Settings) -> str:
    """The embedded default's department key, kept under DATA_DIR and valid in its Redis."""
    path = settings.data_dir / "dev-department-key"
    redis = make_redis(settings)
    try:
        await layout.check(redis)  # the first process to meet the store: never a newer one's
        if path.exists():
            api_key = path.read_text().strip()
            if await department_of(redis, settings.default_city, api_key):
                return api_key
        api_key = await create_department_key(redis, settings.default_city, DEV_DEPARTMENT, "dev")
        path.write_text(api_key)
        path.chmod(0o600)
        return api_key
    finally:
        await redis.aclose()


def worker_url(s: Settings) -> str:
    """Where this machine reaches the worker's own server (metrics, readiness)."""
    host = s.worker_metrics_host
    if host in ("", "0.0.0.0", "::"):  # every address: loopback among them
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{s.worker_metrics_port}"


def ready_lines(s: Settings, dev: DevServices, parts: list[str], dev_key: str) -> list[str]:
    """What ``notifier up`` prints once it serves: where everything is."""
    if not s.api_on_loopback:  # create_api leaves the dev routes out too
        dev_lines = [
            f"  Dev routes (/dev/outbox, /dev/sms): OFF, the API binds to {s.api_host}, not a "
            "loopback address, and they show every magic link and code",
            *([f"  Outbox:  the emails are files in {dev.outbox_dir}"] if dev.outbox_dir else []),
        ]
    elif dev.outbox_dir or dev.twilio:
        dev_lines = [f"  Outbox:  {s.base_url}/dev/   (what was sent)"]
    else:
        dev_lines = []
    return [
        "notifier is up: the API answers, the worker has joined its group and loaded the cities "
        "(Ctrl-C stops everything)",
        *(f"  {p}" for p in parts),
        f"  Portal:  {s.base_url}/   console: {s.base_url}/console",
        f"  API:     {s.base_url}   (/v1/docs; health: /healthz, /readyz; /metrics)",
        f"  Worker:  {worker_url(s)}/metrics   (readiness: /readyz)",
        *dev_lines,
        f"  Department key ({DEV_DEPARTMENT}, {s.default_city}): {dev_key}",
    ]


def up(settings: Settings) -> None:
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        changes: dict[str, object] = {}
        embedded_parts = []
        if not settings.secret_key:
            changes["secret_key"] = Secret(_kept(data / "secret.key", secrets.token_urlsafe(48)))
        if not settings.vapid_private_key:
            vapid = _kept(data / "vapid.pem", generate_vapid_keys().private_key_pem)
            changes["vapid_private_key"] = Secret(vapid)
            embedded_parts.append(f"Web push: VAPID key in {data / 'vapid.pem'}")
        if not settings.kafka_url:
            port = embedded.free_port()
            procs.append(embedded.start_tansu(port, data / "tansu.log"))
            changes["kafka_url"] = f"kafka://127.0.0.1:{port}"
            embedded_parts.append("Kafka: embedded Tansu broker (memory only)")
        if not settings.redis_url:
            port = embedded.free_port()
            procs.append(embedded.start_redis(port, data / "redis", data / "redis.log"))
            changes["redis_url"] = f"redis://127.0.0.1:{port}/0"
            embedded_parts.append(f"Redis: embedded redis-server, AOF in {data / 'redis'}")
        dev = DevServices()
        if not settings.smtp_url:
            changes["smtp_url"] = Secret(f"smtp://127.0.0.1:{embedded.free_port()}")
            dev.outbox_dir = data / "outbox"
            embedded_parts.append(f"SMTP: local outbox in {dev.outbox_dir}")
        if not settings.twilio_account_sid:
            sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
            dev.twilio = twilio_fake.TwilioFake(sid, token, numbers=[DEV_SMS_FROM])
            changes.update(
                twilio_account_sid=sid,
                twilio_auth_token=Secret(token),
                twilio_from=DEV_SMS_FROM,
                twilio_base_url=f"http://127.0.0.1:{embedded.free_port()}",
            )
            embedded_parts.append("SMS: local Twilio-shaped server (messages at /dev/sms)")
        if not settings.worker_metrics_port:
            changes["worker_metrics_port"] = embedded.free_port()
        s = settings.replace(**changes)
        dev_key = asyncio.run(_dev_key(s))
        worker = embedded.spawn(
            embedded.python_module("notifier", "worker"),
            env=embedded.child_env(s.to_env()),
            inherit=True,
        )
        procs.append(worker)
        lines = ready_lines(s, dev, embedded_parts, dev_key)
        asyncio.run(serve_api(s, dev, lines, EmbeddedWorker(worker, worker_url(s))))
    finally:
        for p in reversed(procs):
            embedded.stop(p)
