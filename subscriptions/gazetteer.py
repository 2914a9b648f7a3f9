"""A city's addresses, for "find your street": read from France's national address base (BAN)
CSV format, kept compact in Redis, searched in memory.

The BAN publishes one ``;``-separated file per département (``adresses-75.csv``, gzipped or
not); any CSV with the same header works. Of its columns the loader reads ``numero``, ``rep``,
``nom_voie``, ``code_postal``, ``nom_commune``, ``libelle_acheminement`` (optional), ``lon``
and ``lat``, and keeps only the addresses inside the city's areas. A row it cannot read is an
``InvalidInput`` naming its line and column.
::

    n:{city}:city:addresses   hash    streets: the streets and their numbered points
                                      (zlib, base64); stamp: its CRC-32, for the readers' caches

Stored by street (one line: name, postcode, commune, then each number's point), so the whole
of Paris's ~150,000 addresses takes about a megabyte. Paris, the default city, has a small
extract built in (``data/paris_addresses.csv``, see ``data/SOURCES.md``); loading Paris's
full BAN file replaces it.
"""

from __future__ import annotations

import base64
import bisect
import csv
import dataclasses
import gzip
import io
import re
import unicodedata
import zlib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from redis.asyncio import Redis
from shapely.geometry import Point

from subscriptions.areas import AreaCatalogue
from subscriptions.errors import InvalidInput

REQUIRED = ("numero", "rep", "nom_voie", "code_postal", "nom_commune", "lon", "lat")
MAX_QUERY = 200
MAX_RESULTS = 10
STOP = {"de", "du", "des", "la", "le", "les", "d", "l", "et", "a", "au", "aux", "en", "sur"}
SHORT = {  # what people type for a street's kind
    "r": "rue", "bd": "boulevard", "bld": "boulevard", "blvd": "boulevard", "boul": "boulevard",
    "av": "avenue", "ave": "avenue", "pl": "place", "fg": "faubourg", "fbg": "faubourg",
    "st": "saint", "ste": "sainte", "imp": "impasse", "pass": "passage", "sq": "square",
    "chem": "chemin", "rte": "route", "all": "allee", "crs": "cours", "qu": "quai",
}  # fmt: skip
REPS = {"bis": "bis", "b": "bis", "ter": "ter", "t": "ter", "quater": "quater", "q": "quater"}
ORDINAL = re.compile(r"(\d{1,2})(?:e|er|eme|ieme)")


def addresses_key(city: str) -> str:
    return f"n:{{{city}}}:city:addresses"  # the city's hash tag, as ``store.key``


def fold(text: str) -> list[str]:
    """Lower-case words without accents: ``"Rue de l'Épée-de-Bois"`` -> rue de l epee de bois."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", plain).split()


@dataclasses.dataclass(frozen=True)
class Number:
    number: str  # "12", "12 bis"
    lon: float
    lat: float


@dataclasses.dataclass(frozen=True)
class Street:
    """A street of one postcode; its numbers stay text (``12,2.35,48.83|12 bis,…``, as stored)
    until a search returns it, which keeps a whole city in a few tens of bytes per address."""

    name: str  # "Rue Monge"
    postcode: str
    commune: str  # "Paris"
    points: str

    @classmethod
    def of(cls, name: str, postcode: str, commune: str, numbers: Iterable[Number]) -> Street:
        points = "|".join(f"{n.number},{n.lon:.6f},{n.lat:.6f}" for n in numbers)
        return cls(name, postcode, commune, points)

    @property
    def numbers(self) -> list[Number]:
        out = []
        for p in self.points.split("|"):
            number, lon, lat = p.split(",")
            out.append(Number(number, float(lon), float(lat)))
        return out

    @property
    def count(self) -> int:
        return self.points.count("|") + 1


# ---------------------------------------------------------------------------- reading BAN


def read_ban(lines: Iterable[str], catalogue: AreaCatalogue | None = None) -> list[Street]:
    """The streets of a BAN-format CSV (its lines, header first), those inside the city's
    areas when ``catalogue`` is given; ``InvalidInput`` naming the line and column of a bad row."""
    reader = csv.reader(lines, delimiter=";")
    header = next(reader, None)
    if header is None:
        raise InvalidInput("file", "is empty: a BAN CSV starts with its header line")
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput(
            "file",
            f"line 1: the header lacks {', '.join(missing)} (a BAN adresses-XX.csv header, "
            "';'-separated, is expected)",
        )
    at = {c: header.index(c) for c in (*REQUIRED, "libelle_acheminement") if c in header}
    streets: dict[tuple[str, str, str], list[Number]] = {}
    for row in reader:
        line = reader.line_num
        if not row or row == [""]:
            continue
        if len(row) < len(header):
            raise InvalidInput(
                "file", f"line {line}: {len(row)} columns where the header has {len(header)}"
            )
        lon = _degrees(row[at["lon"]], "lon", line, 180)
        lat = _degrees(row[at["lat"]], "lat", line, 90)
        number, rep, name = row[at["numero"]].strip(), row[at["rep"]].strip(), row[at["nom_voie"]]
        if not number.isdigit():
            raise InvalidInput("file", f"line {line}: column numero: {number!r} is not a number")
        if not name.strip():
            raise InvalidInput("file", f"line {line}: column nom_voie is empty")
        postcode = row[at["code_postal"]].strip()
        if not re.fullmatch(r"\d{5}", postcode):
            reason = f"line {line}: column code_postal: {postcode!r} is not 5 digits"
            raise InvalidInput("file", reason)
        commune = row[at["libelle_acheminement"]] if "libelle_acheminement" in at else ""
        commune = (commune or row[at["nom_commune"]]).strip().title()
        numbers = streets.setdefault((name.strip(), postcode, commune), [])
        numbers.append(Number(f"{number} {rep}".strip(), lon, lat))
    out = [Street.of(*key, numbers) for key, numbers in streets.items()]
    return _inside(out, catalogue) if catalogue is not None else out


def _degrees(value: str, column: str, line: int, bound: float) -> float:
    try:
        x = float(value)
    except ValueError:
        reason = f"line {line}: column {column}: {value!r} is not a number"
        raise InvalidInput("file", reason) from None
    if not -bound <= x <= bound:
        raise InvalidInput("file", f"line {line}: column {column}: {x} is not in degrees (WGS 84)")
    return x


def _inside(streets: list[Street], catalogue: AreaCatalogue) -> list[Street]:
    outline = catalogue.projection.to_lonlat(catalogue.boundary)
    shapely.prepare(outline)
    out = []
    for s in streets:
        numbers = s.numbers
        lons = np.array([n.lon for n in numbers])
        lats = np.array([n.lat for n in numbers])
        inside = shapely.contains_xy(outline, lons, lats)
        kept = [n for n, keep in zip(numbers, inside, strict=True) if keep]
        if kept:
            out.append(Street.of(s.name, s.postcode, s.commune, kept))
    return out


def read_file(path: Path, catalogue: AreaCatalogue | None = None) -> list[Street]:
    """A BAN CSV file, gzipped (``.gz``) or not."""
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8-sig")
    except OSError as e:
        raise InvalidInput("file", f"cannot read {e.filename or path}: {e.strerror}") from None
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError):
        raise InvalidInput("file", f"{path}: not UTF-8 text (or not gzip, for a .gz)") from None
    return read_ban(io.StringIO(text, newline=""), catalogue)


# ---------------------------------------------------------------------------- storing


def encode(streets: list[Street]) -> str:
    """One line per street: name, postcode, commune, then ``number,lon,lat`` separated by |."""
    lines = ["\t".join((s.name, s.postcode, s.commune, s.points)) for s in streets]
    return base64.b64encode(zlib.compress("\n".join(lines).encode(), 9)).decode()


def decode(blob: str) -> list[Street]:
    lines = zlib.decompress(base64.b64decode(blob)).decode().split("\n")
    return [Street(*line.split("\t")) for line in lines]


async def save(redis: Redis, city: str, streets: list[Street]) -> int:
    """Replace the city's addresses; how many were kept."""
    if not streets:
        raise InvalidInput("file", "no address of the file lies inside the city's areas")
    blob = encode(streets)
    await redis.hset(addresses_key(city), mapping={"streets": blob, "stamp": _stamp(blob)})
    return sum(s.count for s in streets)


def builtin(city: str) -> list[Street] | None:
    """The extract shipped for ``city`` (Paris only), or None."""
    if city != "paris":
        return None
    path = resources.files("subscriptions") / "data" / "paris_addresses.csv"
    return read_ban(io.StringIO(path.read_text(encoding="utf-8"), newline=""))


# ---------------------------------------------------------------------------- searching


@dataclasses.dataclass(frozen=True)
class Query:
    number: str | None  # "12", "12 bis"
    postcode: str | None
    district: str | None  # "13" for "13e": a postcode ending so
    words: tuple[str, ...]


def parse_query(q: str) -> Query:
    words = fold(q)
    number = postcode = district = None
    rest: list[str] = []
    for i, w in enumerate(words):
        if re.fullmatch(r"\d{5}", w):
            postcode = w
        elif number is None and not rest and re.fullmatch(r"\d{1,4}", w):
            number = w
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if nxt in REPS and (i + 2 < len(words)):
                number = f"{w} {REPS[nxt]}"
        elif number is not None and " " in number and w in REPS and not rest:
            continue  # the "bis" read with the number
        elif m := ORDINAL.fullmatch(w):
            district = f"{int(m.group(1)):02d}"
        elif w not in STOP:
            rest.append(SHORT.get(w, w))
    return Query(number, postcode, district, tuple(rest))


class Gazetteer:
    """A city's streets, searched by their words (a prefix is enough), number and postcode:
    each word typed narrows the streets to those with a word starting so (sorted words, an
    index from each to its streets), then the few left are ranked."""

    def __init__(self, streets: list[Street]) -> None:
        self.streets = streets
        self.words = [
            tuple(w for w in fold(s.name) if w not in STOP) + tuple(fold(s.commune))
            for s in streets
        ]
        index: dict[str, list[int]] = {}
        for i, words in enumerate(self.words):
            for w in set(words):
                index.setdefault(w, []).append(i)
        self._index = index
        self._sorted = sorted(index)

    def __len__(self) -> int:
        return sum(s.count for s in self.streets)

    def _starting(self, prefix: str) -> set[int]:
        """The streets with a word starting with ``prefix``."""
        out: set[int] = set()
        i = bisect.bisect_left(self._sorted, prefix)
        while i < len(self._sorted) and self._sorted[i].startswith(prefix):
            out.update(self._index[self._sorted[i]])
            i += 1
        return out

    def search(self, q: str, limit: int = 5) -> list[dict[str, Any]]:
        query = parse_query(q)
        if not query.words:
            return []
        found = set.intersection(*(self._starting(w) for w in query.words))
        scored = []
        for i in found:
            s = self.streets[i]
            if query.postcode and s.postcode != query.postcode:
                continue
            if query.district and not s.postcode.endswith(query.district):
                continue
            score = _score(query.words, self.words[i])
            if score is not None:
                scored.append((-score, len(s.name), s.name, s.postcode, s))
        scored.sort(key=lambda x: x[:4])
        return [_found(s, query.number) for *_, s in scored[:limit]]


def _score(words: tuple[str, ...], tokens: tuple[str, ...]) -> int | None:
    """Each word of the query is a word of the street, or the start of one (2 for a whole
    word, 1 for a start); None when one is not."""
    score = 0
    for w in words:
        if w in tokens:
            score += 2
        elif any(t.startswith(w) for t in tokens):
            score += 1
        else:
            return None
    return score - (len(tokens) - len(words))  # fewer unmatched words first


def _found(s: Street, number: str | None) -> dict[str, Any]:
    """The number asked for, or the nearest one on the street; the street's middle without one."""
    numbers = s.numbers
    if number is None:
        ordered = sorted(numbers, key=lambda n: _numeric(n.number))
        n, match, label = ordered[len(ordered) // 2], "street", s.name
    else:
        exact = [x for x in numbers if x.number == number]
        want = _numeric(number)
        n = exact[0] if exact else min(numbers, key=lambda x: _distance(_numeric(x.number), want))
        match = "address" if exact else "nearest"
        label = f"{n.number} {s.name}"
    return {
        "label": f"{label}, {s.postcode} {s.commune}",
        "street": s.name,
        "number": None if match == "street" else n.number,
        "postcode": s.postcode,
        "match": match,
        "point": {"lon": n.lon, "lat": n.lat},
    }


def _distance(number: int, want: int) -> tuple[int, bool]:
    """The nearest number, on the same side of the street when two are as near."""
    return abs(number - want), number % 2 != want % 2


def _stamp(blob: str) -> str:
    return format(zlib.crc32(blob.encode()), "08x")


def _numeric(number: str) -> int:
    return int(number.split()[0])


def areas_at(catalogue: AreaCatalogue, lon: float, lat: float) -> list[dict[str, Any]]:
    """The areas holding a point, the finest first."""
    codes = catalogue.intersecting(catalogue.projection.to_metric(Point(lon, lat)))
    found = [catalogue.get(c) for c in codes]
    found.sort(key=lambda a: a.parent is None)
    return [{"code": a.code, "kind": a.kind, "name": a.name, "parent": a.parent} for a in found]


class Gazetteers:
    """The gazetteers this process has read, per city, read again when the stored one changes."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._cache: dict[str, tuple[str, Gazetteer | None]] = {}

    async def get(self, city: str) -> Gazetteer | None:
        stamp = await self.redis.hget(addresses_key(city), "stamp") or ""
        cached = self._cache.get(city)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        stored = await self.redis.hget(addresses_key(city), "streets") if stamp else None
        streets = decode(stored) if stored else builtin(city)
        gazetteer = Gazetteer(streets) if streets else None
        self._cache[city] = (stamp, gazetteer)
        return gazetteer
