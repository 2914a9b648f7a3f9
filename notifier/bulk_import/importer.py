"""Bulk import of an existing subscriber list (CSV, columns in ``notifier.bulk_import.rows``).

Each valid row is a contact point and one subscription. An address the city already holds
keeps its citizen: the subscription is added to it (unless that citizen has the very same one),
but never to a citizen who has not proved the address: a pending contact point an import did
not make (someone typed the address, perhaps not its owner) makes the row a rejection, and no
recorded consent confirms it (DESIGN.md, invariant 9).
A new contact point with a recorded consent is confirmed, and the consent ledger says how:
"import from <source> consent given <date>"; one without is pending, and is sent a confirmation
(an email link, an SMS code) as when a citizen registers. A contact point already held keeps
its status, except a pending one given a recorded consent, which is confirmed: an import never
overrides an unsubscription, an opt-out or a bounce. A row's failure never stops the others.

Rows are written 500 at a time, each batch in one MULTI/EXEC that WATCHes its addresses and the
contact points it reads, so a citizen registering or unsubscribing meanwhile makes the batch
start again. The contact points still owed a confirmation stay in ``n:{city}:import:owed``
until it is sent: running the same file again after a failure sends what was not sent, and
duplicates nothing. A dry run validates, reads what the city holds, and writes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from notifier.actions.confirmations import Confirming, send_confirmation
from notifier.bulk_import.rows import FileError, Rejection, Row, parse_row, read_file, records
from subscriptions.cities import Cities, City
from subscriptions.contacts import ContactPoint
from subscriptions.errors import InvalidInput
from subscriptions.store import (
    PENDING_SECONDS,
    SETS,
    _consent,
    address_key,
    key,
    log_changes,
    new_id,
)
from subscriptions.subscription import Subscription

__all__ = ["FileError", "ImportStopped", "Progress", "Report", "import_csv"]

BATCH = 500
CONFIRM_CONCURRENCY = 32
TRIES = 5
NO_CONSENT = "import without a recorded consent"
UNPROVEN = (
    "held by an account that has not confirmed it yet; import this row again once it is "
    f"confirmed, or once it has ended ({PENDING_SECONDS // 86400} days unconfirmed)"
)

Progress = Callable[[int, int], None]  # (rows done, rows in the file)
Watch = Callable[..., Awaitable[Any]]


class BulkImport(Confirming, Protocol):
    """The city's areas and settings to check the rows by, the store, the confirmations."""

    cities: Cities
    enabled: tuple[str, ...]

    def city(self, city: str) -> City: ...


class ImportStopped(Exception):
    """A batch could not be written; the batches before it are."""


@dataclasses.dataclass
class Report:
    dry_run: bool
    read: int = 0
    imported: int = 0
    new_citizens: int = 0
    held: int = 0  # rows whose address the city already held
    unchanged: int = 0  # of those, rows whose subscription that citizen already had
    consented: int = 0  # contact points confirmed by the consent the row records
    confirmations: int = 0  # sent (to send, in a dry run)
    rejections: list[Rejection] = dataclasses.field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({r.row for r in self.rejections})

    @property
    def exit_code(self) -> int:
        return 1 if self.rejections else 0

    def lines(self) -> list[str]:
        out = [r.line() for r in sorted(self.rejections, key=lambda r: r.row)]
        would = "would be " if self.dry_run else ""
        counts = (
            f"read {self.read}, {would}imported {self.imported}, rejected {self.rejected}, "
            f"confirmations {'to send' if self.dry_run else 'sent'} {self.confirmations}"
        )
        detail = (
            f"new citizens {self.new_citizens}, already registered {self.held} "
            f"(subscription already held {self.unchanged}), "
            f"confirmed by a recorded consent {self.consented}"
        )
        if self.rejected:
            end = f"some rows were rejected ({self.rejected}, listed above): exit code 1"
        else:
            end = f"every row {would}imported"
        prefix = "dry run, nothing written: " if self.dry_run else ""
        return [*out, f"{prefix}{counts} ({detail}); {end}"]


@dataclasses.dataclass(frozen=True)
class _Held:
    """A contact point the city holds, with what the import needs to know of its citizen."""

    contact: ContactPoint | None  # None: its address is claimed, its record not written yet
    owed: bool  # an earlier import still owes it a confirmation
    by_import: bool  # an import made it (else someone gave the address to the API)
    language: str
    subscriptions: frozenset[tuple[tuple[str, str], ...]]


@dataclasses.dataclass(frozen=True)
class _Plan:
    row: Row
    contact: ContactPoint  # as it will stand
    language: str
    new: bool  # a new citizen and contact point
    consent: bool  # record the row's consent (it confirms the contact point)
    subscription: Subscription | None  # None: the citizen has it already
    ask: bool  # send a confirmation


async def import_csv(
    deps: BulkImport, city: str, path: Path, dry_run: bool, progress: Progress
) -> Report:
    """Import the rows of ``path``; FileError if it cannot be read or has no valid header."""
    if not await deps.cities.ensure(city):
        raise InvalidInput("city", f"unknown city {city!r}")
    header, body = records(await asyncio.to_thread(read_file, path))
    report = Report(dry_run)
    first: dict[tuple[str, str], int] = {}  # contact point -> the row that has it
    check = functools.partial(
        parse_row,
        catalogue=deps.catalogues[city],
        enabled=deps.enabled,
        today=date.today(),
        city=deps.city(city),
    )
    for start in range(0, len(body), BATCH):
        rows = []
        for number, values in body[start : start + BATCH]:
            report.read += 1
            parsed = check(number, header, values)
            rejections = parsed.rejections
            if parsed.identity in first:
                reason = f"also on row {first[parsed.identity]} (one row per contact)"
                rejections = [Rejection(number, "contact", reason), *rejections]
            elif parsed.identity is not None:
                first[parsed.identity] = number
            report.rejections += rejections
            if parsed.row is not None and not rejections:
                rows.append(parsed.row)
        await _apply(deps, city, rows, dry_run, report)
        progress(min(start + BATCH, len(body)), len(body))
    return report


async def _apply(
    deps: BulkImport, city: str, rows: list[Row], dry_run: bool, report: Report
) -> None:
    if not rows:
        return
    redis = deps.store.redis
    for _ in range(TRIES):
        async with redis.pipeline(transaction=True) as tx:
            watch: Watch = _unwatched if dry_run else tx.watch
            addresses = [address_key(city, r.channel, r.address) for r in rows]
            await watch(*addresses)
            pids: list[str | None] = await redis.mget(addresses)
            held = await _read_held(redis, city, [p for p in pids if p], watch)
            plans, rejections = _plan(rows, pids, held)
            if not dry_run:
                tx.multi()
                _queue(tx, city, plans)
                try:
                    await tx.execute()
                except WatchError:
                    continue  # someone changed what was read: read it again
        report.rejections += rejections
        report.imported += len(plans)
        report.new_citizens += sum(p.new for p in plans)
        report.held += sum(not p.new for p in plans)
        report.unchanged += sum(p.subscription is None for p in plans)
        report.consented += sum(p.consent for p in plans)
        asks = [p for p in plans if p.ask]
        if dry_run:
            report.confirmations += len(asks)
        else:
            await _ask(deps, city, asks, report)
        return
    raise ImportStopped(f"rows {rows[0].number} to {rows[-1].number} kept changing meanwhile")


async def _unwatched(*keys: str) -> None:
    return None


async def _read_held(redis: Redis, city: str, pids: list[str], watch: Watch) -> dict[str, _Held]:
    if not pids:
        return {}
    await watch(*(key(city, "contact", pid) for pid in pids))
    async with redis.pipeline(transaction=False) as p:
        for pid in pids:
            p.hgetall(key(city, "contact", pid))
            p.sismember(key(city, "import", "owed"), pid)
        raw = await p.execute()
    contacts = {
        pid: ContactPoint.from_hash(h) if h else None for pid, h in zip(pids, raw[::2], strict=True)
    }
    owed = dict(zip(pids, raw[1::2], strict=True))
    made = await _made_by_import(redis, city, [c for c in contacts.values() if c is not None])
    cids = sorted({c.citizen for c in contacts.values() if c is not None})
    if cids:
        await watch(*(key(city, "citizen", cid, "subs") for cid in cids))
    async with redis.pipeline(transaction=False) as p:
        for cid in cids:
            p.hget(key(city, "citizen", cid), "language")
            p.smembers(key(city, "citizen", cid, "subs"))
        raw = await p.execute()
    languages = dict(zip(cids, raw[::2], strict=True))
    sids = dict(zip(cids, raw[1::2], strict=True))
    async with redis.pipeline(transaction=False) as p:
        for cid in cids:
            for sid in sorted(sids[cid]):
                p.hgetall(key(city, "sub", sid))
        subs = [Subscription.from_hash(h) for h in await p.execute() if h]
    kinds: dict[str, set[tuple[tuple[str, str], ...]]] = {cid: set() for cid in cids}
    for sub in subs:
        kinds[sub.citizen].add(_what(sub))
    return {
        pid: _Held(
            cp,
            bool(owed[pid]),
            pid in made,
            (languages.get(cp.citizen) or "fr") if cp else "fr",
            frozenset(kinds[cp.citizen]) if cp else frozenset(),
        )
        for pid, cp in contacts.items()
    }


async def _made_by_import(redis: Redis, city: str, contacts: list[ContactPoint]) -> set[str]:
    """The pending ones among these contact points that an import made (their consent log's
    first entry says so)."""
    pending = [c for c in contacts if c.status == "pending"]
    async with redis.pipeline(transaction=False) as p:
        for c in pending:
            p.lrange(key(city, "citizen", c.citizen, "consent"), 0, -1)
        logs = await p.execute()
    made = set()
    for c, log in zip(pending, logs, strict=True):
        entries: list[dict[str, Any]] = [json.loads(e) for e in log]
        first = next((e for e in entries if e.get("contact") == c.id), {})
        how = str(first.get("how", ""))
        if how == NO_CONSENT or how.startswith("import from "):
            made.add(c.id)
    return made


def _what(sub: Subscription) -> tuple[tuple[str, str], ...]:
    """A subscription without its id and citizen: two with the same are the same."""
    return tuple(sorted((k, v) for k, v in sub.to_hash().items() if k not in ("id", "citizen")))


def _plan(
    rows: Sequence[Row], pids: Sequence[str | None], held: dict[str, _Held]
) -> tuple[list[_Plan], list[Rejection]]:
    plans, rejections = [], []
    added: dict[str, set[tuple[tuple[str, str], ...]]] = {}  # a citizen's, in this batch
    for row, pid in zip(rows, pids, strict=True):
        if pid is None:
            status = "confirmed" if row.consent else "pending"
            cp = ContactPoint(new_id("cp"), new_id("cit"), row.channel, row.address, status)
            sub = dataclasses.replace(row.subscription, id=new_id("sub"), citizen=cp.citizen)
            consent = row.consent is not None
            plans.append(_Plan(row, cp, row.language, True, consent, sub, not consent))
            continue
        h = held[pid]
        if h.contact is None:
            reason = "being registered right now; import this row again"
            rejections.append(Rejection(row.number, "contact", reason))
            continue
        if h.contact.status == "pending" and not h.by_import:
            rejections.append(Rejection(row.number, "contact", UNPROVEN))
            continue
        consent = h.contact.status == "pending" and row.consent is not None
        cp = dataclasses.replace(h.contact, status="confirmed") if consent else h.contact
        sub = dataclasses.replace(row.subscription, id=new_id("sub"), citizen=cp.citizen)
        what, mine = _what(sub), added.setdefault(cp.citizen, set())
        new_sub = None if what in h.subscriptions or what in mine else sub
        mine.add(what)
        ask = cp.status == "pending" and h.owed
        plans.append(_Plan(row, cp, h.language, False, consent, new_sub, ask))
    return plans, rejections


def _queue(tx: Pipeline, city: str, plans: Sequence[_Plan]) -> None:
    """The writes of ``SubscriptionStore.create_citizen``, ``add_contact``,
    ``set_contact_status`` and ``add_subscription`` for a whole batch, in one transaction;
    addresses and index entries grouped into one command per key."""
    now = str(int(time.time()))
    addresses: dict[str, str] = {}
    owed: list[str] = []
    index: dict[str, list[str]] = {}
    for p in plans:
        cp, how = p.contact, p.row.consent or NO_CONSENT
        if p.new:
            addresses[address_key(city, cp.channel, cp.address)] = cp.id
            citizen = {"id": cp.citizen, "language": p.language, "timezone": "Europe/Paris"}
            tx.hset(key(city, "citizen", cp.citizen), mapping=citizen | {"created_at": now})
            contact = {"id": cp.id, "citizen": cp.citizen, "channel": cp.channel}
            contact |= {"address": cp.address, "status": cp.status, "created_at": now}
            tx.hset(key(city, "contact", cp.id), mapping=contact)
            tx.sadd(key(city, "citizen", cp.citizen, "contacts"), cp.id)
            tx.rpush(key(city, "citizen", cp.citizen, "consent"), _consent(cp.id, cp.status, how))
            if p.ask:
                owed.append(cp.id)
        elif p.consent:
            tx.hset(key(city, "contact", cp.id), "status", "confirmed")
            tx.rpush(key(city, "citizen", cp.citizen, "consent"), _consent(cp.id, cp.status, how))
            tx.srem(key(city, "import", "owed"), cp.id)
        sub = p.subscription
        if sub is not None:
            entries = json.dumps(p.row.index)
            tx.hset(
                key(city, "sub", sub.id),
                mapping=sub.to_hash() | {"created_at": now, "index": entries},
            )
            tx.sadd(key(city, "citizen", sub.citizen, "subs"), sub.id)
            for kind, code in p.row.index:
                if kind in SETS:
                    index.setdefault(key(city, "idx", kind, code), []).append(sub.id)
    for address, pid in addresses.items():  # not MSET: a cluster's transaction has none
        tx.set(address, pid)
    if owed:
        tx.sadd(key(city, "import", "owed"), *owed)
    for k, sids in index.items():
        tx.sadd(k, *sids)
    log_changes(tx, city, "add", [p.subscription.id for p in plans if p.subscription is not None])


async def _ask(deps: BulkImport, city: str, asks: list[_Plan], report: Report) -> None:
    """Send the confirmations a batch owes; each one sent is no longer owed. The first
    failure stops the import once the others of the batch are done (they will be sent by
    running the file again)."""
    gate = asyncio.Semaphore(CONFIRM_CONCURRENCY)

    async def ask(p: _Plan) -> None:
        async with gate:
            await send_confirmation(deps, city, p.contact, p.language)

    results = await asyncio.gather(*(ask(p) for p in asks), return_exceptions=True)
    sent = [p.contact.id for p, r in zip(asks, results, strict=True) if r is None]
    if sent:
        await deps.store.redis.srem(key(city, "import", "owed"), *sent)
    report.confirmations += len(sent)
    for r in results:
        if isinstance(r, BaseException):
            raise r
