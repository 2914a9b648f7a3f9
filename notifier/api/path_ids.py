"""The shape of every id a route takes from its path, checked before a handler runs.

An id from a path becomes part of a Redis key name (``n:{city}:event:{eid}``); one of the wrong
shape could name another key (``evt_…:notifs`` is a sorted set, a WRONGTYPE error, a 500) or
grow keys without bound. Each shape is the one its maker gives: ``subscriptions.store.new_id``
(``cit_``, ``cp_``, ``sub_``, ``drf_`` + 16 hex), ``notifier.actions.publishing.new_event_id``
(``evt_`` + 20 hex), ``subscriptions.cities.CITY_ID``. A malformed id names nothing: 404, as an
unknown one. Service request ids are the department's own (``check_request_id``: a 422 naming
the field), and link tokens are checked by their signature.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from subscriptions.cities import CITY_ID
from subscriptions.errors import NotFound

SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "city": (CITY_ID, "city"),
    "cid": (re.compile(r"cit_[0-9a-f]{16}"), "citizen"),
    "pid": (re.compile(r"cp_[0-9a-f]{16}"), "contact point"),
    "sid": (re.compile(r"sub_[0-9a-f]{16}"), "subscription"),
    "eid": (re.compile(r"evt_[0-9a-f]{20}"), "announcement"),
    "did": (re.compile(r"drf_[0-9a-f]{16}"), "draft"),
}


def check(name: str, value: str) -> str:
    """``value`` if it has the shape of a ``name`` id (a path parameter), else ``NotFound``."""
    shape, what = SHAPES[name]
    if not shape.fullmatch(value):
        raise NotFound(f"no {what} {value[:64]!r}")
    return value


@web.middleware
async def check_path_ids(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    for name, value in request.match_info.items():
        if name in SHAPES:
            check(name, value)
    return await handler(request)


def pattern(name: str) -> str | None:
    """The JSON Schema ``pattern`` of a path parameter (the OpenAPI document shows it)."""
    return f"^{SHAPES[name][0].pattern}$" if name in SHAPES else None
