"""Department routes: publish an announcement, read it back with its delivery figures."""

from __future__ import annotations

import json
import logging
import secrets

from aiohttp import web

from notifier.auth import require_department
from notifier.http import city_of, error, json_body
from notifier.keys import DEPS
from streams.records import Announcement, iso
from subscriptions.errors import NotFound
from subscriptions.store import key

log = logging.getLogger("notifier.api")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/cities/{city}/announcements", publish)
    router.add_get("/v1/cities/{city}/announcements/{eid}", show)


async def publish(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city)
    body = await json_body(request)
    a = Announcement.from_input(
        body,
        id="evt_" + secrets.token_hex(10),
        city=city,
        department=department,
        catalogue=deps.catalogues[city],
    )
    await deps.events.accept(a)  # durable before it is published or answered
    try:
        await deps.publish(deps.topics.city_events, a.id.encode(), a.to_wire())
    except Exception:
        log.exception("event log unavailable; event %s withdrawn", a.id)
        await deps.store.redis.delete(key(city, "event", a.id))
        return error(503, None, "the event log is unavailable; nothing was published, try again")
    await deps.events.mark(city, a.id, "published")
    href = f"/v1/cities/{city}/announcements/{a.id}"
    return web.json_response(
        {"id": a.id, "status": "published", "href": href}, status=202, headers={"Location": href}
    )


async def show(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city)
    eid = request.match_info["eid"]
    stored = await deps.events.get(city, eid)
    if stored["department"] != department:
        raise NotFound(f"no event {eid}")  # another department's event does not exist for you
    record = json.loads(stored["record"])
    return web.json_response(
        {
            "id": eid,
            "department": department,
            "status": stored["status"],
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
