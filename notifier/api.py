"""The HTTP API: ``create_api(settings, deps)`` builds the aiohttp application.

Every error is JSON ``{"error": {"field": …, "reason": …}}`` with a 4xx status; an unexpected
failure is a 500 with no traceback (the traceback goes to the log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from notifier import citizens_api, events_api, links_api, outbox
from notifier.http import MAX_DOCUMENT, city_of, error
from notifier.keys import DEPS, OUTBOX_DIR, SETTINGS
from notifier.settings import Settings
from streams.deps import Deps
from subscriptions.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger("notifier.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except InvalidInput as e:
        return error(422, e.field, e.reason)
    except NotFound as e:
        return error(404, None, str(e))
    except Conflict as e:
        return error(409, e.field, e.reason)
    except json.JSONDecodeError as e:
        return error(400, "body", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}")
    except web.HTTPRequestEntityTooLarge as e:
        return error(413, "body", e.text or "too large")
    except web.HTTPException as e:
        if e.content_type == "application/json" or e.status < 400:
            raise
        return error(e.status, None, e.reason)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error(500, None, "internal error; it has been logged")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def areas(request: web.Request) -> web.Response:
    city = city_of(request)
    return web.json_response({"city": city, "areas": request.app[DEPS].catalogues[city].summary()})


def create_api(settings: Settings, deps: Deps, outbox_dir: Path | None = None) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_DOCUMENT)
    app[SETTINGS] = settings
    app[DEPS] = deps
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/cities/{city}/areas", areas)
    citizens_api.add_routes(app.router)
    links_api.add_routes(app.router)
    events_api.add_routes(app.router)
    if outbox_dir is not None:
        app[OUTBOX_DIR] = outbox_dir
        outbox.add_routes(app.router)
    return app
