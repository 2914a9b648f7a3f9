"""A subscription: what a citizen wants to hear about, where, how.

Kinds: ``area`` (a code of the city's catalogue), ``point`` (a point and a radius in metres),
``polygon`` (a GeoJSON Polygon the citizen draws), each with optional category filters, a
minimum severity and the channels to use; and ``request``: following a service request by its
id (the requester is subscribed when the request is filed; anyone may follow one, even before
it exists). A request subscription has no categories nor severity; with no channels given it
uses every channel the citizen has confirmed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from subscriptions.areas import AreaCatalogue
from subscriptions.cadence import Cadence, cadence_from_json, parse_cadence
from subscriptions.categories import check_category, check_severity
from subscriptions.contacts import CHANNELS
from subscriptions.errors import InvalidInput, Problems
from subscriptions.geometry import (
    MAX_RADIUS_M,
    MIN_RADIUS_M,
    circle,
    number,
    parse_lonlat,
    parse_polygon,
    parse_radius,
)
from subscriptions.rules import Schema, ref

KINDS = ("area", "point", "polygon", "request", "department")  # a body gives exactly one
MIN_SEVERITY = "unknown"  # a subscription's threshold when none is given: every severity
NOT_FOR_REQUESTS = ("categories", "min_severity", "radius_m")  # filters a request has not
DEPARTMENT = re.compile(r"[a-z][a-z0-9-]{1,39}")  # a department, as its keys name it (whole)
# an Open311 service_request_id: Chicago's "14-00684314", Bloomington's 24 hex digits, ours
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_request_id(value: object, field: str = "request") -> str:
    if not isinstance(value, str) or not REQUEST_ID.fullmatch(value):
        raise InvalidInput(
            field, "a service request id: 1-64 letters, digits, '.', '_' or '-' (e.g. 14-00684314)"
        )
    return value


@dataclasses.dataclass(frozen=True)
class Subscription:
    id: str
    citizen: str
    kind: str
    categories: tuple[str, ...]
    min_severity: str
    channels: tuple[str, ...]
    area: str = ""
    geometry: dict[str, Any] | None = None  # GeoJSON Point or Polygon, lon/lat
    radius_m: float = 0.0
    request: str = ""  # the service_request_id a request subscription follows
    department: str = ""  # every announcement of this department, wherever it applies
    cadence: Cadence = Cadence()  # at once, or in a daily or weekly digest

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> Subscription:
        return cls(
            id=h["id"],
            citizen=h["citizen"],
            kind=h["kind"],
            categories=tuple(json.loads(h["categories"])),
            min_severity=h["min_severity"],
            channels=tuple(json.loads(h["channels"])),
            area=h.get("area", ""),
            geometry=json.loads(h["geometry"]) if h.get("geometry") else None,
            radius_m=float(h.get("radius_m") or 0),
            request=h.get("request", ""),
            department=h.get("department", ""),
            cadence=cadence_from_json(h.get("cadence", "")),
        )

    def to_hash(self) -> dict[str, str]:
        return {
            "id": self.id,
            "citizen": self.citizen,
            "kind": self.kind,
            "categories": json.dumps(list(self.categories)),
            "min_severity": self.min_severity,
            "channels": json.dumps(list(self.channels)),
            "area": self.area,
            "geometry": json.dumps(self.geometry) if self.geometry else "",
            "radius_m": str(self.radius_m),
            "request": self.request,
            "department": self.department,
            "cadence": json.dumps(self.cadence.to_json()),
        }

    def metric(self, catalogue: AreaCatalogue) -> BaseGeometry:
        """The subscribed surface in metres (the circle for a point and radius)."""
        if self.kind in ("request", "department"):
            raise ValueError(f"a {self.kind} subscription has no surface")
        if self.kind == "area":
            return catalogue.get(self.area).metric
        assert self.geometry is not None
        if self.kind == "point":
            lon, lat = self.geometry["coordinates"]
            return circle(catalogue.projection, lon, lat, self.radius_m)
        return catalogue.projection.to_metric(shape(self.geometry))

    def public(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "categories": list(self.categories),
            "min_severity": self.min_severity,
            "channels": list(self.channels),
            "cadence": self.cadence.to_json(),
        }
        if self.kind == "area":
            d["area"] = self.area
        elif self.kind == "request":
            d["request"] = self.request
        elif self.kind == "department":
            d["department"] = self.department
        elif self.kind == "point":
            lon, lat = self.geometry["coordinates"]  # type: ignore[index]
            d.update(point={"lon": lon, "lat": lat}, radius_m=self.radius_m)
        else:
            d["polygon"] = self.geometry
        return d


def parse_subscription(
    body: dict[str, Any], *, sid: str, citizen: str, catalogue: AreaCatalogue
) -> tuple[Subscription, list[tuple[str, str]]]:
    """Validate a citizen's subscription body; the subscription and its index entries
    (``("area", code)`` for an area, ``("geo", quartier)`` for each quartier a shape crosses,
    ``("request", id)`` for a followed service request). Every fault of the body is raised at
    once (``InvalidInput.errors``)."""
    given = [k for k in KINDS if body.get(k) is not None]
    if len(given) != 1:
        raise InvalidInput(
            "area",
            "give exactly one of area, point (with radius_m), polygon, request or department",
            "choose_one",
        )
    if given[0] == "request":
        return parse_follow(body, sid=sid, citizen=citizen)
    problems = Problems()
    categories = body.get("categories", [])
    cats: tuple[str, ...] = ()
    if not isinstance(categories, list):
        problems.add(InvalidInput("categories", "must be a list", "not_category"))
    else:
        each = [
            problems.check(check_category, c, f"categories[{i}]") for i, c in enumerate(categories)
        ]
        cats = tuple(sorted({c for c in each if c is not None}))
    channels = body.get("channels", ["email"])
    if not isinstance(channels, list) or not channels or any(c not in CHANNELS for c in channels):
        code = "required" if channels == [] else "not_offered"
        problems.add(InvalidInput("channels", f"a non-empty list of {', '.join(CHANNELS)}", code))
        channels = []
    severity = problems.check(
        check_severity, body.get("min_severity", MIN_SEVERITY), "min_severity"
    )
    cadence = problems.check(parse_cadence, body.get("cadence"))
    kind = given[0]
    sub: Subscription | None = None
    index: list[tuple[str, str]] = []
    metric = None
    if kind == "department":
        name = body["department"]
        if not isinstance(name, str) or not DEPARTMENT.fullmatch(name):
            problems.add(InvalidInput("department", "a department name such as voirie or eau"))
        index = [("dept", str(name))]
    elif kind == "area":
        code = body["area"]
        if not isinstance(code, str) or code not in catalogue:
            problems.add(InvalidInput("area", f"unknown area code {code!r}", "unknown_area"))
        index = [("area", str(code))]
    elif kind == "point":
        lonlat = problems.check(parse_lonlat, body["point"], "point")
        radius = problems.check(parse_radius, body.get("radius_m"), "radius_m")
        if lonlat is not None and radius is not None:
            metric = circle(catalogue.projection, *lonlat, radius)
    else:
        shaped = problems.check(parse_polygon, body["polygon"], "polygon", catalogue.projection)
        if shaped is not None:
            metric = shaped[1]
    if metric is not None:
        leaves = catalogue.crossed_leaves(metric)
        if not leaves:
            problems.add(InvalidInput(kind, "is outside the city", "outside_city"))
        index = [("geo", q) for q in sorted(leaves)]
    problems.raise_any()
    assert severity is not None and cadence is not None
    common: dict[str, Any] = {
        "id": sid,
        "citizen": citizen,
        "categories": cats,
        "min_severity": severity,
        "channels": tuple(sorted(set(channels))),
        "cadence": cadence,
    }
    if kind == "department":
        sub = Subscription(kind="department", department=body["department"], **common)
    elif kind == "area":
        sub = Subscription(kind="area", area=body["area"], **common)
    elif kind == "point":
        lon, lat = parse_lonlat(body["point"], "point")
        geometry = {"type": "Point", "coordinates": [lon, lat]}
        radius_m = parse_radius(body.get("radius_m"), "radius_m")
        sub = Subscription(kind="point", geometry=geometry, radius_m=radius_m, **common)
    else:
        sub = Subscription(kind="polygon", geometry=body["polygon"], **common)
    return sub, index


def parse_follow(
    body: dict[str, Any], *, sid: str, citizen: str
) -> tuple[Subscription, list[tuple[str, str]]]:
    """``{"request": id, "channels"?: [...]}``: follow a service request (it need not exist)."""
    rid = check_request_id(body.get("request"))
    for name in NOT_FOR_REQUESTS:
        if body.get(name) is not None:
            raise InvalidInput(name, "does not apply to a request subscription")
    channels = body.get("channels", [])  # none: every channel the citizen has confirmed
    if not isinstance(channels, list) or any(c not in CHANNELS for c in channels):
        raise InvalidInput("channels", f"a list of {', '.join(CHANNELS)}")
    sub = Subscription(
        id=sid,
        citizen=citizen,
        kind="request",
        categories=(),
        min_severity=MIN_SEVERITY,
        channels=tuple(sorted(set(channels))),
        request=rid,
    )
    return sub, [("request", rid)]


def _channels(**more: object) -> Schema:
    return {"type": "array", "items": ref("Channel"), **more}


# what ``parse_subscription`` takes, as far as a schema can say it (an area of the catalogue, a
# shape reaching the city, a channel offered here: checked with the city)
_FILTERS: dict[str, Schema] = {
    "categories": {
        "type": "array",
        "items": ref("Category"),
        "description": "none: every category",
    },
    "min_severity": {**ref("SeverityInput"), "default": MIN_SEVERITY},
    "channels": _channels(minItems=1, description="none: the citizen's default_channels"),
    "cadence": ref("Cadence"),
}
_OWN: dict[str, dict[str, Schema]] = {  # each of the KINDS: its own keys, and its filters
    "area": {"area": {"type": "string", "description": "an area code"}, **_FILTERS},
    "point": {
        "point": ref("LonLat"),
        "radius_m": number(MIN_RADIUS_M, MAX_RADIUS_M),
        **_FILTERS,
    },
    "polygon": {"polygon": ref("SubscriptionPolygon"), **_FILTERS},
    "department": {
        "department": {"type": "string", "pattern": f"^{DEPARTMENT.pattern}$"},
        **_FILTERS,
    },
    "request": {
        "request": ref("RequestId"),
        "channels": _channels(default=[], description="none: every confirmed channel"),
        **{k: {"type": "null"} for k in NOT_FOR_REQUESTS},
    },
}
assert set(_OWN) == set(KINDS), "a kind of subscription without its schema"


def _one_kind(kind: str) -> Schema:
    """One kind of subscription: its own key given, the other kinds' keys absent or null."""
    others = {k: {"type": "null"} for k in KINDS if k != kind}
    return {
        "type": "object",
        "properties": {**others, **_OWN[kind]},
        "title": kind,
        "required": [kind, "radius_m"] if kind == "point" else [kind],
    }


SCHEMAS: dict[str, Schema] = {
    "RequestId": {"type": "string", "pattern": REQUEST_ID.pattern, "examples": ["14-00684314"]},
    "SubscriptionInput": {
        "description": "Exactly one of area, point (with radius_m), polygon, request or "
        "department.",
        "oneOf": [_one_kind(kind) for kind in _OWN],
    },
}
