"""The cities one deployment serves (tenants): each with its own areas, timezone, languages,
categories, departments, senders, branding and limits.

A city is created from a *city document* (``subscriptions.city_document``: ``parse_city``,
``put_city``): its settings and the GeoJSON of its areas, one or two levels (arrondissement >
quartier).
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
from typing import Any

from redis.asyncio import Redis
from shapely import unary_union
from shapely.geometry import shape

from channels import NAMES
from subscriptions.areas import Area, AreaCatalogue, load_paris
from subscriptions.categories import CATEGORIES
from subscriptions.errors import InvalidInput
from subscriptions.geometry import Projection
from templates import LANGUAGES

CITY_ID = re.compile(r"[a-z][a-z0-9_]{1,39}")
LIMITED = NAMES  # the channels a city may limit (rates, monthly quotas)
REGISTRY = "n:cities"
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_AREAS = 2000


def areas_key(city: str) -> str:
    return f"n:{{{city}}}:city:areas"  # the city's hash tag, as ``store.key``


@dataclasses.dataclass(frozen=True)
class City:
    id: str
    name: str
    timezone: str = "Europe/Paris"
    default_language: str = "fr"
    languages: tuple[str, ...] = LANGUAGES
    categories: tuple[str, ...] = CATEGORIES
    departments: tuple[str, ...] = ()  # none: any department a key is made for
    # department id -> its name as citizens read it, per language (none: the id)
    department_names: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
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

    def department_name(self, department: str, language: str) -> str:
        """The department's name in ``language``, else in the city's default language, else
        in any, else its id."""
        names = self.department_names.get(department, {})
        for lang in (language, self.default_language, *names):
            if names.get(lang):
                return names[lang]
        return department

    @property
    def senders(self) -> dict[str, str]:
        """The city's own sender per channel, where it has one (none: the deployment's)."""
        return {"email": self.mail_from, "sms": self.sms_from}

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(
            rates=dict(self.rates),
            monthly_quotas=dict(self.monthly_quotas),
            department_names={k: dict(v) for k, v in self.department_names.items()},
        )
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
            "department_names": {k: dict(v) for k, v in self.department_names.items()},
            "branding": {"colour": self.colour, "logo_url": self.logo_url},
        }

    @property
    def allowed_sms_countries(self) -> tuple[str, ...]:
        """The countries whose mobile numbers this city texts (codes, magic links, alerts)."""
        return self.sms_countries or (self.country,)

    def check_language(self, value: object, field: str = "language") -> str:
        if value not in self.languages:
            raise InvalidInput(field, f"must be one of {', '.join(self.languages)}", "not_language")
        return str(value)


PARIS = City(
    id="paris",
    name="Paris",
    # the city's directorates as paris.fr names them, for the departments the examples use
    department_names={
        "voirie": {
            "fr": "Direction de la voirie et des déplacements",
            "en": "Roads and Transport Department",
        },
        "eau": {"fr": "Eau de Paris", "en": "Eau de Paris (water supply)"},
        "proprete": {
            "fr": "Direction de la propreté et de l'eau",
            "en": "Cleanliness and Water Department",
        },
        "parcs": {
            "fr": "Direction des espaces verts et de l'environnement",
            "en": "Green Spaces and Environment Department",
        },
    },
)


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
        areas = await self.redis.get(areas_key(city))
        if areas is not None:
            self.catalogues[city] = catalogue_of(json.loads(areas))
        elif city == "paris":
            self.catalogues[city] = load_paris()
        else:
            return  # no areas: not made by ``put_city``, which writes them before the registry
        self.configs[city] = config

    def ids(self) -> list[str]:
        return sorted(self.configs)
