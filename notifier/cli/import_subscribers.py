"""``notifier import-subscribers FILE [--city paris] [--dry-run]``: the command around
``notifier.bulk_import.importer``. The report (each rejected row, then a summary) goes to stdout,
progress to stderr. Exit code 0: every row imported; 1: some were rejected; 2: the file
cannot be read or its header is missing or wrong (nothing is imported then).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from notifier import layout
from notifier.bulk_import.importer import FileError, ImportStopped, Progress, import_csv
from notifier.bulk_import.rows import COLUMNS
from notifier.errors import ConfigError
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Settings
from notifier.wiring import build_services, make_redis

EVERY = 1000  # rows between two progress lines when stderr is not a terminal
AGAIN = (
    "What was imported before stays; run the same file again to finish "
    "(held addresses are recognised, confirmations not sent yet are sent)"
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import-subscribers",
        help="import a subscriber list (CSV) with the consent it records",
        description=f"Columns (header row required): {', '.join(COLUMNS)}. See the README.",
    )
    p.add_argument("file", type=Path, help="the CSV file (UTF-8, comma-separated)")
    p.add_argument("--city", default=None)
    p.add_argument("--dry-run", action="store_true", help="validate everything, write nothing")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """The exit code; the report on stdout. Settings as the service has them: its Redis, and
    (unless a dry run) its Kafka and secret key, as confirmations go out signed through it."""
    city = args.city or settings.default_city
    _require(settings, args.dry_run)
    redis = make_redis(settings)
    kafka = None if args.dry_run else LazyPublisher(settings.kafka_bootstrap)
    try:
        await layout.check(redis, claim=not args.dry_run)  # never a newer release's store
        deps = build_services(settings, redis, kafka.publish if kafka else _nowhere)
        report = await import_csv(deps, city, args.file, args.dry_run, progress(sys.stderr))
    except FileError as e:
        print(f"notifier: file: {e}", file=sys.stderr)
        return 2
    except (ImportStopped, OSError, KafkaError, RedisError) as e:
        if sys.stderr.isatty():
            print(file=sys.stderr)  # after the progress counter
        print(f"notifier: import stopped: {type(e).__name__}: {e}. {AGAIN}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
        if kafka is not None:
            await kafka.stop()
    for line in report.lines():
        print(line)
    return report.exit_code


def progress(stream: TextIO) -> Progress:
    """A counter rewritten in place on a terminal; otherwise a line every 1,000 rows."""
    if stream.isatty():

        def counter(done: int, total: int) -> None:
            stream.write(f"\r{done:,}/{total:,} rows" + ("\n" if done == total else ""))
            stream.flush()

        return counter
    shown = [0]

    def lines(done: int, total: int) -> None:
        if done // EVERY > shown[0] // EVERY:
            shown[0] = done
            print(f"{done:,}/{total:,} rows", file=stream, flush=True)

    return lines


def _require(settings: Settings, dry_run: bool) -> None:
    missing = ["REDIS_URL"] if not settings.redis_url else []
    if not dry_run:
        missing += ["KAFKA_URL"] if not settings.kafka_url else []
        missing += ["SECRET_KEY"] if len(settings.secret_key) < 32 else []
    if missing:
        names = ", ".join(f"NOTIFIER_{m}" for m in missing)
        raise ConfigError(f"set {names} as the service has them (a dry run needs only Redis)")


class LazyPublisher:
    """Connects to Kafka for the first confirmation (a list whose every row records its
    consent never does), once: a broker that cannot be reached fails every later one."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._publisher: KafkaPublisher | None = None
        self._failed: Exception | None = None
        self._lock = asyncio.Lock()

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        async with self._lock:
            if self._failed is not None:
                raise self._failed
            if self._publisher is None:
                publisher = KafkaPublisher(self._bootstrap)
                try:
                    await publisher.start()
                except Exception as e:
                    await publisher.stop()
                    self._failed = e
                    raise
                self._publisher = publisher
        await self._publisher.publish(topic, key, value)

    async def stop(self) -> None:
        if self._publisher is not None:
            await self._publisher.stop()


async def _nowhere(topic: str, key: bytes, value: bytes) -> None:
    raise AssertionError("a dry run publishes nothing")
