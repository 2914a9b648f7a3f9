"""A city document: what ``notifier city create`` reads and ``POST /v1/cities`` takes (its
settings and the GeoJSON of its areas, one or two levels: arrondissement > quartier), checked
(``parse_city``: ``InvalidInput`` naming the field) and kept (``put_city``); ``SCHEMA`` says the
same rules as JSON Schema, from the same constants. A second-level area names its parent by a
property or, where the data has none, lies inside it (the first-level area holding most of it).
"""

from __future__ import annotations

import json
import re
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from redis.asyncio import Redis
from shapely import make_valid
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from subscriptions.categories import CATEGORIES
from subscriptions.cities import (
    CITY_ID,
    COLOUR,
    LIMITED,
    MAX_AREAS,
    REGISTRY,
    City,
    areas_key,
    catalogue_of,
)
from subscriptions.errors import InvalidInput
from subscriptions.rules import Schema
from subscriptions.subscription import DEPARTMENT
from templates import LANGUAGES

E164 = re.compile(r"\+[1-9]\d{6,14}")
AREA_KIND = re.compile(r"[a-z_]{2,30}")
MAX_NAME = 80  # characters of a city's name
MAX_COUNTRIES = 50  # whose numbers a city may text
COUNTRY = "^[A-Z]{2}$"  # as a schema says it (the check: a region phonenumbers knows)
# https, a host name or address (and port), then a path without spaces, quotes or brackets
LOGO_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[^\s\"'<>;,]*")


def parse_city(doc: object) -> tuple[City, list[dict[str, Any]]]:
    """A city and its areas from a city document (what ``notifier city create`` reads and
    ``POST /v1/cities`` takes); ``InvalidInput`` naming the field otherwise::

        {"id": "lyon", "name": "Lyon", "timezone": "Europe/Paris",
         "default_language": "fr", "languages": ["fr", "en"],
         "categories": ["roadworks", ...], "departments": ["voirie", ...],
         (or a department with its name: {"id": "voirie", "name": {"fr": ..., "en": ...}}),
         "email": {"from": "Lyon <alertes@lyon.example>", "reply_to": "..."},
         "country": "FR", "sms": {"from": "+33...", "countries": ["FR", "GP", ...]},
         "branding": {"colour": "#c8102e", "logo_url": "https://..."},
         "limits": {"rates": {"sms": 10}, "monthly_quotas": {"sms": 100000}},
         "areas": {"kind": "arrondissement", "code": "<property>", "name": "<property>",
                   "geojson": {FeatureCollection}},
         "subareas": {"kind": "quartier", "code": ..., "name": ..., "parent": "<property>"?,
                      "geojson": {...}},
         "addresses": {"csv": "adresses-69.csv"}}

    ``addresses`` names the city's address file (France's BAN CSV format), which
    ``notifier city create`` loads into the gazetteer (``subscriptions.gazetteer``); the API
    keeps no file names and ignores it.
    """
    d = _object(doc, "body")
    cid = d.get("id")
    if not isinstance(cid, str) or not CITY_ID.fullmatch(cid):
        raise InvalidInput("id", "2-40 characters: lower-case letters, digits and '_'")
    name = _text(d.get("name"), "name", MAX_NAME)
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
    departments, department_names = _departments(d.get("departments", []), languages)
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
        department_names=department_names,
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


def _departments(
    value: object, languages: tuple[str, ...]
) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The department ids, and the names citizens read (``{"id", "name"}`` entries: a name, or
    one per language; a name alone is the same in every language)."""
    if not isinstance(value, list):
        raise InvalidInput("departments", "a list of department ids or {id, name} objects")
    ids, names = [], {}
    for entry in value:
        if isinstance(entry, dict):
            dept, name = entry.get("id"), entry.get("name")
            if not isinstance(dept, str) or not DEPARTMENT.fullmatch(dept):
                raise InvalidInput("departments", "an id of 2-40 lower-case letters, digits, '-'")
            where = f"departments.{dept}"
            if isinstance(name, str):
                name = dict.fromkeys(languages, name)
            if not isinstance(name, dict) or not name:
                raise InvalidInput(f"{where}.name", 'a name, or one per language {"fr": …}')
            for lang, n in name.items():
                if lang not in languages:
                    raise InvalidInput(f"{where}.name.{lang}", f"one of {', '.join(languages)}")
                name[lang] = _text(n, f"{where}.name.{lang}", MAX_NAME)
            names[dept] = name
        elif isinstance(entry, str) and DEPARTMENT.fullmatch(entry):
            dept = entry
        else:
            raise InvalidInput(
                "departments", "a list of names: 2-40 lower-case letters, digits, '-'"
            )
        ids.append(dept)
    return ids, names


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
    if not isinstance(value, list) or len(value) > MAX_COUNTRIES:
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
    kind = _pattern(spec.get("kind", default_kind), AREA_KIND, f"{field}.kind", "a word")
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


async def put_city(redis: Redis, doc: object) -> tuple[City, list[dict[str, Any]], bool]:
    """Create or replace a city from its document: the city, its areas, whether it is new."""
    city, areas = parse_city(doc)
    catalogue_of(areas)  # what every process will build from them: built once here
    # the areas first, then the registry (two slots on a Redis Cluster): a city in the registry
    # always has its areas, and areas left by a failure in between are replaced by the retry
    await redis.set(areas_key(city.id), json.dumps(areas, separators=(",", ":")))
    async with redis.pipeline(transaction=True) as p:
        p.hsetnx(REGISTRY, city.id, "")
        p.hset(REGISTRY, city.id, json.dumps(city.to_json()))
        new, _ = await p.execute()
    return city, areas, bool(new)


# what ``parse_city`` takes, as far as a schema can say it (a timezone, a country phonenumbers
# knows, closed shapes, a second level inside the first: in the descriptions, or checked only)
_TEXT: Schema = {"type": "string"}
_CHANNEL_NUMBERS: Schema = {
    "type": "object",
    "propertyNames": {"enum": list(LIMITED)},
    "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
}


def _level_schema(description: str) -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "kind": {
                "type": "string",
                "pattern": f"^{AREA_KIND.pattern}$",
                "examples": ["quartier"],
            },
            "code": {"type": "string", "description": "The property that holds an area's code."},
            "name": {"type": "string", "description": "The property that holds its name."},
            "parent": {
                "type": "string",
                "description": "Second level: the property naming "
                "the first-level code; none: the first-level area that holds it.",
            },
            "geojson": {
                "type": "object",
                "description": "A FeatureCollection of Polygons and "
                "MultiPolygons in lon/lat (WGS 84).",
            },
        },
        "required": ["code", "name", "geojson"],
    }


SCHEMA: Schema = {
    "type": "object",
    "description": "A city document (as `notifier city create` reads, with the GeoJSON "
    "inline). Languages, categories: among those the service has templates and channels "
    "for.",
    "properties": {
        "id": {"type": "string", "description": "If given, the city of the path."},
        "name": {"type": "string", "maxLength": MAX_NAME},
        "timezone": {"type": "string", "examples": ["Europe/Paris"]},
        "default_language": {"enum": list(LANGUAGES)},
        "languages": {"type": "array", "items": {"enum": list(LANGUAGES)}, "minItems": 1},
        "categories": {"type": "array", "items": {"enum": list(CATEGORIES)}, "minItems": 1},
        "departments": {
            "type": "array",
            "items": {
                "oneOf": [
                    {"type": "string", "pattern": f"^{DEPARTMENT.pattern}$"},
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "pattern": f"^{DEPARTMENT.pattern}$"},
                            "name": {
                                "oneOf": [
                                    {"type": "string", "maxLength": MAX_NAME},
                                    {
                                        "type": "object",
                                        "propertyNames": {"enum": list(LANGUAGES)},
                                        "additionalProperties": {
                                            "type": "string",
                                            "maxLength": MAX_NAME,
                                        },
                                    },
                                ]
                            },
                        },
                        "required": ["id", "name"],
                    },
                ]
            },
            "description": "The departments that may publish (none: any a key is made for), "
            "each an id or `{id, name}`: the name messages give (a text, or one per language; "
            "none: the id).",
        },
        "email": {"type": "object", "properties": {"from": _TEXT, "reply_to": _TEXT}},
        "country": {
            "type": "string",
            "pattern": COUNTRY,
            "description": "The city's country (ISO 3166 alpha-2; default FR): how a phone "
            "number typed without `+` is read.",
        },
        "sms": {
            "type": "object",
            "properties": {
                "from": _TEXT,
                "countries": {
                    "type": "array",
                    "items": {"type": "string", "pattern": COUNTRY},
                    "maxItems": MAX_COUNTRIES,
                    "description": "The countries whose mobile numbers may be texted "
                    "(default: `country` only); another country's number is a 422 "
                    "naming `phone`.",
                },
            },
        },
        "branding": {
            "type": "object",
            "properties": {
                "colour": {"type": "string", "pattern": f"^{COLOUR.pattern}$"},
                "logo_url": {"type": "string", "pattern": "^https://"},
            },
        },
        "limits": {
            "type": "object",
            "properties": {"rates": _CHANNEL_NUMBERS, "monthly_quotas": _CHANNEL_NUMBERS},
        },
        "areas": _level_schema("The first level (e.g. arrondissements)."),
        "subareas": _level_schema("An optional second level (e.g. quartiers)."),
        "addresses": {
            "type": "object",
            "description": "The city's addresses for the portal's address search: a CSV in "
            "France's BAN format (`adresses-69.csv`, `;`-separated; the columns numero, rep, "
            "nom_voie, code_postal, nom_commune, lon, lat are read), beside the document. "
            "Read by `notifier city create` (or `notifier gazetteer load`); ignored here.",
            "properties": {"csv": {"type": "string"}},
            "required": ["csv"],
        },
    },
    "required": ["name", "areas"],
}
