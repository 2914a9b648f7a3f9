"""Find your street: ``GET /v1/cities/{city}/addresses?q=12 rue Monge`` answers a few of the
city's addresses matching what was typed (accents and case do not matter; a street number,
``bis``/``ter``, a postcode or "13e" narrow it), each with its point and the areas holding it,
so a page selects the quartier or draws a radius around it without asking for coordinates.
The addresses are the city's gazetteer (``subscriptions.gazetteer``), loaded by
``notifier gazetteer load``; a city without one answers ``"available": false``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from notifier.api.http import city_of
from notifier.api.keys import DEPS, GAZETTEERS
from subscriptions.errors import InvalidInput
from subscriptions.gazetteer import MAX_QUERY, MAX_RESULTS, areas_at

DEFAULT_RESULTS = 5
NUMBER = {"type": "number"}
STRING = {"type": "string"}
PARAMETERS = (
    {
        "name": "q",
        "in": "query",
        "required": True,
        "description": "What was typed: a number, a street, a postcode or an arrondissement "
        "(`12 rue Monge`, `av d'italie 13e`).",
        "schema": {"type": "string", "minLength": 2, "maxLength": MAX_QUERY},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "default": 5},
    },
)
SCHEMA: dict[str, Any] = {  # the answer, for the OpenAPI document
    "type": "object",
    "required": ["city", "available", "addresses"],
    "properties": {
        "city": STRING,
        "available": {"type": "boolean", "description": "Whether the city has a gazetteer."},
        "addresses": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["label", "street", "number", "postcode", "match", "point", "areas"],
                "properties": {
                    "label": {"type": "string", "examples": ["12 Rue Monge, 75005 Paris"]},
                    "street": STRING,
                    "number": {"type": ["string", "null"], "examples": ["12", "12 bis"]},
                    "postcode": STRING,
                    "match": {
                        "enum": ["address", "nearest", "street"],
                        "description": "The number asked for, the street's nearest number to "
                        "it, or the street (no number asked): its middle.",
                    },
                    "point": {
                        "type": "object",
                        "required": ["lon", "lat"],
                        "properties": {"lon": NUMBER, "lat": NUMBER},
                    },
                    "areas": {
                        "type": "array",
                        "description": "The areas holding the point, the finest first.",
                        "items": {
                            "type": "object",
                            "required": ["code", "kind", "name", "parent"],
                            "properties": {
                                "code": STRING,
                                "kind": STRING,
                                "name": STRING,
                                "parent": {"type": ["string", "null"]},
                            },
                        },
                    },
                },
            },
        },
    },
}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/cities/{city}/addresses", search)


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_RESULTS
    if not value.isdigit() or not 1 <= int(value) <= MAX_RESULTS:
        raise InvalidInput("limit", f"must be a whole number between 1 and {MAX_RESULTS}")
    return int(value)


async def search(request: web.Request) -> web.Response:
    city = city_of(request)
    q = request.query.get("q", "").strip()
    if len(q) < 2 or len(q) > MAX_QUERY:
        raise InvalidInput("q", f"type 2 to {MAX_QUERY} characters of an address")
    limit = _limit(request.query.get("limit"))
    gazetteer = await request.app[GAZETTEERS].get(city)
    found: list[dict[str, Any]] = []
    if gazetteer is not None:
        catalogue = request.app[DEPS].catalogues[city]
        for hit in gazetteer.search(q, limit * 2):  # those outside every area are left out
            areas = areas_at(catalogue, hit["point"]["lon"], hit["point"]["lat"])
            if areas:
                found.append({**hit, "areas": areas})
    return web.json_response(
        {"city": city, "available": gazetteer is not None, "addresses": found[:limit]},
        headers={"Cache-Control": "public, max-age=300"},
    )
