"""What an operator does from the command line: cities, operator and department keys, dead
letters, CAP import.

Each function opens what it needs (Redis, a Kafka producer), does one thing, closes them and
returns the lines to print.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from notifier import layout
from notifier.api import auth
from notifier.api.auth import create_department_key
from notifier.api.http import parse_json
from notifier.cap.importer import import_cap
from notifier.cli.gazetteer import load_into
from notifier.errors import ConfigError
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Settings
from notifier.wiring import build_services, make_redis
from streams.state import dead_letters
from subscriptions.cities import Cities, City
from subscriptions.city_document import put_city
from subscriptions.errors import InvalidInput


@asynccontextmanager
async def _redis(settings: Settings, oldest: int = layout.OLDEST) -> AsyncIterator[Redis]:
    if not settings.redis_url:
        raise ConfigError("set NOTIFIER_REDIS_URL to the Redis the service uses")
    redis = make_redis(settings)
    try:
        await layout.check(redis, oldest=oldest)  # never a newer release's store
        yield redis
    finally:
        await redis.aclose()


async def migrate(settings: Settings, dry_run: bool) -> None:
    """``notifier migrate``: each step's progress printed as it goes (``notifier.layout``)."""
    async with _redis(settings, oldest=1) as redis:
        await layout.migrate(redis, lambda line: print(line, flush=True), dry_run)


@asynccontextmanager
async def _publisher(settings: Settings) -> AsyncIterator[KafkaPublisher]:
    if not settings.kafka_url:
        raise ConfigError("set NOTIFIER_KAFKA_URL to the Kafka the service uses")
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()


async def create_key(
    settings: Settings, city: str, department: str, label: str, scopes: tuple[str, ...]
) -> list[str]:
    async with _redis(settings) as redis:
        place = await _city(settings, redis, city)
        if place.departments and department not in place.departments:
            raise InvalidInput("department", f"not a department of {city}: {place.departments}")
        return [await create_department_key(redis, city, department, label, scopes)]


async def _city(settings: Settings, redis: Redis, city: str) -> City:
    cities = Cities(redis, settings.default_city)
    if not await cities.ensure(city):
        raise InvalidInput("city", f"no city {city!r} (`notifier city list`)")
    return cities[city]


async def create_city(settings: Settings, path: Path) -> list[str]:
    """A city document, its GeoJSON files (and its addresses' CSV) read from beside it."""
    doc = await asyncio.to_thread(_read_document, path)
    csv = _addresses_file(doc, path)
    async with _redis(settings) as redis:
        city, areas, new = await put_city(redis, doc)
        loaded = [await load_into(redis, city.id, csv, settings.default_city)] if csv else []
    kinds = ", ".join(f"{n} {k}" for k, n in Counter(a["kind"] for a in areas).items())
    return [f"{'created' if new else 'replaced'} {city.id} ({city.name}): {kinds}", *loaded]


async def load_addresses(settings: Settings, city: str, path: Path) -> list[str]:
    """``notifier gazetteer load``: the city's addresses from a BAN-format CSV."""
    async with _redis(settings) as redis:
        return [await load_into(redis, city, path, settings.default_city)]


def _addresses_file(doc: object, path: Path) -> Path | None:
    """The BAN-format CSV a city document names (``"addresses": {"csv": "<file>"}``)."""
    spec = doc.get("addresses") if isinstance(doc, dict) else None
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("csv"), str) or not spec["csv"]:
        raise InvalidInput("addresses.csv", "the name of a BAN-format CSV file beside the document")
    return path.parent / spec["csv"]


def _read_document(path: Path) -> object:
    try:
        doc = parse_json(path.read_text(encoding="utf-8"))
        for level in ("areas", "subareas"):
            spec = doc.get(level) if isinstance(doc, dict) else None
            if isinstance(spec, dict) and isinstance(spec.get("geojson"), str):
                spec["geojson"] = parse_json((path.parent / spec["geojson"]).read_text("utf-8"))
    except OSError as e:
        raise InvalidInput("file", f"cannot read {e.filename or path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput("file", "not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise InvalidInput("file", f"not JSON: {e.msg} at line {e.lineno}") from None
    except ValueError as e:  # a number JSON cannot hold here (``http.parse_json``)
        raise InvalidInput("file", f"not JSON: {e}") from None
    return doc


async def list_cities(settings: Settings) -> list[str]:
    async with _redis(settings) as redis:
        cities = Cities(redis, settings.default_city)
        await cities.refresh()
        return [f"{c}  {cities[c].name}" for c in cities.ids()]


async def show_city(settings: Settings, city: str) -> list[str]:
    async with _redis(settings) as redis:
        place = await _city(settings, redis, city)
    return [json.dumps(place.to_json(), indent=2, ensure_ascii=False)]


async def create_operator_key(settings: Settings, city: str, label: str) -> list[str]:
    async with _redis(settings) as redis:
        if city != "*":
            await _city(settings, redis, city)
        return [await auth.create_operator_key(redis, city, label)]


async def list_operator_keys(settings: Settings) -> list[str]:
    async with _redis(settings) as redis:
        rows = await auth.list_operator_keys(redis)
    return [
        f"{r['id']}  {r['city']}  "
        f"{datetime.fromtimestamp(int(r['created_at']), UTC).date()}  {r.get('label', '')}"
        for r in rows
    ] or ["no operator keys"]


async def revoke_operator_key(settings: Settings, key_id: str) -> list[str]:
    async with _redis(settings) as redis:
        city = await auth.revoke_operator_key(redis, key_id)
    return [f"revoked operator key {key_id} (for {'every city' if city == '*' else city})"]


async def list_keys(settings: Settings, city: str) -> list[str]:
    async with _redis(settings) as redis:
        rows = await auth.list_keys(redis, city)
    return [
        f"{r['id']}  {r['department']}  {r.get('scopes', '')}  "
        f"{datetime.fromtimestamp(int(r['created_at']), UTC).date()}  {r.get('label', '')}"
        for r in rows
    ] or [f"no department keys in {city}"]


async def revoke_key(settings: Settings, city: str, key_id: str) -> list[str]:
    async with _redis(settings) as redis:
        department = await auth.revoke_key(redis, city, key_id)
    return [f"revoked {key_id} of {department} ({city})"]


def _keep(settings: Settings) -> float:
    return settings.dead_letter_retention_days * 86400


async def list_dead_letters(settings: Settings, limit: int) -> list[str]:
    async with _redis(settings) as redis:
        rows = await dead_letters.listing(redis, limit, _keep(settings))
        lines = []
        for letter_id, d in rows:
            done = " (replayed)" if await dead_letters.replayed(redis, letter_id) else ""
            lines.append(f"{letter_id}  {d['at']}  {d['topic']}  {d['reason'][:100]}{done}")
        return lines or ["no dead letters"]


async def show_dead_letter(settings: Settings, letter_id: str) -> list[str]:
    async with _redis(settings) as redis:
        d = await dead_letters.get(redis, letter_id, _keep(settings))
        if d is None:
            raise InvalidInput("id", f"no dead letter {letter_id}")
        return [json.dumps(d, indent=2, ensure_ascii=False)]


async def replay_dead_letter(settings: Settings, letter_id: str) -> list[str]:
    """Put the raw record back on the topic it came from (after the cause is fixed)."""
    async with _redis(settings) as redis, _publisher(settings) as publisher:
        d = await dead_letters.get(redis, letter_id, _keep(settings))
        if d is None:
            raise InvalidInput("id", f"no dead letter {letter_id}")
        if d["raw"] is None:
            raise InvalidInput("id", "its record was not text; inspect it with `show`")
        await publisher.publish(d["topic"], b"", d["raw"].encode())
        await dead_letters.mark_replayed(redis, letter_id)
        when = datetime.now(UTC).isoformat(timespec="seconds")
        return [f"replayed {letter_id} to {d['topic']} at {when}"]


async def cap_import(settings: Settings, city: str, department: str, xml: bytes) -> list[str]:
    """A CAP document, as ``POST /v1/cities/{city}/cap`` takes it: one line per alert."""
    async with _redis(settings) as redis, _publisher(settings) as publisher:
        deps = build_services(settings, redis, publisher.publish)
        if not await deps.cities.ensure(city):
            raise InvalidInput("city", f"unknown city {city!r}")
        return [
            json.dumps(r, ensure_ascii=False) for r in await import_cap(deps, city, department, xml)
        ]
