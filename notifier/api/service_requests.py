"""Department routes for service requests (Open311 GeoReport v2-shaped JSON).

- ``POST /v1/cities/{city}/requests``: file a request (``service_request_id``, ``service_code``,
  ``service_name``, ``status``, ``status_notes``, ``agency_responsible``, ``requested_datetime``,
  ``updated_datetime``, ``address``, ``lat``, ``long``, ``description``) with the requester's
  ``email`` and/or ``phone`` (and ``language``), who then follows it. 201.
- ``POST /v1/cities/{city}/requests/{id}/status``: a status change (``status``,
  ``status_notes``, ``updated_datetime``: default now), written to ``request-status``; the
  worker applies it and tells the requester and the followers. 202.
- ``GET /v1/cities/{city}/requests/{id}``: the request, its status history and the delivery
  figures of each change.

A request belongs to the department that filed it: another department's key finds nothing (404).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from aiohttp import web

from notifier.actions.request_filing import REQUESTER, Requester, file_request
from notifier.api.auth import require_department
from notifier.api.http import city_of, error, json_body
from notifier.api.keys import DEPS
from streams.request_records import (
    FILED,
    INFO,
    OPEN311,
    REQUEST_FIELDS,
    STATUS,
    TEXT_FIELDS,
    StatusChange,
    change_event,
)
from streams.state.request_store import RequestStore
from subscriptions.contacts import normalise_phone
from subscriptions.errors import Conflict, InvalidInput
from subscriptions.rules import Field, Schema, body_schema, ref
from subscriptions.store import new_id
from subscriptions.subscription import check_request_id

log = logging.getLogger("notifier.api")


def _service_code(value: object, where: str) -> object:
    """Required to file a request (its length and text: ``INFO``, read by ``from_open311``)."""
    if not value:
        raise InvalidInput(where, "required, the code of the service (Open311)")
    return value


# the bodies these routes take (``subscriptions.rules``): a status change and the request's
# Open311 fields (``streams.request_records``, read by ``StatusChange.from_open311``), the
# requester (``notifier.actions.request_filing``); the OpenAPI document's schemas are made of
# these tables, which the handlers read
FILING: dict[str, Field] = {
    "service_request_id": Field({**ref("RequestId"), "description": "default: one is made"}),
    **INFO,
    "service_code": Field(
        {"type": "string", "maxLength": TEXT_FIELDS["service_code"], "minLength": 1},
        _service_code,
        required=True,
    ),
    **STATUS,
    "status": dataclasses.replace(STATUS["status"], default=FILED),
    **REQUESTER,
}
CHANGE: dict[str, Field] = {
    **STATUS,
    "status": dataclasses.replace(STATUS["status"], required=True),
    "service_request_id": Field({**ref("RequestId"), "description": "the one in the path"}),
    **INFO,
}
SCHEMAS: dict[str, Schema] = {
    "RequestInput": body_schema(
        FILING,
        description="Open311 GeoReport v2 fields, and the requester's email and/or phone.",
    ),
    "StatusChangeInput": body_schema(CHANGE),
}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/cities/{city}/requests", file)
    router.add_get("/v1/cities/{city}/requests/{rid}", show)
    router.add_post("/v1/cities/{city}/requests/{rid}/status", change_status)


def _href(city: str, rid: str) -> str:
    return f"/v1/cities/{city}/requests/{rid}"


async def file(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "publish")
    body = await json_body(request)
    body.setdefault("service_request_id", new_id("req"))
    body.setdefault("status", FILING["status"].default)
    FILING["service_code"].read(body, "service_code")
    change = StatusChange.from_open311(body, city=city, department=department)
    if not change.info.requested_datetime:  # requested when it was filed
        info = dataclasses.replace(change.info, requested_datetime=change.updated_datetime)
        change = dataclasses.replace(change, info=info)
    place = deps.city(city)
    if isinstance(body.get("phone"), str) and body["phone"]:  # the city's numbers only
        body["phone"] = normalise_phone(body["phone"], place.country, place.allowed_sms_countries)
    requester = Requester.from_open311(body, deps.enabled)
    contacts = await file_request(deps, change, requester)
    rid = change.request_id
    return web.json_response(
        {
            "service_request_id": rid,
            "status": change.status,
            "href": _href(city, rid),
            "requester": {
                "subscribed": requester is not None,
                "contacts": [{"channel": c.channel, "status": c.status} for c in contacts],
            },
        },
        status=201,
        headers={"Location": _href(city, rid)},
    )


async def change_status(request: web.Request) -> web.Response:
    """202: on its way to the worker. 200: the same change as the last applied (a retry).
    409: older than the last applied change. 503: the event log is away; send it again."""
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "publish")
    rid = check_request_id(request.match_info["rid"], "service_request_id")
    current = await RequestStore(deps.store.redis).owned(city, rid, department)
    body = await json_body(request)
    given = body.get("service_request_id", rid)
    if given != rid:
        raise InvalidInput("service_request_id", "differs from the request in the path")
    change = StatusChange.from_open311(body, city=city, department=department, request_id=rid)
    last = int(current["updated_ms"])
    answer = {
        "service_request_id": rid,
        "status": change.status,
        "updated_datetime": change.updated_datetime,
        "href": _href(city, rid),
    }
    if change.updated_ms == last and (change.status, change.status_notes) == (
        current["status"],
        current.get("status_notes", ""),
    ):
        return web.json_response(answer)
    if change.updated_ms <= last:
        raise Conflict(
            "updated_datetime",
            f"not later than the last applied change ({current['updated_datetime']})",
        )
    try:
        await deps.publish(deps.topics.request_status, rid.encode(), change.to_wire())
    except Exception as e:
        log.warning("status change of %s not published, the event log is unavailable: %s", rid, e)
        response = error(503, None, "the event log is unavailable; send the same change again")
        response.headers["Retry-After"] = "5"
        return response
    return web.json_response(answer, status=202, headers={"Location": _href(city, rid)})


async def show(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "statistics")
    rid = check_request_id(request.match_info["rid"], "service_request_id")
    store = RequestStore(deps.store.redis)
    h = await store.owned(city, rid, department)
    history = await store.history(city, rid)
    totals: dict[str, dict[str, int]] = {}
    for entry in history:
        counts = await deps.ledger.counts(city, change_event(rid, int(entry["updated_ms"])))
        entry["deliveries"] = counts
        del entry["updated_ms"]
        for channel, by_status in counts.items():
            for status, n in by_status.items():
                totals.setdefault(channel, {}).setdefault(status, 0)
                totals[channel][status] += n
    out: dict[str, Any] = {"service_request_id": rid, "department": department}
    for name in REQUEST_FIELDS:
        if name in h:
            out[name] = float(h[name]) if name in ("lat", "long") else h[name]
    out.update(
        status=h["status"],
        open311_status=OPEN311.get(h["status"], "open"),
        status_notes=h.get("status_notes", ""),
        updated_datetime=h["updated_datetime"],
        requester_subscribed=bool(h.get("requester")),
        followers=len(await store.followers(city, rid)),  # the requester's included
        history=history,
        deliveries=totals,
    )
    return web.json_response(out)
