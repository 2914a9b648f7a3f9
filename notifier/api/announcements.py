"""Department routes: publish, update and cancel announcements; read one with its figures.

202 means the announcement is in the outbox and will go out (``notifier.actions.publishing``).
``Idempotency-Key``: the same key and body return the first answer, the same key with a
different body is a 409.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from typing import Any

from aiohttp import web

from notifier.actions import publishing, retelling
from notifier.actions.preview import preview
from notifier.api.auth import require_department
from notifier.api.http import city_of, json_body
from notifier.api.keys import DEPS
from notifier.cap.importer import import_cap
from streams.announcements import CANCEL, Announcement
from streams.deps import Services
from streams.records import iso, parse_time
from subscriptions.errors import Conflict, InvalidInput
from subscriptions.store import key

log = logging.getLogger("notifier.api")
IDEMPOTENCY_TTL = 24 * 3600


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/cities/{city}/announcements", publish)
    router.add_post("/v1/cities/{city}/announcements/preview", preview_draft)
    router.add_get("/v1/cities/{city}/announcements/{eid}", show)
    router.add_put("/v1/cities/{city}/announcements/{eid}", update)
    router.add_post("/v1/cities/{city}/announcements/{eid}/preview", update_preview)
    router.add_post("/v1/cities/{city}/announcements/{eid}/cancel", cancel)
    router.add_post("/v1/cities/{city}/cap", cap)


async def publish(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "publish")
    body = await json_body(request)
    idem = request.headers.get("Idempotency-Key")
    if idem is not None:
        earlier = await _remembered(deps, city, department, idem, body)
        if earlier is not None:
            return _accepted(earlier)
    try:
        answer = await publish_body(deps, city, department, body, publishing.new_event_id())
    except BaseException:
        if idem is not None:  # a refused request does not burn its key
            await deps.store.redis.delete(_idem_key(city, department, idem))
        raise
    if idem is not None:
        await _remember(deps, city, department, idem, body, answer)
    return _accepted(answer)


async def publish_body(
    deps: Services, city: str, department: str, body: dict[str, Any], eid: str
) -> dict[str, Any]:
    """Check a department's body and publish it as the event ``eid`` (now, or at its
    ``scheduled_at``): the answer of a 202. Shared with the publication of a draft."""
    a = Announcement.from_input(
        body, id=eid, city=city, department=department, catalogue=deps.catalogues[city]
    )
    offered_in_city(deps, a)
    scheduled_at = scheduled_time(body, a)
    if scheduled_at is not None:
        a = dataclasses.replace(a, published_at=scheduled_at)
    return await publishing.publish(deps, a, scheduled=scheduled_at is not None)


def offered_in_city(deps: Services, a: Announcement) -> None:
    """The announcement's category is one the city has."""
    categories = deps.city(a.city).categories
    if a.category not in categories:
        raise InvalidInput("category", f"not a category of {a.city}: {', '.join(categories)}")


async def preview_draft(request: web.Request) -> web.Response:
    """The reach and the rendered messages of a draft: nothing is stored or sent."""
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "publish")
    a = Announcement.from_input(
        await json_body(request),
        id="draft",
        city=city,
        department=department,
        catalogue=deps.catalogues[city],
    )
    offered_in_city(deps, a)
    return web.json_response(await preview(deps, a))


async def update(request: web.Request) -> web.Response:
    """A new version: the fields given changed, the others kept (``Announcement.updated``);
    ``retell``: who is messaged again (``streams.delivery.expand``)."""
    a = await _next_version(request)
    return _accepted(await publishing.update(request.app[DEPS], a))


async def update_preview(request: web.Request) -> web.Response:
    """What an update would change and how many would be messaged again, per ``retell``:
    nothing is stored or sent (``notifier.actions.retelling``)."""
    a = await _next_version(request)
    return web.json_response(await retelling.preview(request.app[DEPS], a))


async def _next_version(request: web.Request) -> Announcement:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "publish")
    eid = request.match_info["eid"]
    stored = await publishing.own_event(deps, city, eid, department)
    if stored["status"] == "cancelled":
        raise Conflict("status", "the announcement is cancelled")
    body = await json_body(request)
    current = Announcement.from_wire(stored["record"].encode())
    a = current.updated(body, deps.catalogues[city])
    offered_in_city(deps, a)
    return a


async def cancel(request: web.Request) -> web.Response:
    """Stop what has not gone out; with ``notify`` (default), tell those already told."""
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "publish")
    eid = request.match_info["eid"]
    await publishing.own_event(deps, city, eid, department)
    body = await json_body(request) if request.can_read_body else {}
    notify: bool = CANCEL["notify"].read(body, "notify")
    reason: str | dict[str, str] = CANCEL["reason"].read(body, "reason")
    answer = await publishing.cancel(deps, city, eid, department, notify, reason)
    return _accepted(answer)


async def cap(request: web.Request) -> web.Response:
    """A CAP 1.2 document (one alert, or an ``<alerts>`` collection): one result per alert."""
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "publish")
    if request.content_type not in ("application/cap+xml", "application/xml", "text/xml"):
        raise InvalidInput("Content-Type", "must be application/cap+xml or application/xml")
    results = await import_cap(deps, city, department, await request.read())
    return web.json_response({"alerts": results}, status=202)


def scheduled_time(body: dict[str, Any], a: Announcement) -> float | None:
    """``scheduled_at``: publish later (within a year), before the announcement expires."""
    if body.get("scheduled_at") is None:
        return None
    when = parse_time(body["scheduled_at"], "scheduled_at")
    if when <= time.time():
        reason = "is in the past; leave it out to publish now"
        raise InvalidInput("scheduled_at", reason, "in_the_past")
    if when > time.time() + 366 * 24 * 3600:
        raise InvalidInput("scheduled_at", "more than a year ahead", "too_far_ahead")
    if a.expires_at is not None and a.expires_at <= when:
        raise InvalidInput("scheduled_at", "is after expires_at", "after_expiry")
    return when


def _accepted(answer: dict[str, Any]) -> web.Response:
    return web.json_response(answer, status=202, headers={"Location": answer["href"]})


async def show(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "statistics")
    eid = request.match_info["eid"]
    stored = await publishing.own_event(deps, city, eid, department)
    record = json.loads(stored["record"])
    return web.json_response(
        {
            "id": eid,
            "department": department,
            "status": stored["status"],
            "version": int(stored["version"]),
            "category": record["category"],
            "severity": record["severity"],
            "target": record["target"],
            "content": record["content"],
            "published_at": record["published_at"],
            "expires_at": record["expires_at"],
            "processed_at": iso(float(stored["processed_at"]))
            if "processed_at" in stored
            else None,
            "matched_citizens": int(stored.get("matched", 0)),
            "deliveries": await deps.ledger.counts(city, eid),
        }
    )


def _idem_key(city: str, department: str, idem: str) -> str:
    return key(city, "idem", department, hashlib.sha256(idem.encode()).hexdigest())


def _digest(body: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def _remembered(
    deps: Services, city: str, department: str, idem: str, body: dict[str, object]
) -> dict[str, Any] | None:
    """The first answer to this key, or None after reserving the key for this request."""
    if not 1 <= len(idem) <= 200:
        raise InvalidInput("Idempotency-Key", "1 to 200 characters")
    k = _idem_key(city, department, idem)
    reserved = json.dumps({"body": _digest(body), "answer": None})
    if await deps.store.redis.set(k, reserved, nx=True, ex=IDEMPOTENCY_TTL):
        return None
    raw = await deps.store.redis.get(k)
    earlier = json.loads(raw) if raw else {"body": None, "answer": None}
    if earlier["body"] != _digest(body):
        raise Conflict("Idempotency-Key", "already used with a different body")
    if earlier["answer"] is None:
        raise Conflict("Idempotency-Key", "a request with this key is still being processed")
    return dict(earlier["answer"])


async def _remember(
    deps: Services,
    city: str,
    department: str,
    idem: str,
    body: dict[str, object],
    answer: dict[str, Any],
) -> None:
    value = json.dumps({"body": _digest(body), "answer": answer})
    await deps.store.redis.set(_idem_key(city, department, idem), value, ex=IDEMPOTENCY_TTL)
