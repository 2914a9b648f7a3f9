"""A city's subscriptions in the memory of the process that matches events against them.

Matching a city-wide alert by reading each subscription from Redis costs a round trip per
thousand subscriptions and a Python object per subscription: minutes and gigabytes at a million.
Here each subscription is one row of a few packed columns (citizen, categories as bits, minimum
severity, channels as bits, kind), and each index entry the store writes with it
(``("area", code)``, ``("geo", quartier)``, ``("dept", name)``) a list of rows; a match is a few
NumPy operations over the rows of the target's index entries.

The index follows the store through its change log (``n:{city}:subs:log``, a Redis stream the
store appends to in the same transaction as each change): every match first reads what was
added or removed since the last one (one round trip when nothing was), so a subscription stored
before an event was published is always seen. A process loads the whole city once, on its first
match; a gap in the log (trimmed while the process was away) makes it load again.

Shapes: a point-and-radius or polygon subscription is indexed under each quartier it crosses, so
for a target made of area codes every shaped subscription under the target's quartiers crosses
it, and no geometry is computed. For a drawn target (circle, polygon), shapely decides for the
candidates (their metric shapes are made on first use and kept).
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import functools
import json
import logging
from collections.abc import Iterable

import numpy as np
from redis.asyncio import Redis
from shapely.geometry.base import BaseGeometry

from subscriptions.areas import AreaCatalogue
from subscriptions.cadence import Cadence, cadence_from_json
from subscriptions.categories import CATEGORIES, SEVERITIES, severity_rank
from subscriptions.contacts import CHANNELS
from subscriptions.store import CHANGE_LOG, key
from subscriptions.subscription import Subscription

log = logging.getLogger("notifier.matching")
CHANNEL_BIT = {c: 1 << i for i, c in enumerate(CHANNELS)}
CATEGORY_BIT = {c: 1 << i for i, c in enumerate(CATEGORIES)}
SHAPED = ("point", "polygon")
FIELDS = ("citizen", "kind", "categories", "min_severity", "channels", "cadence", "index")
SHAPE_FIELDS = ("geometry", "radius_m")
LOAD_CHUNK = 2000
SCAN_COUNT = 10_000  # keys a SCAN step looks at (the city's other keys outnumber subscriptions)
FETCH_CHUNK = 500  # subscriptions read by one script call (Redis is busy ~1-2 ms with it)
# KEYS: subscription hashes; ARGV: fields -> the fields' values of each (nil where missing).
# One call for many hashes: redis-py's own cost per command (packing, a timeout per reply) was
# most of loading a city, ~25 us a subscription.
_FETCH = """
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('HMGET', k, unpack(ARGV)) end
return out
"""


Reason = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class Audience:
    """Who an event reaches: each citizen once, with the channels to tell at once (bits of
    ``CHANNEL_BIT``) and, for channels only digest subscriptions name, their cadence."""

    citizens: list[str]
    channels: list[int]
    digests: dict[str, tuple[tuple[str, Cadence], ...]]
    # with ``explain``: the subscriptions that matched, for each citizen
    subscriptions: list[tuple[str, ...]] | None = None
    # with ``reasons`` (an audience that small): what each citizen subscribed to that matched,
    # as ``Reason``s, sorted: ("area", code), ("dept", name), ("point", ""), ("polygon", "")
    reasons: list[tuple[Reason, ...]] | None = None

    def __len__(self) -> int:
        return len(self.citizens)

    def wanting(self, channel: str) -> list[str]:
        """The citizens to tell at once on ``channel``, sorted."""
        bit = CHANNEL_BIT[channel]
        return [c for c, mask in zip(self.citizens, self.channels, strict=True) if mask & bit]

    def counts(self) -> dict[str, int]:
        masks = np.asarray(self.channels, dtype=np.uint8)
        return {c: int(np.count_nonzero(masks & bit)) for c, bit in CHANNEL_BIT.items()}


class LiveIndex:
    def __init__(self, redis: Redis, city: str, catalogue: AreaCatalogue) -> None:
        self.redis, self.city, self.catalogue = redis, city, catalogue
        self._lock = asyncio.Lock()
        self._read = redis.register_script(_FETCH)
        self._clear()

    def _clear(self) -> None:
        self.loaded = False
        self._seq = 0  # the last change applied
        self._stream_id = "0-0"
        self._row: dict[str, int] = {}  # subscription id -> its row
        self._sids: list[str] = []  # row -> subscription id
        self._citizen_no: dict[str, int] = {}
        # citizen number -> id; an array (its room doubles as it fills) so that an audience's
        # names are one fancy index, not a Python loop
        self._citizens = np.empty(1024, dtype=object)
        # the columns, one entry per row
        self._cit = array.array("i")
        self._cats = array.array("I")  # category bits; 0: every category
        self._sev = array.array("b")
        self._now = array.array("B")  # channels told at once
        self._later = array.array("B")  # channels of a digest subscription
        self._alive = array.array("B")
        self._postings: dict[tuple[str, str], array.array[int]] = {}
        # row -> its index entries (one tuple shared by every subscription with the same list:
        # a pointer a row), which name an area or department subscription's place
        self._entries: list[tuple[tuple[str, str], ...]] = []
        self._cadence: dict[int, Cadence] = {}  # rows of digest subscriptions
        # rows of shaped ones: what makes the shape (kind, GeoJSON, radius)
        self._shapes: dict[int, tuple[str, str, str]] = {}
        self._metric: dict[int, BaseGeometry] = {}

    def __len__(self) -> int:
        return len(self._row)

    # -- keeping up with the store ----------------------------------------------------------

    async def refresh(self) -> None:
        """Apply the changes since the last call; load everything the first time, or when
        the change log lost some (trimmed while this process was away). Callers at the same
        time wait for one another: a load or a change is applied once."""
        async with self._lock:
            await self._refresh()

    async def _refresh(self) -> None:
        if not self.loaded:
            await self._load()
        log_key = key(self.city, CHANGE_LOG)
        while True:
            found = await self.redis.xread({log_key: self._stream_id}, count=LOAD_CHUNK)
            if not found:
                return
            entries = found[0][1]
            first = int(entries[0][1]["seq"])
            if first > self._seq + 1:  # the changes in between were trimmed away
                log.warning("city=%s change log gap: %d after %d", self.city, first, self._seq)
                self._clear()
                await self._load()
                continue
            added: list[str] = []
            removed: list[str] = []
            for stream_id, fields in entries:
                self._stream_id = stream_id
                seq = int(fields["seq"])
                if seq <= self._seq:
                    continue  # applied by the load already
                self._seq = seq
                (added if fields["op"] == "add" else removed).append(fields["sub"])
            for sid in removed:
                self._remove(sid)
            await self._fetch(added)

    async def _load(self) -> None:
        """Every subscription of the city, from the position of the change log at the start
        (changes made during the scan are applied again afterwards: adding is idempotent)."""
        log_key = key(self.city, CHANGE_LOG)
        last = await self.redis.xrevrange(log_key, count=1)
        if last:
            self._stream_id, self._seq = last[0][0], int(last[0][1]["seq"])
        prefix = key(self.city, "sub", "")
        batch: list[str] = []
        async for k in self.redis.scan_iter(match=prefix + "*", count=SCAN_COUNT):
            sid = k[len(prefix) :]
            if ":" not in sid:
                batch.append(sid)
            if len(batch) >= LOAD_CHUNK:
                await self._fetch(batch)
                batch = []
        await self._fetch(batch)
        self.loaded = True
        log.info("city=%s subscriptions loaded: %d", self.city, len(self))

    async def _fetch(self, sids: list[str]) -> None:
        for start in range(0, len(sids), FETCH_CHUNK):
            chunk = sids[start : start + FETCH_CHUNK]
            keys = [key(self.city, "sub", sid) for sid in chunk]
            rows = await self._read(keys=keys, args=FIELDS + SHAPE_FIELDS)
            for sid, values in zip(chunk, rows, strict=True):
                if values[0] is None:  # removed since
                    self._remove(sid)
                else:
                    self._add(sid, dict(zip(FIELDS + SHAPE_FIELDS, values, strict=True)))

    def _add(self, sid: str, h: dict[str, str]) -> None:
        self._remove(sid)  # a subscription added again replaces its row
        row = len(self._alive)
        self._row[sid] = row
        self._sids.append(sid)
        citizen = h["citizen"]
        no = self._citizen_no.get(citizen)
        if no is None:
            no = self._citizen_no[citizen] = len(self._citizen_no)
            if no == len(self._citizens):
                self._citizens = np.concatenate([self._citizens, np.empty_like(self._citizens)])
            self._citizens[no] = citizen
        channels = _bits(h["channels"], "channels")
        cadence = _cadence(h.get("cadence") or "")
        self._cit.append(no)
        self._cats.append(_bits(h["categories"], "categories"))
        self._sev.append(severity_rank(h["min_severity"]))
        self._now.append(channels if cadence.immediate else 0)
        self._later.append(0 if cadence.immediate else channels)
        self._alive.append(1)
        if not cadence.immediate:
            self._cadence[row] = cadence
        if h["kind"] in SHAPED:
            self._shapes[row] = (h["kind"], h["geometry"], h["radius_m"])
        entries = _entries(h.get("index") or "[]")
        self._entries.append(entries)
        for entry in entries:
            rows = self._postings.get(entry)
            if rows is None:
                rows = self._postings[entry] = array.array("i")
            rows.append(row)

    def _remove(self, sid: str) -> None:
        row = self._row.pop(sid, None)
        if row is not None:
            self._alive[row] = 0
            self._shapes.pop(row, None)
            self._metric.pop(row, None)
            self._cadence.pop(row, None)

    # -- matching ---------------------------------------------------------------------------

    def match(
        self,
        entries: Iterable[tuple[str, str]],
        category: str,
        severity: str,
        shape: BaseGeometry | None = None,
        explain: bool = False,
        reasons: int = 0,
    ) -> Audience:
        """The audience of the rows under these index entries that want this category and
        severity; with ``shape`` (a drawn target), shaped subscriptions must also cross it.
        ``explain``: say which subscriptions matched each citizen; ``reasons``: say what each
        citizen subscribed to that matched, when the audience has at most that many (a loop
        over the rows: a few milliseconds for thousands, too long for a city)."""
        lists = [self._postings[e] for e in entries if e in self._postings]
        if not lists:
            return Audience([], [], {}, [] if explain else None)
        rows = _distinct(np.concatenate([np.frombuffer(a, dtype=np.int32) for a in lists]))
        alive = np.frombuffer(self._alive, dtype=np.uint8)[rows]
        cats = np.frombuffer(self._cats, dtype=np.uint32)[rows]
        sev = np.frombuffer(self._sev, dtype=np.int8)[rows]
        bit = CATEGORY_BIT[category]
        keep = (alive == 1) & ((cats == 0) | ((cats & bit) != 0))
        keep &= sev <= severity_rank(severity)
        rows = rows[keep]
        if shape is not None:
            rows = self._crossing(rows, shape)
        return self._audience(rows, explain, reasons)

    def _crossing(self, rows: np.ndarray, shape: BaseGeometry) -> np.ndarray:
        shaped = [int(r) for r in rows if int(r) in self._shapes]
        if not shaped:
            return rows
        out = {r for r in shaped if not self._metric_of(r).intersects(shape)}
        return np.array([r for r in rows if int(r) not in out], dtype=np.int32)

    def _metric_of(self, row: int) -> BaseGeometry:
        found = self._metric.get(row)
        if found is None:
            kind, geometry, radius = self._shapes[row]
            sub = Subscription(
                "", "", kind, (), SEVERITIES[0], (),
                geometry=json.loads(geometry), radius_m=float(radius or 0),
            )  # fmt: skip
            found = self._metric[row] = sub.metric(self.catalogue)
        return found

    def _reason(self, row: int) -> Reason:
        shaped = self._shapes.get(row)
        if shaped is not None:  # a drawn place: its kind (readers are grouped by reasons,
            return (shaped[0], "")  # and every radius its own group made too many renders)
        entries = self._entries[row]
        return entries[0] if entries else ("", "")

    def _audience(self, rows: np.ndarray, explain: bool, reasons: int = 0) -> Audience:
        if len(rows) == 0:
            return Audience([], [], {}, [] if explain else None)
        cit = np.frombuffer(self._cit, dtype=np.int32)[rows]
        now = np.frombuffer(self._now, dtype=np.uint8)[rows]
        later = np.frombuffer(self._later, dtype=np.uint8)[rows]
        order = np.argsort(cit, kind="stable")
        cit, now, later, rows = cit[order], now[order], later[order], rows[order]
        starts = np.flatnonzero(np.r_[True, cit[1:] != cit[:-1]])
        now_by = np.bitwise_or.reduceat(now, starts)
        later_by = np.bitwise_or.reduceat(later, starts)
        names: list[str] = self._citizens[cit[starts]].tolist()
        digests: dict[str, tuple[tuple[str, Cadence], ...]] = {}
        digest_only = later_by & ~now_by  # channels only digest subscriptions name
        if digest_only.any():
            # for each citizen and such channel, the cadence of their first digest naming it
            citizen_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(rows)]))
            firsts: dict[int, list[tuple[str, Cadence]]] = {}
            for c, b in CHANNEL_BIT.items():
                at = np.flatnonzero(later & digest_only[citizen_of] & b)
                if len(at) == 0:
                    continue
                who = citizen_of[at]
                first = at[np.r_[True, who[1:] != who[:-1]]]
                for i, r in zip(citizen_of[first].tolist(), rows[first].tolist(), strict=True):
                    firsts.setdefault(i, []).append((c, self._cadence[r]))
            digests = {names[i]: tuple(sorted(firsts[i])) for i in sorted(firsts)}
        matched = why = None
        if explain or 0 < len(names) <= reasons:  # each citizen's rows: a list of a city's size
            ends = [*starts[1:].tolist(), len(rows)]
        if explain:
            matched = [
                tuple(sorted(self._sids[r] for r in rows[a:b].tolist()))
                for a, b in zip(starts.tolist(), ends, strict=True)
            ]
        if 0 < len(names) <= reasons:
            why = [
                tuple(sorted({self._reason(r) for r in rows[a:b].tolist()}))
                for a, b in zip(starts.tolist(), ends, strict=True)
            ]
        return Audience(names, now_by.tolist(), digests, matched, why)


# What a subscription's fields say, parsed once per distinct value (a city has few distinct
# channel, category and cadence lists, and shares index entry lists widely).


@functools.lru_cache(maxsize=4096)
def _bits(raw: str, what: str) -> int:
    """A JSON list of channels or categories as bits (an unknown category: no bit)."""
    table = CHANNEL_BIT if what == "channels" else CATEGORY_BIT
    out = 0
    for name in json.loads(raw):
        out |= table[name] if what == "channels" else table.get(name, 0)
    return out


@functools.lru_cache(maxsize=256)
def _cadence(raw: str) -> Cadence:
    return cadence_from_json(raw)


@functools.lru_cache(maxsize=65_536)
def _entries(raw: str) -> tuple[tuple[str, str], ...]:
    return tuple((kind, code) for kind, code in json.loads(raw))


def _distinct(rows: np.ndarray) -> np.ndarray:
    """The distinct rows, in order. A sort and a comparison: ``np.unique`` hashes, which is
    20-25x slower here (4 ms for the 50,000 rows of a quartier event, 0.5 s for a city's)."""
    rows = np.sort(rows)
    if len(rows) < 2:
        return rows
    first = np.empty(len(rows), dtype=bool)
    first[0] = True
    np.not_equal(rows[1:], rows[:-1], out=first[1:])
    return rows[first]
