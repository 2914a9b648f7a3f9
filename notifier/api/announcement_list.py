"""A department's announcements, listed from the server (any tab, any agent of the department):
filtered by status, category and publication date, searched in their titles, each with its
figures. And who a key speaks for, which the console names.

The list reads the department's index (``n:{city}:dept:{department}:events``, kept by
``streams.state.event_store``): its ``MAX_SCANNED`` latest announcements are filtered here.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from notifier.api.auth import SCOPES, bearer, department_of, require_department
from notifier.api.http import city_of
from notifier.api.keys import DEPS
from notifier.api.openapi.schemas import INTEGER, STRING, array, obj
from streams.records import parse_time
from subscriptions.errors import InvalidInput
from subscriptions.rules import Schema, nullable, ref
from subscriptions.store import key

STATUSES = ("scheduled", "accepted", "published", "processed", "cancelled")
MAX_SCANNED = 1000
MAX_LIMIT = 200
MAX_QUERY = 100


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/cities/{city}/announcements", listed)
    router.add_get("/v1/cities/{city}/department", whoami)


def _filters(query: Any, categories: tuple[str, ...]) -> dict[str, Any]:
    """The query's filters, checked: a 422 names the parameter."""
    out: dict[str, Any] = {}
    if (status := query.get("status")) is not None and status not in STATUSES:
        raise InvalidInput("status", f"one of {', '.join(STATUSES)}")
    if (category := query.get("category")) is not None and category not in categories:
        raise InvalidInput("category", f"one of {', '.join(categories)}")
    out["status"], out["category"] = status, category
    for name in ("from", "to"):
        out[name] = parse_time(query[name], name) if name in query else None
    q = query.get("q", "").strip()
    if len(q) > MAX_QUERY:
        raise InvalidInput("q", f"at most {MAX_QUERY} characters")
    out["q"] = q.casefold()
    limit = query.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise InvalidInput("limit", f"a whole number from 1 to {MAX_LIMIT}")
    out["limit"] = int(limit)
    return out


def _kept(item: dict[str, Any], published_at: float, f: dict[str, Any]) -> bool:
    if f["status"] and item["status"] != f["status"]:
        return False
    if f["category"] and item["category"] != f["category"]:
        return False
    if f["from"] is not None and published_at < f["from"]:
        return False
    if f["to"] is not None and published_at > f["to"]:
        return False
    titles = " ".join(c.get("title", "") for c in item["titles"].values()).casefold()
    return not f["q"] or f["q"] in titles


async def listed(request: web.Request) -> web.Response:
    """The department's announcements, the latest published (or to be) first."""
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "statistics")
    f = _filters(request.query, deps.city(city).categories)
    redis = deps.store.redis
    ids = await redis.zrevrange(key(city, "dept", department, "events"), 0, MAX_SCANNED - 1)
    async with redis.pipeline(transaction=False) as p:
        for eid in ids:
            p.hgetall(key(city, "event", eid))
        stored = await p.execute()
    out = []
    for h in stored:
        if not h or h.get("department") != department:
            continue
        record = json.loads(h["record"])
        published_at = parse_time(record["published_at"], "published_at")
        item = {
            "id": h["id"],
            "href": f"/v1/cities/{city}/announcements/{h['id']}",
            "status": h["status"],
            "version": int(h["version"]),
            "category": record["category"],
            "severity": record["severity"],
            "titles": {lang: {"title": c["title"]} for lang, c in record["content"].items()},
            "published_at": record["published_at"],
            "expires_at": record["expires_at"],
            "matched_citizens": int(h.get("matched", 0)),
        }
        if _kept(item, published_at, f):
            out.append(item)
        if len(out) == f["limit"]:
            break
    for item in out:
        item["deliveries"] = await deps.ledger.counts(city, item["id"])
    return web.json_response({"announcements": out})


async def whoami(request: web.Request) -> web.Response:
    """The department a key is for, in this city, and what it may do (any scope will do)."""
    city, deps = city_of(request), request.app[DEPS]
    redis, token = deps.store.redis, bearer(request)
    scopes = [s for s in SCOPES if await department_of(redis, city, token, s)]
    department = await require_department(request, redis, city, scopes[0] if scopes else "publish")
    place = deps.city(city)
    return web.json_response(
        {
            "department": department,
            "name": place.department_name(department, place.default_language),
            "names": {lang: place.department_name(department, lang) for lang in place.languages},
            "city": city,
            "city_name": deps.city_name(city),
            "scopes": scopes,
        }
    )


LISTED = obj(
    {
        "id": STRING,
        "href": STRING,
        "status": {"enum": list(STATUSES)},
        "version": {"type": "integer", "minimum": 1},
        "category": ref("Category"),
        "severity": ref("Severity"),
        "titles": obj(
            {}, propertyNames=ref("Language"), additionalProperties=obj({"title": STRING})
        ),
        "published_at": ref("DateTime"),
        "expires_at": nullable(ref("DateTime")),
        "matched_citizens": INTEGER,
        "deliveries": ref("Deliveries"),
    },
    ("id", "href", "status", "version", "category", "titles", "published_at", "deliveries"),
)
SCHEMAS: dict[str, Schema] = {
    "AnnouncementList": obj({"announcements": array(LISTED)}, ("announcements",)),
    "Department": obj(
        {
            "department": STRING,
            "name": {
                "type": "string",
                "description": "its name in the city's language (else its id)",
            },
            "names": {
                "type": "object",
                "additionalProperties": STRING,
                "description": "its name in each of the city's languages",
            },
            "city": STRING,
            "city_name": STRING,
            "scopes": array({"enum": list(SCOPES)}),
        },
        ("department", "name", "names", "city", "city_name", "scopes"),
    ),
}
