"""Small helpers the route modules share: the city of a path, JSON bodies, JSON errors."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from aiohttp import web

from notifier.api.keys import DEPS
from subscriptions.errors import InvalidInput, NotFound, code_of

MAX_BODY = 64 * 1024  # JSON bodies
MAX_DOCUMENT = 1024 * 1024  # CAP documents; also aiohttp's limit for any body
MAX_DIGITS = 4300  # sys.int_info.default_max_str_digits
MAX_DEPTH = 32  # arrays and objects in a JSON body (a GeoJSON target needs 6)


def answer(
    status: int, field: str | None, reason: str, code: str = "", more: Sequence[InvalidInput] = ()
) -> dict[str, object]:
    """The body of an error answer: the fault's ``field``, ``reason`` and ``code`` (the status's
    own when none is given), and ``errors``: every fault of the request (this one alone unless
    ``more`` lists them all)."""
    one = {"field": field, "reason": reason, "code": code or code_of(status)}
    listed: list[dict[str, str | None]] = [dict(e.public()) for e in more] or [one]
    return {"error": {**one, "errors": listed}}


def error(
    status: int, field: str | None, reason: str, code: str = "", more: Sequence[InvalidInput] = ()
) -> web.Response:
    return web.json_response(answer(status, field, reason, code, more), status=status)


def city_of(request: web.Request) -> str:
    city = request.match_info["city"]
    if city not in request.app[DEPS].catalogues:
        raise NotFound(f"no city {city!r}", "no_city")
    return city


def bad_request(field: str, reason: str) -> web.HTTPBadRequest:
    """A 400 with our JSON error (the errors middleware lets JSON HTTP errors through)."""
    return web.HTTPBadRequest(
        text=json.dumps(answer(400, field, reason)),
        content_type="application/json",
    )


def _depth(value: object) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            stack.extend((child, d + 1) for child in (v.values() if isinstance(v, dict) else v))
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"a number out of range ({text[:20]})")
    return value


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise ValueError(f"a number of {digits} digits (at most {MAX_DIGITS})")
    return int(text)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes) -> object:
    """``json.loads`` as JSON says: no NaN or Infinity, no number that overflows a float, no
    integer of more than ``MAX_DIGITS`` digits (Python's int-string conversion limit, which
    would raise deep in the parser): each a ``ValueError`` the callers turn into a 400 naming
    the body."""
    return json.loads(text, parse_int=_int, parse_float=_finite, parse_constant=_no_constant)


async def json_body(request: web.Request, limit: int = MAX_BODY) -> dict[str, object]:
    if request.content_type != "application/json":
        raise InvalidInput("Content-Type", "must be application/json", "bad_request")
    raw = await request.read()
    if len(raw) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(raw))
    try:
        text = raw.decode(request.charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        raise bad_request("body", f"not text in {request.charset or 'utf-8'}") from None
    try:
        body = parse_json(text)  # not JSON: the errors middleware answers 400
        too_deep = _depth(body) > MAX_DEPTH
    except RecursionError:  # deeper than the parser itself goes
        too_deep = True
    except json.JSONDecodeError:
        raise
    except ValueError as e:  # a number Python refuses to convert, NaN, Infinity
        raise bad_request("body", f"not valid JSON: {e}") from None
    if too_deep:
        raise bad_request("body", f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object", "bad_request")
    return body
