"""CAP 1.2 in: each alert of a document becomes an announcement, an update or a cancellation.

- ``Alert``: a new announcement; its shapes that reach the city are the target (a circle of
  radius 0, an epicentre, is taken as 1 m: it reaches the subscriptions around that point).
- ``Update``: the next version of the announcement made from the alert it references (a new
  announcement when we never saw that alert).
- ``Cancel``: cancels the announcements made from the alerts it references, telling those told.
- Test, Exercise, System and Draft alerts, non-public scopes, Ack and Error never reach anyone.

Each alert's (sender, identifier) is remembered with the announcement it made, so references
find it: ``n:{city}:cap:{sha256(sender, identifier)}`` -> event id.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from notifier.actions import publishing
from notifier.actions.publishing import Publishing
from notifier.cap.mapping import cap_to_announcement_input
from notifier.cap.parser import parse_cap_collection
from streams.announcements import Announcement
from subscriptions.areas import AreaCatalogue
from subscriptions.errors import Conflict, InvalidInput, NotFound
from subscriptions.geometry import circle, parse_polygon
from subscriptions.store import SubscriptionStore, key
from subscriptions.targets import MAX_EVENT_POLYGON_KM2


class CapImport(Publishing, Protocol):
    """Publishing, the city's areas to place an alert, the store to remember what came."""

    store: SubscriptionStore
    catalogues: dict[str, AreaCatalogue]


def _ref_key(city: str, sender: str, identifier: str) -> str:
    digest = hashlib.sha256(f"{sender}\x00{identifier}".encode()).hexdigest()
    return key(city, "cap", digest)


async def import_cap(
    deps: CapImport, city: str, department: str, xml: bytes
) -> list[dict[str, Any]]:
    """One result per alert: what became of it, or why nothing did."""
    results = []
    for alert in parse_cap_collection(xml):
        body = cap_to_announcement_input(alert)
        cap = body["cap"]
        result: dict[str, Any] = {"identifier": cap["identifier"], "msg_type": cap["msg_type"]}
        if not body["deliver"]:
            results.append({**result, "delivered": False, "reason": body["reason"]})
            continue
        try:
            result.update(await _apply(deps, city, department, body))
        except (InvalidInput, NotFound, Conflict) as e:
            result.update(delivered=False, reason=str(e))
        results.append(result)
    return results


async def _apply(
    deps: CapImport, city: str, department: str, body: dict[str, Any]
) -> dict[str, Any]:
    cap = body["cap"]
    earlier = [
        eid
        for ref in cap["references"]
        if (eid := await deps.store.redis.get(_ref_key(city, ref["sender"], ref["identifier"])))
    ]
    if cap["msg_type"] == "Cancel":
        if not earlier:
            return {"delivered": False, "reason": "cancels no alert we received"}
        answers = [
            await publishing.cancel(deps, city, eid, department, True, "")
            for eid in dict.fromkeys(earlier)
        ]
        return {"delivered": True, "cancelled": [a["id"] for a in answers]}
    catalogue = deps.catalogues[city]
    body = {**body, "target": _within_city(body["target"], deps, city)}
    if cap["msg_type"] == "Update" and earlier:
        a = Announcement.from_input(
            body, id=earlier[-1], city=city, department=department, catalogue=catalogue
        )
        answer = await publishing.update(deps, a)
    else:
        a = Announcement.from_input(
            body,
            id=publishing.new_event_id(),
            city=city,
            department=department,
            catalogue=catalogue,
        )
        answer = await publishing.publish(deps, a)
    await deps.store.redis.set(_ref_key(city, cap["sender"], cap["identifier"]), answer["id"])
    return {"delivered": True, **answer}


def _within_city(target: dict[str, Any], deps: CapImport, city: str) -> dict[str, Any]:
    """The alert's shapes that reach the city (a CAP area may cover a whole region)."""
    catalogue = deps.catalogues[city]
    polygons = []
    for p in target.get("polygons", []):
        _, metric = parse_polygon(p, "polygon", catalogue.projection, MAX_EVENT_POLYGON_KM2, 5000)
        if metric.intersects(catalogue.boundary):
            polygons.append(p)
    circles = []
    for c in target.get("circles", []):
        c = {**c, "radius_m": max(1.0, c["radius_m"])}
        if circle(catalogue.projection, c["lon"], c["lat"], c["radius_m"]).intersects(
            catalogue.boundary
        ):
            circles.append(c)
    if not polygons and not circles:
        raise InvalidInput("area", "no area of the alert reaches the city")
    return {"polygons": polygons, "circles": circles}
