"""Small helpers the route modules share: the city of a path, JSON bodies, JSON errors."""

from __future__ import annotations

import json

from aiohttp import web

from notifier.keys import DEPS
from subscriptions.errors import InvalidInput, NotFound

MAX_BODY = 64 * 1024  # JSON bodies
MAX_DOCUMENT = 1024 * 1024  # CAP documents; also aiohttp's limit for any body


def error(status: int, field: str | None, reason: str) -> web.Response:
    return web.json_response({"error": {"field": field, "reason": reason}}, status=status)


def city_of(request: web.Request) -> str:
    city = request.match_info["city"]
    if city not in request.app[DEPS].catalogues:
        raise NotFound(f"no city {city!r}")
    return city


async def json_body(request: web.Request) -> dict[str, object]:
    if request.content_type != "application/json":
        raise InvalidInput("Content-Type", "must be application/json")
    text = await request.text()
    if len(text) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(text))
    body = json.loads(text)
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    return body
