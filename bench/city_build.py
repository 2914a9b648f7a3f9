"""A city of generated citizens and subscriptions over Paris, written straight into Redis.

    from city_build import generate, write

``generate(n, catalogue)`` makes ``n`` subscriptions (seeded, the same every run) for as many
citizens as a realistic spread of subscriptions per citizen needs:

- citizens: 85% ``fr``, 15% ``en``; an email (90%), a phone (30%), a web push subscription
  (25%), at least one; 95% of contact points confirmed, the rest pending; 10% with quiet hours;
  1 subscription (60%), 2 (25%), 3 (10%) or 4 (5%) each;
- subscriptions: 22% an arrondissement, 33% a quartier, 35% a point with a radius of 100-2000 m
  around a Dans ma rue report (``tests/data``, moved by ~150 m), 10% a drawn hexagon of
  100-400 m around such a point; 1-4 categories each (``safety`` and ``roadworks`` the most
  chosen); 25% with a minimum severity; the channels among the citizen's (each kept 80% of the
  time); 5% in a daily or weekly digest.

``write`` sends what ``SubscriptionStore`` (``create_citizen``, ``add_contact``,
``add_subscription``) and the bulk import would write for them, keys and values alike, the
change log included (the store's own script, one call per 500 subscriptions), as the Redis
protocol piped through ``redis-cli --pipe`` (Redis's mass insertion): redis-py packs each
command in Python at ~10 µs, which would be most of the build. The quartiers each shape
crosses are found for all shapes at once (shapely's vectorised functions, the test of 1 m² of
overlap done exactly where a shape only grazes a quartier); ``check_index`` compares a sample
with what ``parse_subscription`` says.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from api_writes import hexagon
from shapely.geometry import shape

from notifier.dev import embedded
from subscriptions.areas import MIN_OVERLAP_M2, AreaCatalogue
from subscriptions.cadence import Cadence, parse_cadence
from subscriptions.categories import CATEGORIES, SEVERITIES
from subscriptions.contacts import CHANNELS
from subscriptions.store import (
    _LOG_CHANGES,
    CHANGE_LOG,
    CHANGE_LOG_LENGTH,
    SETS,
    _consent,
    address_key,
    key,
)
from subscriptions.subscription import Subscription, parse_subscription

ROOT = Path(__file__).resolve().parent.parent
DANS_MA_RUE = ROOT / "tests" / "data" / "dansmarue_anomalies_2023-2024_trottoirs_sample.csv"
CITY = "paris"
PER_CITIZEN = ((1, 0.60), (2, 0.25), (3, 0.10), (4, 0.05))
HAS_CHANNEL = {"email": 0.90, "sms": 0.30, "push": 0.25}
CONFIRMED = 0.95
# category popularity (safety first: what a city-wide alert is about)
CATEGORY_WEIGHTS = dict(
    zip(CATEGORIES, (0.16, 0.08, 0.07, 0.12, 0.07, 0.20, 0.10, 0.06, 0.07, 0.07), strict=True)
)
CATEGORY_COUNTS = ((1, 0.35), (2, 0.30), (3, 0.20), (4, 0.15))
SEVERITY_SHARES = dict(zip(SEVERITIES, (0.75, 0.08, 0.10, 0.05, 0.02), strict=True))
RADII = ((100, 0.20), (250, 0.30), (500, 0.25), (1000, 0.15), (2000, 0.10))
CADENCES = (
    (Cadence(), 0.95),
    (parse_cadence({"period": "daily", "at": "18:00"}), 0.04),
    (parse_cadence({"period": "weekly", "day": "monday", "at": "08:00"}), 0.01),
)
JITTER_M = 150.0
QUIET = json.dumps({"start": "22:00", "end": "07:00"})
PIPE_CHUNK = 500  # subscriptions (and their citizens) per change-log call and grouped SADDs
GRAZE_M = 10.0  # a circle reaching less than this into a quartier has its overlap computed
# citizen number -> (endpoint, p256dh, auth) of their push subscription
PushOf = Callable[[int], tuple[str, str, str]]


def unreachable_push(c: int) -> tuple[str, str, str]:
    """A push subscription nothing serves (the city-wide alert of ``match_scale`` never sends)."""
    return f"http://127.0.0.1:9/push/{c}", "B" + "A" * 86, "A" * 22


@dataclasses.dataclass
class City:
    """What was generated: enough to write it, and to know who should be told what."""

    citizens: list[str]
    language: list[str]
    quiet: np.ndarray  # bool per citizen
    contacts: dict[str, np.ndarray]  # channel -> 0 none, 1 pending, 2 confirmed, per citizen
    subs: list[Subscription]
    index: list[list[tuple[str, str]]]
    kinds: dict[str, int]

    def confirmed_bits(self) -> dict[str, int]:
        """Citizen -> bits (``CHANNELS`` order) of the channels they have confirmed."""
        bits = np.zeros(len(self.citizens), dtype=np.int64)
        for i, ch in enumerate(CHANNELS):
            bits |= (self.contacts[ch] == 2).astype(np.int64) << i
        return dict(zip(self.citizens, bits.tolist(), strict=True))


def dans_ma_rue() -> np.ndarray:
    """The (lon, lat) of the Dans ma rue reports shipped with the tests."""
    with DANS_MA_RUE.open(encoding="utf-8") as fh:
        rows = [r["geo_point_2d"].split(",") for r in csv.DictReader(fh)]
    return np.array([(float(lon), float(lat)) for lat, lon in rows])


def _pick(rng: np.random.Generator, choices: tuple[tuple[Any, float], ...], n: int) -> np.ndarray:
    """``n`` positions in ``choices``, drawn with their weights."""
    return rng.choice(len(choices), size=n, p=[p for _, p in choices])


def generate(n: int, catalogue: AreaCatalogue, seed: int = 3) -> City:
    rng = np.random.default_rng(seed)
    per = np.array([k for k, _ in PER_CITIZEN])[_pick(rng, PER_CITIZEN, n)]
    owners = np.repeat(np.arange(n), per)[:n]  # subscription -> citizen number
    c = int(owners[-1]) + 1
    citizens = [f"cit_{i:016x}" for i in range(c)]
    language = np.where(rng.random(c) < 0.85, "fr", "en").tolist()
    contacts = {
        ch: np.where(rng.random(c) < share, np.where(rng.random(c) < CONFIRMED, 2, 1), 0)
        for ch, share in HAS_CHANNEL.items()
    }
    nothing = (contacts["email"] + contacts["sms"] + contacts["push"]) == 0
    contacts["email"][nothing] = 2
    has = np.stack([contacts[ch][owners] > 0 for ch in CHANNELS], axis=1)
    keep = has & (rng.random((n, len(CHANNELS))) < 0.8)
    none_kept = ~keep.any(axis=1)
    keep[none_kept] = has[none_kept] & (np.cumsum(has[none_kept], axis=1) == 1)

    # categories: the first k of a weighted random order (Gumbel top-k)
    weights = np.log(np.array(list(CATEGORY_WEIGHTS.values())))
    order = np.argsort(-(weights + rng.gumbel(size=(n, len(CATEGORIES)))), axis=1)
    counts = np.array([k for k, _ in CATEGORY_COUNTS])[_pick(rng, CATEGORY_COUNTS, n)]
    severity = _pick(rng, tuple(SEVERITY_SHARES.items()), n)
    cadence = _pick(rng, CADENCES, n)

    u = rng.random(n)
    kind = np.select([u < 0.22, u < 0.55, u < 0.90], [0, 1, 2], 3)
    arrondissements = [a.code for a in catalogue.of_kind("arrondissement")]
    quartiers = [a.code for a in catalogue.of_kind("quartier")]
    shaped = np.flatnonzero(kind >= 2)
    geometry, radius, entries = _shapes(rng, catalogue, quartiers, kind[shaped])

    subs, index = [], []
    names = np.array(CATEGORIES)
    channel_names = np.array(CHANNELS)
    shape_no = np.full(n, -1)
    shape_no[shaped] = np.arange(len(shaped))
    area_codes = np.where(
        kind == 0,
        np.array(arrondissements)[rng.integers(0, len(arrondissements), n)],
        np.array(quartiers)[rng.integers(0, len(quartiers), n)],
    ).tolist()
    for i in range(n):
        common: dict[str, Any] = {
            "id": f"sub_{i:016x}",
            "citizen": citizens[owners[i]],
            "categories": tuple(sorted(names[order[i, : counts[i]]].tolist())),
            "min_severity": SEVERITIES[severity[i]],
            "channels": tuple(channel_names[keep[i]].tolist()),
            "cadence": CADENCES[cadence[i]][0],
        }
        s = shape_no[i]
        if s < 0:
            subs.append(Subscription(kind="area", area=area_codes[i], **common))
            index.append([("area", area_codes[i])])
        elif geometry[s]["type"] == "Point":
            subs.append(
                Subscription(kind="point", geometry=geometry[s], radius_m=radius[s], **common)
            )
            index.append(entries[s])
        else:
            subs.append(Subscription(kind="polygon", geometry=geometry[s], **common))
            index.append(entries[s])
    kinds = {
        name: int(np.count_nonzero(kind == k))
        for k, name in enumerate(("arrondissement", "quartier", "point", "polygon"))
    }
    quiet = rng.random(c) < 0.10
    return City(citizens, language, quiet, contacts, subs, index, kinds)


def _shapes(
    rng: np.random.Generator, catalogue: AreaCatalogue, quartiers: list[str], kinds: np.ndarray
) -> tuple[list[dict[str, Any]], list[float], list[list[tuple[str, str]]]]:
    """GeoJSON, radius and ``("geo", quartier)`` entries of the shaped subscriptions: points
    (kind 2) and hexagons (kind 3) around Dans ma rue reports, each inside the city."""
    n = len(kinds)
    points = dans_ma_rue()
    base = points[rng.integers(0, len(points), n)]
    lat0 = math.radians(float(np.mean(points[:, 1])))
    offset = rng.normal(0.0, JITTER_M, (n, 2))
    lon = np.round(base[:, 0] + offset[:, 0] / (111_320 * math.cos(lat0)), 6)
    lat = np.round(base[:, 1] + offset[:, 1] / 111_320, 6)
    radius = np.array([r for r, _ in RADII], dtype=float)[_pick(rng, RADII, n)]
    sizes, turns = rng.uniform(100, 400, n), rng.uniform(0, math.pi, n)
    geometry: list[dict[str, Any]] = []
    for i in range(n):
        if kinds[i] == 2:
            geometry.append({"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]})
        else:
            geometry.append(hexagon(float(lon[i]), float(lat[i]), float(sizes[i]), float(turns[i])))
    entries = crossed_quartiers(catalogue, quartiers, geometry, radius)
    # a shape moved out of the city (past the périphérique) goes back to its report's point
    for i in [i for i, e in enumerate(entries) if not e]:
        if kinds[i] == 2:
            geometry[i] = {"type": "Point", "coordinates": [float(x) for x in base[i]]}
        else:
            geometry[i] = hexagon(float(base[i, 0]), float(base[i, 1]), sizes[i], turns[i])
        entries[i] = crossed_quartiers(catalogue, quartiers, [geometry[i]], radius[i : i + 1])[0]
    return geometry, radius.tolist(), entries


def crossed_quartiers(
    catalogue: AreaCatalogue,
    quartiers: list[str],
    geometry: list[dict[str, Any]],
    radius: np.ndarray,
) -> list[list[tuple[str, str]]]:
    """``parse_subscription``'s index entries for many shapes at once: the quartiers each
    crosses by 1 m² or more, in the catalogue's metric projection."""
    project = catalogue.projection.to_metric
    areas = np.array([catalogue.get(q).metric for q in quartiers])
    shapely.prepare(areas)
    tree = shapely.STRtree(areas)
    is_point = np.array([g["type"] == "Point" for g in geometry])
    xy = np.array([g["coordinates"] if g["type"] == "Point" else (0.0, 0.0) for g in geometry])
    centres = project(shapely.points(xy))
    metric = np.empty(len(geometry), dtype=object)
    drawn = [shape(g) for g, p in zip(geometry, is_point, strict=True) if not p]
    if drawn:
        metric[~is_point] = project(np.array(drawn, dtype=object))
    metric[is_point] = shapely.buffer(centres[is_point], radius[is_point], quad_segs=16)
    g, q = tree.query(metric, predicate="intersects")
    # a circle whose centre is outside a quartier and reaches less than GRAZE_M into it, and
    # a polygon not inside it, may only graze it: the overlap decides (parse_subscription's rule)
    unsure = ~is_point[g]
    circles = np.flatnonzero(is_point[g])
    inside = shapely.contains(areas[q[circles]], centres[g[circles]])
    depth = radius[g[circles]] - shapely.distance(centres[g[circles]], areas[q[circles]])
    unsure[circles] = ~inside & (depth < GRAZE_M)
    polygons = np.flatnonzero(~is_point[g])
    unsure[polygons] = ~shapely.contains_properly(areas[q[polygons]], metric[g[polygons]])
    keep = np.ones(len(g), dtype=bool)
    at = np.flatnonzero(unsure)
    overlap = shapely.area(shapely.intersection(metric[g[at]], areas[q[at]]))
    keep[at] = overlap >= MIN_OVERLAP_M2
    out: list[list[tuple[str, str]]] = [[] for _ in geometry]
    for i, j in zip(g[keep].tolist(), q[keep].tolist(), strict=True):
        out[i].append(("geo", quartiers[j]))
    return [sorted(e) for e in out]


def check_index(city: City, catalogue: AreaCatalogue, sample: int = 300) -> tuple[int, int]:
    """(checked, differing): index entries of shaped subscriptions against
    ``parse_subscription``'s, for ``sample`` of them spread over the list."""
    shaped = [i for i, s in enumerate(city.subs) if s.kind in ("point", "polygon")]
    picked = shaped[:: max(1, len(shaped) // sample)][:sample]
    differing = 0
    for i in picked:
        s = city.subs[i]
        body: dict[str, Any]
        if s.kind == "point":
            assert s.geometry is not None
            lon, lat = s.geometry["coordinates"]
            body = {"point": {"lon": lon, "lat": lat}, "radius_m": s.radius_m}
        else:
            body = {"polygon": s.geometry}
        _, index = parse_subscription(body, sid=s.id, citizen=s.citizen, catalogue=catalogue)
        differing += index != city.index[i]
    return len(picked), differing


# -- writing: the Redis protocol through redis-cli --pipe ----------------------------------------


def command(*args: str | int | float) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def redis_cli() -> str:
    beside = Path(embedded.redis_binary()).with_name("redis-cli")
    found = str(beside) if beside.exists() else shutil.which("redis-cli")
    if found is None:
        raise RuntimeError("redis-cli not found (it comes with redis-server)")
    return found


def _contact_fields(
    city: City, c: int, ch: str, pid: str, push: PushOf
) -> tuple[str, dict[str, str]]:
    endpoint, p256dh, auth = push(c) if ch == "push" else ("", "", "")
    address = {"email": f"c{c}@bench.example", "sms": f"+336{c:08d}", "push": endpoint}[ch]
    status = "confirmed" if city.contacts[ch][c] == 2 else "pending"
    fields = {"id": pid, "citizen": city.citizens[c], "channel": ch, "address": address}
    fields["status"] = status
    if ch == "push":
        fields.update(p256dh=p256dh, auth=auth)
    return address, fields


def _hset(k: str, mapping: dict[str, str]) -> bytes:
    return command("HSET", k, *(x for kv in mapping.items() for x in kv))


def commands(city: City, push: PushOf = unreachable_push) -> Iterator[bytes]:
    """The commands, in chunks of ``PIPE_CHUNK`` subscriptions with their new citizens."""
    yield command("SCRIPT", "LOAD", _LOG_CHANGES)
    log_sha = hashlib.sha1(_LOG_CHANGES.encode(), usedforsecurity=False).hexdigest()
    now = str(int(time.time()))
    owner_no = {cid: i for i, cid in enumerate(city.citizens)}
    done_citizens = 0
    for start in range(0, len(city.subs), PIPE_CHUNK):
        chunk = city.subs[start : start + PIPE_CHUNK]
        out: list[bytes] = []
        last = owner_no[chunk[-1].citizen] + 1
        addresses: list[str] = []
        for c in range(done_citizens, last):
            cid = city.citizens[c]
            citizen = {"id": cid, "language": city.language[c], "timezone": "Europe/Paris"}
            citizen["created_at"] = now
            if city.quiet[c]:
                citizen["quiet_hours"] = QUIET
            out.append(_hset(key(CITY, "citizen", cid), citizen))
            pids, consents = [], []
            for ch in CHANNELS:
                if city.contacts[ch][c]:
                    pid = f"cp_{c:014x}{CHANNELS.index(ch):02x}"
                    address, fields = _contact_fields(city, c, ch, pid, push)
                    addresses += [address_key(CITY, ch, address), pid]
                    out.append(_hset(key(CITY, "contact", pid), fields))
                    pids.append(pid)
                    consents.append(_consent(pid, fields["status"], "bench"))
            out.append(command("SADD", key(CITY, "citizen", cid, "contacts"), *pids))
            out.append(command("RPUSH", key(CITY, "citizen", cid, "consent"), *consents))
        done_citizens = last
        if addresses:
            out.append(command("MSET", *addresses))
        index: dict[str, list[str]] = {}
        subs_of: dict[str, list[str]] = {}
        for i, sub in enumerate(chunk, start):
            h = sub.to_hash() | {"created_at": now, "index": json.dumps(city.index[i])}
            out.append(_hset(key(CITY, "sub", sub.id), h))
            subs_of.setdefault(sub.citizen, []).append(sub.id)
            for kind, code in city.index[i]:
                if kind in SETS:  # as the store writes them
                    index.setdefault(key(CITY, "idx", kind, code), []).append(sub.id)
        for cid, sids in subs_of.items():
            out.append(command("SADD", key(CITY, "citizen", cid, "subs"), *sids))
        for k, sids in index.items():
            out.append(command("SADD", k, *sids))
        log_keys = (key(CITY, CHANGE_LOG), key(CITY, "subs", "seq"))
        sids = [s.id for s in chunk]
        out.append(command("EVALSHA", log_sha, 2, *log_keys, "add", CHANGE_LOG_LENGTH, *sids))
        yield b"".join(out)


def write(city: City, port: int, push: PushOf = unreachable_push) -> int:
    """Pipe every command to the redis-server on ``port``; the number of replies. ``push``:
    each citizen's push subscription (by default one nothing serves)."""
    proc = subprocess.Popen(
        [redis_cli(), "-h", "127.0.0.1", "-p", str(port), "--pipe"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdin is not None
    try:
        for block in commands(city, push):
            proc.stdin.write(block)
        output = proc.communicate(timeout=600)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
    errors = [line for line in output.splitlines() if "errors:" in line]
    if proc.returncode != 0 or not errors or not errors[-1].strip().startswith("errors: 0,"):
        raise RuntimeError(f"redis-cli --pipe failed:\n{output[-2000:]}")
    return int(errors[-1].rsplit("replies:", 1)[1].strip())
