"""The ``notifier`` command.

notifier up                     everything on one machine; embeds what is not configured
notifier worker                 only the stream processor (needs KAFKA, REDIS, SMTP, SECRET)
notifier api                    only the HTTP API (same settings)
notifier department-key create  a department's API key, printed once
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from aiohttp import web
from aiokafka.errors import KafkaError
from aiosmtpd.smtp import SMTP
from redis.exceptions import RedisError

from notifier import embedded
from notifier.api import create_api
from notifier.auth import create_department_key, department_of
from notifier.errors import ConfigError
from notifier.outbox import OutboxHandler
from notifier.publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps, make_redis
from subscriptions.errors import InvalidInput

log = logging.getLogger("notifier")
DEV_DEPARTMENT = "voirie"


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)


async def serve_api(
    settings: Settings, outbox_dir: Path | None = None, ready: list[str] | None = None
) -> None:
    """Run the API (and, with ``outbox_dir``, the dev SMTP outbox) until SIGINT/SIGTERM."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    redis = make_redis(settings)
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    await publisher.start()
    smtp_server = None
    try:
        if outbox_dir is not None:
            port = int(str(settings.smtp_url).rsplit(":", 1)[1])
            handler = OutboxHandler(outbox_dir)
            smtp_server = await loop.create_server(lambda: SMTP(handler), "127.0.0.1", port)
        deps = build_deps(settings, redis, publisher.publish, channels={})
        runner = web.AppRunner(create_api(settings, deps, outbox_dir), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.api_host, settings.api_port).start()
        for line in ready or [f"API on {settings.base_url}"]:
            print(line, flush=True)
        await stopping.wait()
        print("stopping…", flush=True)
        await runner.cleanup()
    finally:
        if smtp_server is not None:
            smtp_server.close()
        await publisher.stop()
        await redis.aclose()


def _secret(settings: Settings) -> Secret:
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return Secret(path.read_text().strip())


async def _dev_key(settings: Settings) -> str:
    """The embedded default's department key, kept under DATA_DIR and valid in its Redis."""
    path = settings.data_dir / "dev-department-key"
    redis = make_redis(settings)
    try:
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


def up(settings: Settings) -> None:
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        changes: dict[str, object] = {"secret_key": _secret(settings)}
        embedded_parts = []
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
        outbox_dir = None
        if not settings.smtp_url:
            changes["smtp_url"] = Secret(f"smtp://127.0.0.1:{embedded.free_port()}")
            outbox_dir = data / "outbox"
            embedded_parts.append(f"SMTP: local outbox in {outbox_dir}")
        s = settings.replace(**changes)
        dev_key = asyncio.run(_dev_key(s))
        procs.append(
            embedded.spawn(
                embedded.python_module("notifier", "worker"),
                env=embedded.child_env(s.to_env()),
                inherit=True,
            )
        )
        lines = [
            "notifier is up (Ctrl-C stops everything)",
            *(f"  {p}" for p in embedded_parts),
            f"  API:     {s.base_url}   (health: {s.base_url}/healthz)",
            *([f"  Outbox:  {s.base_url}/dev/outbox"] if outbox_dir else []),
            f"  Department key ({DEV_DEPARTMENT}, {s.default_city}): {dev_key}",
        ]
        asyncio.run(serve_api(s, outbox_dir, lines))
    finally:
        for p in reversed(procs):
            embedded.stop(p)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="notifier", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run everything, embedding what is not configured")
    sub.add_parser("worker", help="run only the stream processor")
    sub.add_parser("api", help="run only the HTTP API")
    dk = sub.add_parser("department-key", help="manage department API keys")
    dk_sub = dk.add_subparsers(dest="action", required=True)
    create = dk_sub.add_parser("create", help="create a key and print it (shown once)")
    create.add_argument("--department", required=True)
    create.add_argument("--city", default=None)
    create.add_argument("--label", default="")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        _logging(settings)
        if args.command == "up":
            with contextlib.suppress(KeyboardInterrupt):
                up(settings)
        elif args.command == "worker":
            settings.require_services()
            from notifier.worker import run_worker  # faust is imported only where it runs

            run_worker(settings)
        elif args.command == "api":
            settings.require_services()
            asyncio.run(serve_api(settings))
        elif args.command == "department-key":
            if not settings.redis_url:
                raise ConfigError("set NOTIFIER_REDIS_URL to the Redis the service uses")
            print(
                asyncio.run(
                    _create_key(
                        settings, args.city or settings.default_city, args.department, args.label
                    )
                )
            )
    except (ConfigError, InvalidInput) as e:
        print(f"notifier: {e}", file=sys.stderr)
        sys.exit(2)
    except (OSError, KafkaError, RedisError) as e:  # a server we need is not there
        log.debug("failed", exc_info=True)
        print(f"notifier: cannot reach a service: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


async def _create_key(settings: Settings, city: str, department: str, label: str) -> str:
    redis = make_redis(settings)
    try:
        return await create_department_key(redis, city, department, label)
    finally:
        await redis.aclose()
