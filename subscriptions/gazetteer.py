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
    return f"n:{city}:city:addresses"


def fold(text: str) -> list[str]:
    """Lower-case words without accents: ``"Rue de l'Épée-de-Bois"`` -> rue de l epee de bois."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", plain).split()


@dataclasses.dataclass(frozen=True)
class Number:
    number: str  # "12", "12 bis"
    lon: float
    lat: float


@dataclasses.dataclass
class Street:
    name: str  # "Rue Monge"
    postcode: str
    commune: str  # "Paris"
    numbers: list[Number]
    words: tuple[str, ...] = ()  # its folded words, stop words left out

    def __post_init__(self) -> None:
        self.words = tuple(w for w in fold(self.name) if w not in STOP)


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
    streets: dict[tuple[str, str], Street] = {}
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
        key = (name.strip(), postcode)
        street = streets.get(key)
        if street is None:
            street = streets[key] = Street(name.strip(), postcode, commune, [])
        street.numbers.append(Number(f"{number} {rep}".strip(), lon, lat))
    out = list(streets.values())
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
        lons = np.array([n.lon for n in s.numbers])
        lats = np.array([n.lat for n in s.numbers])
        inside = shapely.contains_xy(outline, lons, lats)
        kept = [n for n, keep in zip(s.numbers, inside, strict=True) if keep]
        if kept:
            out.append(Street(s.name, s.postcode, s.commune, kept))
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
    lines = []
    for s in streets:
        points = "|".join(f"{n.number},{n.lon:.6f},{n.lat:.6f}" for n in s.numbers)
        lines.append("\t".join((s.name, s.postcode, s.commune, points)))
    return base64.b64encode(zlib.compress("\n".join(lines).encode(), 9)).decode()


def decode(blob: str) -> list[Street]:
    out = []
    for line in zlib.decompress(base64.b64decode(blob)).decode().split("\n"):
        name, postcode, commune, points = line.split("\t")
        numbers = []
        for p in points.split("|"):
            number, lon, lat = p.split(",")
            numbers.append(Number(number, float(lon), float(lat)))
        out.append(Street(name, postcode, commune, numbers))
    return out


async def save(redis: Redis, city: str, streets: list[Street]) -> int:
    """Replace the city's addresses; how many were kept."""
    if not streets:
        raise InvalidInput("file", "no address of the file lies inside the city's areas")
    blob = encode(streets)
    await redis.hset(addresses_key(city), mapping={"streets": blob, "stamp": _stamp(blob)})
    return sum(len(s.numbers) for s in streets)


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
    """A city's streets, searched by their words (a prefix is enough), number and postcode."""

    def __init__(self, streets: list[Street]) -> None:
        self.streets = streets

    def __len__(self) -> int:
        return sum(len(s.numbers) for s in self.streets)

    def search(self, q: str, limit: int = 5) -> list[dict[str, Any]]:
        query = parse_query(q)
        if not query.words:
            return []
        scored = []
        for s in self.streets:
            if query.postcode and s.postcode != query.postcode:
                continue
            if query.district and not s.postcode.endswith(query.district):
                continue
            score = _score(query.words, s.words + tuple(fold(s.commune)))
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
    if number is None:
        ordered = sorted(s.numbers, key=lambda n: _numeric(n.number))
        n, match, label = ordered[len(ordered) // 2], "street", s.name
    else:
        exact = [x for x in s.numbers if x.number == number]
        want = _numeric(number)
        n = exact[0] if exact else min(s.numbers, key=lambda x: _distance(_numeric(x.number), want))
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
