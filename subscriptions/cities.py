"""The cities one deployment serves (tenants): each with its own areas, timezone, languages,
categories, departments, senders, branding and limits.

A city is created from a *city document* (``parse_city``): its settings and the GeoJSON of its
areas, one or two levels (arrondissement > quartier). A second-level area names its parent by a
property or, where the data has none, lies inside it (the first-level area holding most of it).
::

    n:cities                  hash    city id -> its settings (JSON, ``City.to_json``)
    n:{city}:city:areas       string  its areas (JSON list: code, kind, name, parent, geometry)

Paris, the default, is built in (``subscriptions/data``); creating ``paris`` again replaces it.
Each process keeps the cities it has seen in a ``Cities`` registry: a city created elsewhere
is loaded on first use (``ensure``) or at the next ``refresh``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from redis.asyncio import Redis
from shapely import make_valid, unary_union
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from channels import NAMES
from subscriptions.areas import Area, AreaCatalogue, load_paris
from subscriptions.categories import CATEGORIES
from subscriptions.errors import InvalidInput
from subscriptions.geometry import Projection
from subscriptions.subscription import DEPARTMENT
from templates import LANGUAGES

CITY_ID = re.compile(r"[a-z][a-z0-9_]{1,39}")
LIMITED = NAMES  # the channels a city may limit (rates, monthly quotas)
REGISTRY = "n:cities"
E164 = re.compile(r"\+[1-9]\d{6,14}")
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# https, a host name or address (and port), then a path without spaces, quotes or brackets
LOGO_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[^\s\"'<>;,]*")
MAX_AREAS = 2000


@dataclasses.dataclass(frozen=True)
class City:
    id: str
    name: str
    timezone: str = "Europe/Paris"
    default_language: str = "fr"
    languages: tuple[str, ...] = LANGUAGES
    categories: tuple[str, ...] = CATEGORIES
    departments: tuple[str, ...] = ()  # none: any department a key is made for
    mail_from: str = ""  # none: the deployment's NOTIFIER_MAIL_FROM
    reply_to: str = ""
    sms_from: str = ""  # none: the deployment's NOTIFIER_TWILIO_FROM
    country: str = "FR"  # ISO 3166 alpha-2: how phone numbers typed without +… are read
    sms_countries: tuple[str, ...] = ()  # whose numbers may be texted; none: (country,)
    colour: str = "#0b3d91"
    logo_url: str = ""
    # per channel: messages per second (none: the deployment's RATE_*), and per calendar month
    rates: Mapping[str, float] = dataclasses.field(default_factory=dict)
    monthly_quotas: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def senders(self) -> dict[str, str]:
        """The city's own sender per channel, where it has one (none: the deployment's)."""
        return {"email": self.mail_from, "sms": self.sms_from}

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(rates=dict(self.rates), monthly_quotas=dict(self.monthly_quotas))
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> City:
        fields = {f.name for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields
        }
        return cls(**kw)

    def public(self) -> dict[str, Any]:
        """What the portal and the API show of a city (no sender addresses)."""
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            "default_language": self.default_language,
            "languages": list(self.languages),
            "categories": list(self.categories),
            "departments": list(self.departments),
            "branding": {"colour": self.colour, "logo_url": self.logo_url},
        }

    @property
    def allowed_sms_countries(self) -> tuple[str, ...]:
        """The countries whose mobile numbers this city texts (codes, magic links, alerts)."""
        return self.sms_countries or (self.country,)

    def check_language(self, value: object, field: str = "language") -> str:
        if value not in self.languages:
            raise InvalidInput(field, f"must be one of {', '.join(self.languages)}")
        return str(value)


PARIS = City(id="paris", name="Paris")


# ---------------------------------------------------------------------------- the city document


def parse_city(doc: object) -> tuple[City, list[dict[str, Any]]]:
    """A city and its areas from a city document (what ``notifier city create`` reads and
    ``POST /v1/cities`` takes); ``InvalidInput`` naming the field otherwise::

        {"id": "lyon", "name": "Lyon", "timezone": "Europe/Paris",
         "default_language": "fr", "languages": ["fr", "en"],
         "categories": ["roadworks", ...], "departments": ["voirie", ...],
         "email": {"from": "Lyon <alertes@lyon.example>", "reply_to": "..."},
         "country": "FR", "sms": {"from": "+33...", "countries": ["FR", "GP", ...]},
         "branding": {"colour": "#c8102e", "logo_url": "https://..."},
         "limits": {"rates": {"sms": 10}, "monthly_quotas": {"sms": 100000}},
         "areas": {"kind": "arrondissement", "code": "<property>", "name": "<property>",
                   "geojson": {FeatureCollection}},
         "subareas": {"kind": "quartier", "code": ..., "name": ..., "parent": "<property>"?,
                      "geojson": {...}}}
    """
    d = _object(doc, "body")
    cid = d.get("id")
    if not isinstance(cid, str) or not CITY_ID.fullmatch(cid):
        raise InvalidInput("id", "2-40 characters: lower-case letters, digits and '_'")
    name = _text(d.get("name"), "name", 80)
    tz = _text(d.get("timezone", "Europe/Paris"), "timezone", 64)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone", "an IANA timezone, e.g. Europe/Paris") from None
    languages = _choices(d.get("languages", list(LANGUAGES)), LANGUAGES, "languages")
    default_language = d.get("default_language", languages[0])
    if default_language not in languages:
        raise InvalidInput("default_language", f"one of the city's languages: {languages}")
    categories = _choices(d.get("categories", list(CATEGORIES)), CATEGORIES, "categories")
    departments = d.get("departments", [])
    if not isinstance(departments, list) or not all(
        isinstance(x, str) and DEPARTMENT.fullmatch(x) for x in departments
    ):
        raise InvalidInput("departments", "a list of names: 2-40 lower-case letters, digits, '-'")
    email = _object(d.get("email", {}), "email")
    sms = _object(d.get("sms", {}), "sms")
    branding = _object(d.get("branding", {}), "branding")
    limits = _object(d.get("limits", {}), "limits")
    city = City(
        id=cid,
        name=name,
        timezone=tz,
        default_language=str(default_language),
        languages=languages,
        categories=categories,
        departments=tuple(dict.fromkeys(departments)),
        mail_from=_address(email.get("from", ""), "email.from"),
        reply_to=_address(email.get("reply_to", ""), "email.reply_to"),
        sms_from=_sms_from(sms.get("from", "")),
        country=_country(d.get("country", "FR"), "country"),
        sms_countries=_countries(sms.get("countries", []), "sms.countries"),
        colour=_pattern(branding.get("colour", "#0b3d91"), COLOUR, "branding.colour", "#rrggbb"),
        logo_url=_logo(branding.get("logo_url", "")),
        rates=_numbers(limits.get("rates", {}), "limits.rates", float),
        monthly_quotas=_numbers(limits.get("monthly_quotas", {}), "limits.monthly_quotas", int),
    )
    areas = _level(d.get("areas"), "areas", None)
    if "subareas" in d:
        areas += _level(d["subareas"], "subareas", areas)
    if len(areas) > MAX_AREAS:
        raise InvalidInput("areas", f"at most {MAX_AREAS} areas")
    return city, areas


def _object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be an object")
    return value


def _text(value: object, field: str, longest: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise InvalidInput(field, f"a text of 1-{longest} characters")
    return value.strip()


def _choices(value: object, allowed: tuple[str, ...], field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(v not in allowed for v in value):
        raise InvalidInput(field, f"a non-empty list among {', '.join(allowed)}")
    return tuple(dict.fromkeys(value))


def _pattern(value: object, pattern: re.Pattern[str], field: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidInput(field, f"must be {what}")
    return value


def _address(value: object, field: str) -> str:
    if value == "":
        return ""
    if not isinstance(value, str) or "@" not in parseaddr(value)[1] or "\n" in value:
        raise InvalidInput(field, "an email address, e.g. Ville <alertes@ville.example>")
    return value


def _sms_from(value: object) -> str:
    if value == "" or (isinstance(value, str) and re.fullmatch(r"MG[0-9a-f]{32}", value)):
        return str(value)
    return _pattern(value, E164, "sms.from", "a number in E.164 (+33...) or a messaging service")


def _country(value: object, field: str) -> str:
    if not isinstance(value, str) or value not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(field, "a country code (ISO 3166 alpha-2, upper case), e.g. FR")
    return value


def _countries(value: object, field: str) -> tuple[str, ...]:
    """The countries whose numbers may be texted; empty: the city's own country only."""
    if not isinstance(value, list) or len(value) > 50:
        raise InvalidInput(field, 'a list of at most 50 country codes, e.g. ["FR", "GP"]')
    return tuple(dict.fromkeys(_country(v, field) for v in value))


def _logo(value: object) -> str:
    """An https URL with a plain host (its origin goes into the pages' CSP)."""
    if value == "":
        return ""
    if not isinstance(value, str) or len(value) > 500 or not LOGO_URL.fullmatch(value):
        raise InvalidInput("branding.logo_url", "an https:// URL of a PNG")
    return value


def _numbers(value: object, field: str, kind: type) -> dict[str, Any]:
    d = _object(value, field)
    out = {}
    for channel, n in d.items():
        if channel not in LIMITED:
            raise InvalidInput(f"{field}.{channel}", f"a channel among {', '.join(LIMITED)}")
        if isinstance(n, bool) or not isinstance(n, int | float) or n <= 0:
            raise InvalidInput(f"{field}.{channel}", "a positive number")
        out[channel] = kind(n)
    return out


def _level(value: object, field: str, parents: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    spec = _object(value, field)
    default_kind = "area" if parents is None else "subarea"
    kind = _pattern(
        spec.get("kind", default_kind), re.compile(r"[a-z_]{2,30}"), f"{field}.kind", "a word"
    )
    code_p, name_p = (_text(spec.get(p), f"{field}.{p}", 64) for p in ("code", "name"))
    parent_p = spec.get("parent")
    collection = _object(spec.get("geojson"), f"{field}.geojson")
    features = collection.get("features")
    if collection.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise InvalidInput(f"{field}.geojson", "a GeoJSON FeatureCollection")
    if not features:
        raise InvalidInput(f"{field}.geojson", "has no features")
    out, seen = [], {a["code"] for a in parents or ()}
    for i, f in enumerate(features):
        where = f"{field}.geojson.features[{i}]"
        props = _object(_object(f, where).get("properties"), f"{where}.properties")
        code, name = props.get(code_p), props.get(name_p)
        if not isinstance(code, str | int) or isinstance(code, bool) or str(code) in seen:
            raise InvalidInput(f"{where}.properties.{code_p}", "a code, unique in the city")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where}.properties.{name_p}", "a name")
        geometry = _surface(f.get("geometry"), f"{where}.geometry")
        seen.add(str(code))
        row = {"code": str(code), "kind": kind, "name": name.strip(), "parent": None}
        if parents is not None:
            row["parent"] = _parent(props, parent_p, geometry, parents, where)
        out.append({**row, "geometry": mapping(geometry)})
    return out


def _surface(value: object, field: str) -> BaseGeometry:
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(field, "a GeoJSON Polygon or MultiPolygon")
    try:
        g = shape(value)
    except (ValueError, TypeError, AttributeError, IndexError):
        raise InvalidInput(field, "not a readable GeoJSON geometry") from None
    minx, miny, maxx, maxy = g.bounds
    if g.is_empty or not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInput(field, "lon/lat coordinates (WGS 84) are expected")
    return g if g.is_valid else make_valid(g)


def _parent(
    props: dict[str, Any],
    parent_p: object,
    geometry: BaseGeometry,
    parents: list[dict[str, Any]],
    where: str,
) -> str:
    codes = {p["code"] for p in parents}
    if parent_p is not None:
        value = str(props.get(str(parent_p)))
        if value not in codes:
            raise InvalidInput(f"{where}.properties.{parent_p}", "not a code of the first level")
        return value
    share = {p["code"]: shape(p["geometry"]).intersection(geometry).area for p in parents}
    best = max(share, key=lambda c: share[c])
    if share[best] < 0.5 * geometry.area:
        raise InvalidInput(f"{where}.geometry", "lies in no first-level area (give 'parent')")
    return best


def catalogue_of(areas: list[dict[str, Any]]) -> AreaCatalogue:
    """The catalogue of a city's stored areas, measured around their centre."""
    lonlat = [shape(a["geometry"]) for a in areas]
    centre = unary_union([g for g, a in zip(lonlat, areas, strict=True) if not a["parent"]])
    projection = Projection(lon=centre.centroid.x, lat=centre.centroid.y)
    return AreaCatalogue(
        [
            Area(a["code"], a["kind"], a["name"], a["parent"], g, projection.to_metric(g))
            for a, g in zip(areas, lonlat, strict=True)
        ],
        projection,
    )


# ---------------------------------------------------------------------------- the registry


async def put_city(redis: Redis, doc: object) -> tuple[City, list[dict[str, Any]], bool]:
    """Create or replace a city from its document: the city, its areas, whether it is new."""
    city, areas = parse_city(doc)
    catalogue_of(areas)  # what every process will build from them: built once here
    async with redis.pipeline(transaction=True) as p:
        p.set(f"n:{city.id}:city:areas", json.dumps(areas, separators=(",", ":")))
        p.hsetnx(REGISTRY, city.id, "")
        p.hset(REGISTRY, city.id, json.dumps(city.to_json()))
        _, new, _ = await p.execute()
    return city, areas, bool(new)


class Cities:
    """The cities this process knows, with their catalogues (``catalogues`` is the dict the
    matcher and the handlers read: the registry adds to it, never replaces it)."""

    def __init__(self, redis: Redis, default: str = "paris") -> None:
        self.redis = redis
        self.default = default
        self.configs: dict[str, City] = {}
        self.catalogues: dict[str, AreaCatalogue] = {}
        if default == "paris":
            self.configs["paris"], self.catalogues["paris"] = PARIS, load_paris()

    def __contains__(self, city: object) -> bool:
        return city in self.configs

    def __getitem__(self, city: str) -> City:
        return self.configs[city]

    def get(self, city: str) -> City:
        return self.configs.get(city) or City(id=city, name=city.title())

    async def ensure(self, city: str) -> bool:
        """Whether the city exists, loading it if this process has not seen it yet."""
        if city in self.configs:
            return True
        if not CITY_ID.fullmatch(city):
            return False
        raw = await self.redis.hget(REGISTRY, city)
        if raw is None:
            return False
        await self._load(city, raw)
        return True

    async def require(self, city: str) -> AreaCatalogue:
        """The city's catalogue, the city loaded if this process has not seen it yet; a city
        that does not exist is ``InvalidInput`` (a record naming it goes to dead letters)."""
        if not await self.ensure(city):
            raise InvalidInput("city", f"unknown city {city!r}")
        return self.catalogues[city]

    async def refresh(self) -> list[str]:
        """Load the cities created (or replaced) since; their ids."""
        stored = await self.redis.hgetall(REGISTRY)
        changed = [
            c for c, raw in stored.items() if self.configs.get(c) != City.from_json(json.loads(raw))
        ]
        for c in changed:
            await self._load(c, stored[c])
        return changed

    async def _load(self, city: str, raw: str) -> None:
        if not raw:
            return
        config = City.from_json(json.loads(raw))
        areas = await self.redis.get(f"n:{city}:city:areas")
        if areas is not None:
            self.catalogues[city] = catalogue_of(json.loads(areas))
        elif city == "paris":
            self.catalogues[city] = load_paris()
        else:
            return  # half-written: the areas come in the same transaction; seen next time
        self.configs[city] = config

    def ids(self) -> list[str]:
        return sorted(self.configs)
