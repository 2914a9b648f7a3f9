"""Where an event applies: area codes of the catalogue, polygons and circles (CAP's shapes)."""

from __future__ import annotations

import dataclasses
from typing import Any

from shapely import unary_union
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from subscriptions.areas import AreaCatalogue
from subscriptions.errors import InvalidInput
from subscriptions.geometry import LONLAT, circle, parse_lonlat, parse_polygon, polygon_schema
from subscriptions.matcher import Target
from subscriptions.rules import Schema, ref

MAX_AREAS, MAX_SHAPES = 200, 50
MAX_EVENT_RADIUS_M = 100_000
MAX_EVENT_POLYGON_KM2 = 100_000.0
MAX_EVENT_POLYGON_VERTICES = 5000
# the lists a target is made of: how many each may hold, what each holds
LISTS: dict[str, tuple[int, Schema]] = {
    "areas": (MAX_AREAS, {"type": "string"}),
    "polygons": (MAX_SHAPES, ref("TargetPolygon")),
    "circles": (MAX_SHAPES, ref("Circle")),
}
RADIUS: Schema = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_EVENT_RADIUS_M}


@dataclasses.dataclass(frozen=True)
class EventTarget:
    areas: tuple[str, ...] = ()
    polygons: tuple[dict[str, Any], ...] = ()  # GeoJSON Polygons, lon/lat
    circles: tuple[tuple[float, float, float], ...] = ()  # lon, lat, radius in metres

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"areas": list(self.areas)}
        if self.polygons:
            out["polygons"] = list(self.polygons)
        if self.circles:
            out["circles"] = [{"lon": x, "lat": y, "radius_m": r} for x, y, r in self.circles]
        return out

    def resolve(self, catalogue: AreaCatalogue) -> Target:
        shapes = [catalogue.projection.to_metric(_polygon(p)) for p in self.polygons]
        shapes += [circle(catalogue.projection, x, y, r) for x, y, r in self.circles]
        return Target(self.areas, unary_union(shapes) if shapes else None)

    def area_names(self, catalogue: AreaCatalogue) -> str:
        """What a citizen reads as "where": the areas named, else those the shapes cross."""
        codes = self.areas
        if not codes:
            drawn = self.resolve(catalogue).shape
            assert drawn is not None
            crossed = catalogue.intersecting(drawn)
            codes = tuple(sorted(c for c in crossed if catalogue.get(c).parent is None)) or tuple(
                sorted(crossed)
            )
        return ", ".join(catalogue.get(c).name for c in codes)


def _polygon(geojson: dict[str, Any]) -> BaseGeometry:
    return shape(geojson)


def parse_target(value: object, catalogue: AreaCatalogue, field: str = "target") -> EventTarget:
    if not isinstance(value, dict):
        raise InvalidInput(field, 'required, an object such as {"areas": ["75105"]}')
    areas, polygons, circles = (value.get(name, []) for name in LISTS)
    for (name, (limit, _)), items in zip(LISTS.items(), (areas, polygons, circles), strict=True):
        if not isinstance(items, list) or len(items) > limit:
            raise InvalidInput(f"{field}.{name}", f"must be a list of at most {limit}")
    if not (areas or polygons or circles):
        reason = "give at least one area code, polygon or circle"
        raise InvalidInput(f"{field}.areas", reason, "required")
    for i, code in enumerate(areas):
        if not isinstance(code, str) or code not in catalogue:
            reason = f"unknown area code {code!r}"
            raise InvalidInput(f"{field}.areas[{i}]", reason, "unknown_area")
    parsed_polygons = []
    for i, p in enumerate(polygons):
        where = f"{field}.polygons[{i}]"
        geojson, metric = parse_polygon(
            p, where, catalogue.projection, MAX_EVENT_POLYGON_KM2, MAX_EVENT_POLYGON_VERTICES
        )
        if not metric.intersects(catalogue.boundary):
            raise InvalidInput(where, "does not reach the city", "outside_city")
        parsed_polygons.append(geojson)
    parsed_circles = []
    for i, c in enumerate(circles):
        where = f"{field}.circles[{i}]"
        lon, lat = parse_lonlat(c, where)
        radius = c.get("radius_m")
        if (
            isinstance(radius, bool)
            or not isinstance(radius, int | float)
            or not (0 < radius <= MAX_EVENT_RADIUS_M)
        ):
            raise InvalidInput(
                f"{where}.radius_m", f"a number of metres, above 0 and at most {MAX_EVENT_RADIUS_M}"
            )
        if not circle(catalogue.projection, lon, lat, radius).intersects(catalogue.boundary):
            raise InvalidInput(where, "does not reach the city", "outside_city")
        parsed_circles.append((lon, lat, float(radius)))
    return EventTarget(tuple(dict.fromkeys(areas)), tuple(parsed_polygons), tuple(parsed_circles))


def _list(name: str) -> Schema:
    limit, items = LISTS[name]
    out: Schema = {"type": "array", "items": items, "maxItems": limit}
    return {**out, "description": "codes of the city's area catalogue"} if name == "areas" else out


SCHEMAS: dict[str, Schema] = {
    "TargetPolygon": polygon_schema(
        MAX_EVENT_POLYGON_VERTICES, MAX_EVENT_POLYGON_KM2, "a department"
    ),
    "Circle": {
        "type": "object",
        "properties": {**LONLAT, "radius_m": RADIUS},
        "required": ["lon", "lat", "radius_m"],
        "description": "A disc reaching the city.",
    },
    "Target": {
        "type": "object",
        "properties": {name: _list(name) for name in LISTS},
        "description": "Where the announcement applies: at least one area, polygon or circle.",
        "anyOf": [{"properties": {n: {"minItems": 1}}, "required": [n]} for n in LISTS],
    },
}
