"""The ``notifier`` command.

notifier up                     everything on one machine; embeds what is not configured
notifier worker                 only the stream processor (needs KAFKA, REDIS, SMTP, SECRET)
notifier api                    only the HTTP API (same settings)
notifier department-key create  a department's API key, printed once
notifier vapid-keys             a web push key pair for NOTIFIER_VAPID_PRIVATE_KEY
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from channels.push import generate_vapid_keys
from notifier import up
from notifier.auth import create_department_key
from notifier.errors import ConfigError
from notifier.settings import Settings
from notifier.wiring import make_redis
from subscriptions.errors import InvalidInput

log = logging.getLogger("notifier")


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("twilio").setLevel(logging.WARNING)  # it logs every request at INFO


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="notifier", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run everything, embedding what is not configured")
    sub.add_parser("worker", help="run only the stream processor")
    sub.add_parser("api", help="run only the HTTP API")
    sub.add_parser("vapid-keys", help="make a web push VAPID key pair (for NOTIFIER_VAPID_*)")
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
                up.up(settings)
        elif args.command == "worker":
            settings.require_services()
            from notifier.worker import run_worker  # faust is imported only where it runs

            run_worker(settings)
        elif args.command == "api":
            settings.require_services()
            asyncio.run(up.serve_api(settings))
        elif args.command == "vapid-keys":
            keys = generate_vapid_keys()
            print(f"NOTIFIER_VAPID_PRIVATE_KEY={keys.private_key}")
            print(f"# public key (browsers' applicationServerKey): {keys.public_key}")
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
