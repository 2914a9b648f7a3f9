"""Department routes: publish, update and cancel announcements; read one with its figures.

An accepted announcement is written to Redis (the outbox) before the answer; it is then handed
to Kafka, and if the broker is away the worker's sweep hands it over later: 202 means it will go
out. ``Idempotency-Key``: the same key and body return the first answer, the same key with a
different body is a 409.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
import time
from typing import Any

from aiohttp import web

from notifier.auth import require_department
from notifier.http import city_of, json_body
from notifier.keys import DEPS
from streams.announcements import Announcement, Cancellation
from streams.deps import Deps
from streams.records import iso
from subscriptions.errors import Conflict, InvalidInput, NotFound
from subscriptions.store import key

log = logging.getLogger("notifier.api")
IDEMPOTENCY_TTL = 24 * 3600


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/cities/{city}/announcements", publish)
    router.add_get("/v1/cities/{city}/announcements/{eid}", show)
    router.add_put("/v1/cities/{city}/announcements/{eid}", update)
    router.add_post("/v1/cities/{city}/announcements/{eid}/cancel", cancel)


async def publish(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city)
    body = await json_body(request)
    idem = request.headers.get("Idempotency-Key")
    if idem is not None:
        earlier = await _remembered(deps, city, department, idem, body)
        if earlier is not None:
            return web.json_response(earlier, status=202, headers={"Location": earlier["href"]})
    try:
        a = Announcement.from_input(
            body,
            id="evt_" + secrets.token_hex(10),
            city=city,
            department=department,
            catalogue=deps.catalogues[city],
        )
        await deps.events.accept(a)  # durable before it is published or answered
    except BaseException:
        if idem is not None:
            await deps.store.redis.delete(_idem_key(city, department, idem))
        raise
    answer = await _hand_over(deps, a.city, a.id, a.version, a.to_wire())
    if idem is not None:
        await _remember(deps, city, department, idem, body, answer)
    return web.json_response(answer, status=202, headers={"Location": answer["href"]})


async def update(request: web.Request) -> web.Response:
    """A new version: the whole announcement again (target, content, severity, expiry)."""
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city)
    eid = request.match_info["eid"]
    stored = await _own_event(deps, city, eid, department)
    body = await json_body(request)
    a = Announcement.from_input(
        body, id=eid, city=city, department=department, catalogue=deps.catalogues[city]
    )
    a = dataclasses.replace(a, version=int(stored["version"]) + 1)
    await deps.events.update(a)
    answer = await _hand_over(deps, city, eid, a.version, a.to_wire())
    return web.json_response(answer, status=202, headers={"Location": answer["href"]})


async def cancel(request: web.Request) -> web.Response:
    """Stop what has not gone out; with ``notify`` (default), tell those already told."""
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city)
    eid = request.match_info["eid"]
    stored = await _own_event(deps, city, eid, department)
    body = await json_body(request) if request.can_read_body else {}
    notify = body.get("notify", True)
    if not isinstance(notify, bool):
        raise InvalidInput("notify", "must be true or false")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        raise InvalidInput("reason", "a string of at most 500 characters")
    c = Cancellation(
        eid, city, department, int(stored["version"]), notify, reason.strip(), time.time()
    )
    await deps.events.cancel(c)
    answer = await _hand_over(deps, city, eid, c.version, c.to_wire())
    return web.json_response(answer, status=202, headers={"Location": answer["href"]})


async def show(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city)
    eid = request.match_info["eid"]
    stored = await _own_event(deps, city, eid, department)
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


async def _own_event(deps: Deps, city: str, eid: str, department: str) -> dict[str, str]:
    stored = await deps.events.get(city, eid)
    if stored["department"] != department:
        raise NotFound(f"no event {eid}")  # another department's event does not exist for you
    return stored


async def _hand_over(deps: Deps, city: str, eid: str, version: int, wire: bytes) -> dict[str, Any]:
    """Publish to Kafka; if the broker is away, the event stays in the outbox for the sweep."""
    status = "published"
    try:
        await deps.publish(deps.topics.city_events, eid.encode(), wire)
        await deps.events.mark_published(city, eid)
    except Exception as e:
        log.warning("event %s kept in the outbox, the event log is unavailable: %s", eid, e)
        status = "accepted"
    href = f"/v1/cities/{city}/announcements/{eid}"
    return {"id": eid, "version": version, "status": status, "href": href}


def _idem_key(city: str, department: str, idem: str) -> str:
    return key(city, "idem", department, hashlib.sha256(idem.encode()).hexdigest())


def _digest(body: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def _remembered(
    deps: Deps, city: str, department: str, idem: str, body: dict[str, object]
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
    deps: Deps,
    city: str,
    department: str,
    idem: str,
    body: dict[str, object],
    answer: dict[str, Any],
) -> None:
    value = json.dumps({"body": _digest(body), "answer": answer})
    await deps.store.redis.set(_idem_key(city, department, idem), value, ex=IDEMPOTENCY_TTL)
