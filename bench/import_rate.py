"""Rows per second of ``notifier import-subscribers`` on generated subscriber lists.

    .venv/bin/python bench/import_rate.py [--rows 20000] [--logs DIR]

Starts its own redis-server (no persistence) and Tansu broker on free loopback ports, and
imports ``--rows`` generated rows (half email addresses, half mobile numbers; half an area code,
half an address with a radius) through ``notifier.bulk_import.importer.import_csv`` three ways,
each on an empty database:

1. dry run: every row validated, the city's addresses read, nothing written;
2. with consent: every row records a consent, so every contact point is confirmed at once
   (Redis only);
3. without consent: every contact point is pending and is sent a confirmation (an email link
   or an SMS code) through a real ``KafkaPublisher`` to the broker.

Prints rows/s for each. Stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from notifier.bulk_import.importer import Report, import_csv
from notifier.dev import embedded
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps
from subscriptions.areas import load_catalogue

HEADER = "contact,language,area,address,radius_m,categories,channels,consent_date,consent_source"


def generate(path: Path, rows: int, consent: bool, seed: int = 7) -> None:
    """A subscriber list: every row valid and its contact point distinct."""
    rng = random.Random(seed)
    codes = [a["code"] for a in load_catalogue("paris").summary()]
    lines = [HEADER]
    for i in range(rows):
        contact = f"user{i}@example.org" if i % 2 else f"+336{10_000_000 + i:08d}"
        where = (
            f"{rng.choice(codes)},,"
            if i % 4 < 2
            else f',"{rng.uniform(48.83, 48.88):.5f},{rng.uniform(2.29, 2.39):.5f}",300'
        )
        given = "2021-03-04,Ancienne liste" if consent else ","
        lines.append(f"{contact},{rng.choice(('fr', 'en'))},{where},roadworks,,{given}")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


async def measure(redis: Redis, settings: Settings, path: Path, dry_run: bool) -> float:
    await redis.flushdb()
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    await publisher.start()
    try:
        deps = build_deps(settings, redis, publisher.publish, channels={})
        deps.enabled = ("email", "sms")
        start = time.perf_counter()
        report: Report = await import_csv(deps, "paris", path, dry_run, lambda d, t: None)
        elapsed = time.perf_counter() - start
    finally:
        await publisher.stop()
    if report.rejections or report.imported != report.read:
        sys.exit(f"unexpected report: {report.lines()[:5]}")
    return report.read / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--logs", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        redis_port, kafka_port = embedded.free_port(), embedded.free_port()
        redis_proc = embedded.start_redis(redis_port, None, logs / "redis.log")
        kafka_proc = embedded.start_tansu(kafka_port, logs / "tansu.log")
        redis = Redis.from_url(f"redis://127.0.0.1:{redis_port}/0", decode_responses=True)
        settings = Settings(
            kafka_url=f"kafka://127.0.0.1:{kafka_port}",
            secret_key=Secret("bench-secret-" + "x" * 40),
            topic_prefix="bench.",
        )
        try:
            consented, unconsented = Path(tmp) / "consent.csv", Path(tmp) / "no-consent.csv"
            generate(consented, args.rows, consent=True)
            generate(unconsented, args.rows, consent=False)
            figures = [
                ("dry run", await measure(redis, settings, consented, True)),
                ("with consent", await measure(redis, settings, consented, False)),
                ("without consent", await measure(redis, settings, unconsented, False)),
            ]
        finally:
            await redis.aclose()
            embedded.stop(kafka_proc)
            embedded.stop(redis_proc)
    print(f"{args.rows:,} rows")
    for name, rate in figures:
        print(f"  {name:<28} {rate:>8,.0f} rows/s")


if __name__ == "__main__":
    asyncio.run(main())
