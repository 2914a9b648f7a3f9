"""The ``notifier`` command.

notifier up                     everything on one machine; embeds what is not configured
notifier worker                 only the stream processor (needs KAFKA, REDIS, SMTP, SECRET)
notifier api                    only the HTTP API (same settings)
notifier department-key create  a department's API key, printed once
notifier city create FILE|list|show ID   the cities served (tenants), from a city document
notifier gazetteer load FILE [--city C]  a city's addresses, from a BAN-format CSV
notifier operator-key create [--city C]|list|revoke ID  keys for the operators' API
notifier vapid-keys             a web push key pair for NOTIFIER_VAPID_PRIVATE_KEY
notifier dead-letters list|show ID|replay ID
notifier stuck [--city C]        what is queued or sending and for how long, with why
notifier cap-import FILE --department NAME
notifier import-subscribers FILE [--dry-run]
notifier topics create|check    the Kafka topics, as NOTIFIER_TOPIC_* plan them
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from channels.push import generate_vapid_keys
from notifier import logs, up
from notifier.cli import admin, import_subscribers, stuck
from notifier.cli import topics as topics_admin  # the parser has a local `topics`
from notifier.errors import ConfigError
from notifier.settings import Settings
from subscriptions.errors import InvalidInput
from templates.renderer import TemplateError

log = logging.getLogger("notifier")


def _logging(settings: Settings, command: str) -> None:
    logs.setup(settings, component=command)  # text or JSON lines, personal data masked


def _parser() -> argparse.ArgumentParser:
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
    create.add_argument(
        "--scopes",
        default="publish,statistics",
        help="comma-separated: publish, statistics, templates",
    )
    dk_sub.add_parser("list", help="the keys of a city (ids, never the keys)").add_argument(
        "--city", default=None
    )
    revoke = dk_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id")
    revoke.add_argument("--city", default=None)
    city = sub.add_parser("city", help="create, list and show the cities served")
    city_sub = city.add_subparsers(dest="action", required=True)
    city_sub.add_parser("create", help="create or replace a city from its document").add_argument(
        "file", type=Path, help="a city document (JSON); its GeoJSON files relative to it"
    )
    city_sub.add_parser("list", help="the cities")
    city_sub.add_parser("show", help="one city's settings").add_argument("id")
    gz = sub.add_parser("gazetteer", help="a city's addresses (find your street)")
    gz_sub = gz.add_subparsers(dest="action", required=True)
    gz_load = gz_sub.add_parser("load", help="replace them from a BAN-format CSV (.csv or .csv.gz)")
    gz_load.add_argument("file", type=Path)
    gz_load.add_argument("--city", default=None)
    ok = sub.add_parser("operator-key", help="keys for the operators' API (cities, usage)")
    ok_sub = ok.add_subparsers(dest="action", required=True)
    ok_create = ok_sub.add_parser("create", help="create a key and print it (shown once)")
    ok_create.add_argument("--city", default="*", help="one city's operators (default: all)")
    ok_create.add_argument("--label", default="")
    ok_sub.add_parser("list", help="the operator keys (ids, never the keys)")
    ok_sub.add_parser("revoke", help="revoke a key by its id").add_argument("id")
    dl = sub.add_parser("dead-letters", help="list, show and replay dead letters")
    dl_sub = dl.add_subparsers(dest="action", required=True)
    dl_sub.add_parser("list", help="the newest first").add_argument("--limit", type=int, default=20)
    dl_sub.add_parser("show", help="one letter in full").add_argument("id")
    dl_sub.add_parser("replay", help="put its record back on its topic").add_argument("id")
    sub.add_parser(
        "stuck", help="what is queued or being sent, per event and channel, oldest first, and why"
    ).add_argument("--city", help="one city (default: every city)")
    cap = sub.add_parser("cap-import", help="import a CAP 1.2 file as a department")
    cap.add_argument("file", type=Path)
    cap.add_argument("--department", required=True)
    cap.add_argument("--city", default=None)
    import_subscribers.add_parser(sub)
    migrate = sub.add_parser(
        "migrate", help="move the store's keys to this release's layout (online, resumable)"
    )
    migrate.add_argument("--dry-run", action="store_true", help="say the steps, change nothing")
    topics = sub.add_parser("topics", help="create or check the Kafka topics on a cluster")
    topics_sub = topics.add_subparsers(dest="action", required=True)
    topics_sub.add_parser("create", help="make the missing topics (existing ones are left)")
    topics_sub.add_parser("check", help="compare the topics with the plan; exit 1 if they differ")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        _logging(settings, args.command)
        city = getattr(args, "city", None) or settings.default_city
        if args.command == "stuck":
            for line in asyncio.run(stuck.stuck(settings, args.city)):
                print(line)
            return
        if args.command == "operator-key":
            city = getattr(args, "city", "*")
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
        elif args.command == "import-subscribers":
            sys.exit(asyncio.run(import_subscribers.run(settings, args)))
        elif args.command == "topics":
            sys.exit(_topics(settings, args.action))
        elif args.command == "migrate":
            asyncio.run(admin.migrate(settings, args.dry_run))
        else:
            for line in asyncio.run(_admin(settings, args, city)):
                print(line)
    except (ConfigError, InvalidInput) as e:
        print(f"notifier: {e}", file=sys.stderr)
        sys.exit(2)
    except TemplateError as e:  # checked at start: a broken template stops it, not a send
        print(f"notifier: broken template {e}", file=sys.stderr)
        sys.exit(2)
    except (OSError, KafkaError, RedisError) as e:  # a server we need is not there
        log.debug("failed", exc_info=True)
        print(f"notifier: cannot reach a service: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


def _topics(settings: Settings, action: str) -> int:
    """0: the topics are as planned; 1: they are not (or the cluster does not answer)."""
    if not settings.kafka_url:
        raise ConfigError("set NOTIFIER_KAFKA_URL: `notifier topics` works on a running cluster")
    run = topics_admin.create if action == "create" else topics_admin.check
    try:
        report = asyncio.run(run(settings))
    except topics_admin.BrokerUnreachableError as e:
        print(f"notifier: {e}", file=sys.stderr)
        return 1
    for line in report.lines:
        print(line)
    for note in report.unverified:
        print(f"notifier: warning: {note}", file=sys.stderr)
    if report.problems:
        print(
            f"notifier: {len(report.problems)} problem(s) with the topics: "
            + "; ".join(report.problems),
            file=sys.stderr,
        )
        return 1
    return 0


async def _admin(settings: Settings, args: argparse.Namespace, city: str) -> list[str]:
    if args.command == "department-key":
        if args.action == "list":
            return await admin.list_keys(settings, city)
        if args.action == "revoke":
            return await admin.revoke_key(settings, city, args.id)
        scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
        return await admin.create_key(settings, city, args.department, args.label, scopes)
    if args.command == "city":
        if args.action == "create":
            return await admin.create_city(settings, args.file)
        if args.action == "list":
            return await admin.list_cities(settings)
        return await admin.show_city(settings, args.id)
    if args.command == "gazetteer":
        return await admin.load_addresses(settings, city, args.file)
    if args.command == "operator-key":
        if args.action == "list":
            return await admin.list_operator_keys(settings)
        if args.action == "revoke":
            return await admin.revoke_operator_key(settings, args.id)
        return await admin.create_operator_key(settings, city, args.label)
    if args.command == "cap-import":
        if not args.file.is_file():
            raise InvalidInput("file", f"no file {args.file}")
        xml = await asyncio.to_thread(args.file.read_bytes)
        return await admin.cap_import(settings, city, args.department, xml)
    if args.action == "list":
        return await admin.list_dead_letters(settings, args.limit)
    if args.action == "show":
        return await admin.show_dead_letter(settings, args.id)
    return await admin.replay_dead_letter(settings, args.id)
