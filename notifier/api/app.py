"""The HTTP API: ``create_api(settings, deps)`` builds the aiohttp application.

Every error is JSON ``{"error": {"field": …, "reason": …, "code": …, "errors": [...]}}`` with a
4xx status (``code`` one of ``subscriptions.errors.CODES``; ``errors`` every fault of the request,
each with its field, reason and code, the first being the one named beside it); the store
(Redis) away is a 503 with ``Retry-After``; an unexpected failure is a 500 with no traceback
(the traceback goes to the log).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from channels.push import application_server_key, load_vapid_private_key
from notifier.api import (
    addresses,
    announcement_list,
    announcements,
    cities,
    citizens,
    city_map,
    contacts,
    drafts,
    links,
    manage,
    service_requests,
    webhooks,
)
from notifier.api.abuse import TooMany
from notifier.api.http import MAX_DOCUMENT, city_of, error
from notifier.api.keys import CHECKS, DEPS, DEV, GAZETTEERS, SETTINGS, DevServices
from notifier.api.openapi import document as openapi
from notifier.api.path_ids import check_path_ids
from notifier.api.security_headers import add_security_headers
from notifier.dev import outbox
from notifier.settings import Settings
from notifier.web import pages
from streams.deps import Services
from streams.state.ledger import STORE_AWAY
from subscriptions.errors import Conflict, InvalidInput, NotFound
from subscriptions.gazetteer import Gazetteers

log = logging.getLogger("notifier.api")

# what the dev routes show (every magic link and code) is for this machine's user only
DEV_ROUTES_OFF = (
    "dev routes (/dev/, /dev/outbox, /dev/sms) not served: the API binds to %s, "
    "not a loopback address"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except InvalidInput as e:
        return error(422, e.field, e.reason, e.code, e.errors)
    except NotFound as e:
        return error(404, None, str(e), e.code)
    except Conflict as e:
        return error(409, e.field, e.reason, e.code)
    except TooMany as e:
        response = error(429, None, str(e))
        response.headers["Retry-After"] = str(e.retry_after)
        return response
    except STORE_AWAY as e:  # Redis restarting or failing over: the client may try again
        log.warning("the store is away on %s %s: %s", request.method, request.path, e)
        response = error(503, None, "the service's store is unavailable; try again shortly")
        response.headers["Retry-After"] = "5"
        return response
    except json.JSONDecodeError as e:
        return error(400, "body", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}")
    except web.HTTPRequestEntityTooLarge as e:
        return error(413, "body", e.text or "too large")
    except web.HTTPException as e:
        if e.status < 400:
            raise
        if e.content_type == "application/json":  # ours, made where it was raised
            return _coded(e)
        return error(e.status, None, e.reason)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error(500, None, "internal error; it has been logged")


def _coded(e: web.HTTPException) -> web.Response:
    """A JSON error raised as an HTTP exception, answered in the one shape (its code and
    ``errors`` added when the raise site wrote only a field and a reason)."""
    try:
        given = json.loads(e.text or "")["error"]
        field, reason = given.get("field"), str(given["reason"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return error(e.status, None, e.reason)
    response = error(e.status, field, reason, str(given.get("code") or ""))
    for name in ("WWW-Authenticate", "Retry-After", "Allow"):
        if name in e.headers:
            response.headers[name] = e.headers[name]
    return response


async def healthz(request: web.Request) -> web.Response:
    """The process is alive."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Redis answers and the broker can be reached: 200, else 503 naming what is down. The
    workers are not asked (they have a readiness of their own), except by ``notifier up``,
    whose check of its embedded worker answers what it still waits for."""
    checks = {"redis": _redis_ready(request), **{n: c() for n, c in request.app[CHECKS].items()}}
    results = {}
    for name, check in checks.items():
        try:
            result = await check
            results[name] = "ok" if result is True else result or "unreachable"
        except Exception as e:  # a check that fails says so; it never takes the API down
            results[name] = f"unreachable: {type(e).__name__}"
    ok = all(v == "ok" for v in results.values())
    return web.json_response(
        {"status": "ready" if ok else "not ready", **results}, status=200 if ok else 503
    )


async def _redis_ready(request: web.Request) -> bool:
    return bool(await asyncio.wait_for(request.app[DEPS].store.redis.ping(), 2.0))


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[DEPS].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One count per request, labelled by the route's pattern (never by ids or tokens)."""
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        route = request.match_info.route.resource
        pattern = route.canonical if route is not None else "unmatched"
        request.app[DEPS].metrics.http.labels(request.method, pattern, str(status)).inc()


@web.middleware
async def load_city(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A city created since this process started (by another process) is loaded before the
    route runs; an unknown one is then a 404 (``http.city_of``)."""
    city = request.match_info.get("city")
    if city is not None:
        await request.app[DEPS].cities.ensure(city)
    return await handler(request)


async def push_public_key(request: web.Request) -> web.Response:
    """The VAPID public key a browser passes to ``pushManager.subscribe``."""
    settings = request.app[SETTINGS]
    if not settings.vapid_private_key:
        return error(404, None, "web push is not offered here")
    key = application_server_key(load_vapid_private_key(str(settings.vapid_private_key)))
    return web.json_response({"public_key": key})


async def areas(request: web.Request) -> web.Response:
    city = city_of(request)
    return web.json_response({"city": city, "areas": request.app[DEPS].catalogues[city].summary()})


def create_api(
    settings: Settings,
    deps: Services,
    dev: DevServices | None = None,
    checks: dict[str, Callable[[], Awaitable[bool | str]]] | None = None,
) -> web.Application:
    """``checks``: what ``/readyz`` asks besides Redis (the broker, from the publisher).
    ``dev``: the local outbox and Twilio-shaped server, shown under ``/dev/`` only when the API
    binds to a loopback address (they hold every magic link and code)."""
    app = web.Application(
        middlewares=[count_requests, errors_middleware, check_path_ids, load_city],
        client_max_size=MAX_DOCUMENT,
    )
    app.on_response_prepare.append(add_security_headers)
    app[CHECKS] = checks or {}
    app[SETTINGS] = settings
    app[DEPS] = deps
    app[GAZETTEERS] = Gazetteers(deps.store.redis)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_static(
        "/static/", Path(__file__).parents[1] / "web" / "static", show_index=False
    )
    app.router.add_get("/v1/cities/{city}/areas", areas)
    cities.add_routes(app.router)
    citizens.add_routes(app.router)
    contacts.add_routes(app.router)
    links.add_routes(app.router)
    manage.add_routes(app.router)
    webhooks.add_routes(app.router)
    app.router.add_get("/v1/push/public-key", push_public_key)
    announcements.add_routes(app.router)
    announcement_list.add_routes(app.router)
    drafts.add_routes(app.router)
    service_requests.add_routes(app.router)
    openapi.add_routes(app.router)
    city_map.add_routes(app.router)
    addresses.add_routes(app.router)
    dev_routes = dev is not None and settings.api_on_loopback
    pages.add_routes(app.router, dev=dev_routes)
    if dev is not None and dev_routes:
        app[DEV] = dev
        outbox.add_routes(app.router)
    elif dev is not None:
        log.warning(DEV_ROUTES_OFF, settings.api_host)
    return app
