"""The city's areas drawn as SVG paths, for the map of the citizen portal and the department
console (``GET /v1/cities/{city}/map``): no tile server, nothing fetched from elsewhere.

The projection is equirectangular around the city's middle latitude (at city scale it is as
good as any), so a page turns a click back into longitude and latitude with the ``transform``
of the answer: ``x = (lon - lon0) * x_per_lon``, ``y = (lat0 - lat) * y_per_lat``. Outlines are
simplified to a few metres, which a map 1,000 units wide cannot show anyway.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import shapely
from aiohttp import web
from shapely.geometry.base import BaseGeometry

from notifier.api.http import city_of
from notifier.api.keys import DEPS
from subscriptions.areas import AreaCatalogue

WIDTH = 1000.0  # SVG units
TOLERANCE_DEG = 0.0001  # about 8-11 m in Paris
METRES_PER_DEGREE_LAT = 111_320.0
NUMBER = {"type": "number"}
SCHEMA: dict[str, Any] = {  # the answer, for the OpenAPI document
    "type": "object",
    "required": ["city", "width", "height", "transform", "areas"],
    "properties": {
        "city": {"type": "string"},
        "width": NUMBER,
        "height": NUMBER,
        "transform": {
            "type": "object",
            "required": ["lon0", "lat0", "x_per_lon", "y_per_lat", "metres_per_unit"],
            "properties": {
                k: NUMBER for k in ("lon0", "lat0", "x_per_lon", "y_per_lat", "metres_per_unit")
            },
        },
        "areas": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "kind", "name", "parent", "d", "label"],
                "properties": {
                    "code": {"type": "string"},
                    "kind": {"type": "string", "examples": ["arrondissement", "quartier"]},
                    "name": {"type": "string"},
                    "parent": {"type": ["string", "null"]},
                    "d": {"type": "string", "description": "SVG path data"},
                    "label": {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2},
                },
            },
        },
    },
}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/cities/{city}/map", area_map)


async def area_map(request: web.Request) -> web.Response:
    """Arrondissements, then quartiers, each with its outline as SVG path data."""
    city = city_of(request)
    return web.json_response(
        drawing(city, request.app[DEPS].catalogues[city]),
        headers={"Cache-Control": "public, max-age=3600"},
    )


@functools.lru_cache(maxsize=8)
def drawing(city: str, catalogue: AreaCatalogue) -> dict[str, Any]:
    """Computed once per catalogue (a few milliseconds; the catalogue never changes)."""
    outline = catalogue.projection.to_lonlat(catalogue.boundary)
    west, south, east, north = outline.bounds
    x_per_lon = WIDTH / (east - west)
    y_per_lat = x_per_lon / math.cos(math.radians((north + south) / 2))
    transform = {
        "lon0": west,
        "lat0": north,
        "x_per_lon": x_per_lon,
        "y_per_lat": y_per_lat,
        "metres_per_unit": METRES_PER_DEGREE_LAT / y_per_lat,
    }

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return round((lon - west) * x_per_lon, 1), round((north - lat) * y_per_lat, 1)

    areas = []
    for a in catalogue.summary():
        geometry = catalogue.get(a["code"]).geometry
        label = geometry.representative_point()
        areas.append(
            {
                **a,
                "d": path_data(geometry.simplify(TOLERANCE_DEG, preserve_topology=True), xy),
                "label": list(xy(label.x, label.y)),
            }
        )
    return {
        "city": city,
        "width": WIDTH,
        "height": round((north - south) * y_per_lat, 1),
        "transform": transform,
        "areas": areas,
    }


def path_data(geometry: BaseGeometry, xy: Any) -> str:
    """``M x y L … Z`` for every ring of a Polygon or MultiPolygon."""
    parts = []
    for polygon in shapely.get_parts(geometry):
        for ring in (polygon.exterior, *polygon.interiors):
            points = [xy(lon, lat) for lon, lat in ring.coords[:-1]]
            parts.append("M" + "L".join(f"{x:g} {y:g}" for x, y in points) + "Z")
    return "".join(parts)
