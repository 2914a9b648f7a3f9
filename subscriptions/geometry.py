"""Geometry of subscriptions and event targets, in metres.

Citizens and departments speak GeoJSON longitude/latitude (WGS 84). Matching works in a local
azimuthal equidistant projection centred on the city (pyproj), where a radius is a buffer in
metres and areas compare without distortion at city scale. Shapely does the geometry.
"""

from __future__ import annotations

import math
from typing import Any

import pyproj
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from subscriptions.errors import InvalidInput
from subscriptions.rules import Schema, ref

MIN_RADIUS_M, MAX_RADIUS_M = 50, 5000
MAX_POLYGON_KM2 = 50.0
MAX_POLYGON_VERTICES = 500
LON, LAT = (-180, 180), (-90, 90)  # WGS 84, degrees


class Projection:
    """WGS 84 lon/lat <-> metres around a city's centre."""

    def __init__(self, lon: float, lat: float) -> None:
        local = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"
        self._fwd = pyproj.Transformer.from_crs("EPSG:4326", local, always_xy=True).transform
        self._inv = pyproj.Transformer.from_crs(local, "EPSG:4326", always_xy=True).transform

    def to_metric(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, self._fwd, interleaved=False)

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, self._inv, interleaved=False)


def _number(value: object, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(field, "must be a number", "not_number")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low:g} and {high:g}", "out_of_range")
    return float(value)


def parse_lonlat(value: object, field: str) -> tuple[float, float]:
    """``{"lon": 2.35, "lat": 48.85}`` -> (lon, lat)."""
    if not isinstance(value, dict):
        raise InvalidInput(field, 'must be an object {"lon": ..., "lat": ...}', "not_lonlat")
    return (
        _number(value.get("lon"), f"{field}.lon", *LON),
        _number(value.get("lat"), f"{field}.lat", *LAT),
    )


def parse_radius(value: object, field: str) -> float:
    return _number(value, field, MIN_RADIUS_M, MAX_RADIUS_M)


def circle(projection: Projection, lon: float, lat: float, radius_m: float) -> BaseGeometry:
    """A disc of ``radius_m`` metres, in metric coordinates."""
    return projection.to_metric(Point(lon, lat)).buffer(radius_m, quad_segs=16)


def parse_polygon(
    value: object,
    field: str,
    projection: Projection,
    max_km2: float = MAX_POLYGON_KM2,
    max_vertices: int = MAX_POLYGON_VERTICES,
) -> tuple[dict[str, Any], BaseGeometry]:
    """A GeoJSON Polygon drawn by a citizen or a department: (the GeoJSON, its metric shape).

    Refused: not a Polygon, rings not closed, fewer than 4 positions, self-intersecting,
    too many vertices, larger than ``max_km2``."""
    if not isinstance(value, dict) or value.get("type") != "Polygon":
        raise InvalidInput(
            field,
            'must be a GeoJSON Polygon {"type": "Polygon", "coordinates": [...]}',
            "bad_polygon",
        )
    rings = value.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise InvalidInput(f"{field}.coordinates", "must be a list of linear rings", "bad_polygon")
    for i, ring in enumerate(rings):
        where = f"{field}.coordinates[{i}]"
        if not isinstance(ring, list) or len(ring) < 4:
            raise InvalidInput(
                where, "a ring needs at least 4 positions (first = last)", "bad_polygon"
            )
        if len(ring) > max_vertices:
            raise InvalidInput(where, f"more than {max_vertices} positions", "bad_polygon")
        for j, pos in enumerate(ring):
            if not (isinstance(pos, list) and len(pos) == 2):
                raise InvalidInput(
                    f"{where}[{j}]", "a position is [longitude, latitude]", "bad_polygon"
                )
            _number(pos[0], f"{where}[{j}][0]", *LON)
            _number(pos[1], f"{where}[{j}][1]", *LAT)
        if ring[0] != ring[-1]:
            raise InvalidInput(
                where, "the ring is not closed (first and last positions differ)", "bad_polygon"
            )
    lonlat = shape(value)
    if not lonlat.is_valid:
        raise InvalidInput(field, f"not a valid polygon: {explain_validity(lonlat)}", "bad_polygon")
    metric = projection.to_metric(lonlat)
    if metric.area > max_km2 * 1e6:
        raise InvalidInput(field, f"larger than {max_km2:g} km²", "too_large")
    if metric.area == 0:
        raise InvalidInput(field, "has no area", "no_area")
    return value, metric


def number(low: float, high: float, **more: Any) -> Schema:
    return {"type": "number", "minimum": low, "maximum": high, **more}


def polygon_schema(max_vertices: int, max_km2: float, who: str) -> Schema:
    """What ``parse_polygon`` takes, as far as a schema can say it."""
    ring = {"type": "array", "items": ref("Position"), "minItems": 4, "maxItems": max_vertices}
    return {
        "type": "object",
        "properties": {
            "type": {"const": "Polygon"},
            "coordinates": {"type": "array", "items": ring, "minItems": 1},
        },
        "required": ["type", "coordinates"],
        "description": f"A GeoJSON Polygon drawn by {who} (WGS 84 longitude, latitude): closed "
        f"rings (first position = last), not self-intersecting, of at most {max_km2:g} km², "
        "reaching the city.",
    }


LONLAT = {"lon": number(*LON), "lat": number(*LAT)}  # the properties of ``parse_lonlat``'s object
SCHEMAS: dict[str, Schema] = {
    "LonLat": {"type": "object", "properties": LONLAT, "required": ["lon", "lat"]},
    "Position": {
        "type": "array",
        "prefixItems": [number(*LON), number(*LAT)],
        "minItems": 2,
        "maxItems": 2,
        "description": "[longitude, latitude]",
    },
    "SubscriptionPolygon": polygon_schema(MAX_POLYGON_VERTICES, MAX_POLYGON_KM2, "a citizen"),
}
