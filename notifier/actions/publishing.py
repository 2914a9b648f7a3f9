"""Publishing, updating and cancelling announcements: shared by the HTTP API, the CAP import
and the CLI.

An accepted announcement is written to Redis (the outbox) before anyone is answered; it is then
handed to Kafka, and if the broker is away the worker's sweep hands it over later.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from typing import Any, Protocol

from streams.announcements import Announcement, Cancellation, changes
from streams.deps import Publishes
from streams.state.event_store import EventStore
from streams.state.scheduler import Scheduler
from streams.topics import TopicNames
from subscriptions.errors import NotFound

log = logging.getLogger("notifier.publishing")


class Publishing(Publishes, Protocol):
    """The outbox, the event log, and the scheduler for an announcement published later."""

    events: EventStore
    scheduler: Scheduler
    topics: TopicNames


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(10)


async def publish(deps: Publishing, a: Announcement, scheduled: bool = False) -> dict[str, Any]:
    """Keep it, then hand it to Kafka; ``scheduled``: at ``a.published_at``, by the scheduler."""
    await deps.events.accept(a, scheduled)  # durable before it is published or answered
    if not scheduled:
        return await hand_over(deps, a.city, a.id, a.version, a.to_wire())
    await deps.scheduler.later(
        a.city, a.published_at, deps.topics.city_events, a.id.encode(), a.to_wire()
    )
    href = f"/v1/cities/{a.city}/announcements/{a.id}"
    return {"id": a.id, "version": a.version, "status": "scheduled", "href": href}


async def update(deps: Publishing, a: Announcement) -> dict[str, Any]:
    """Publish ``a`` as the next version of the event ``a.id`` of ``a.department``, naming
    what it changes of the current one (``a.retell``: who is told again)."""
    stored = await own_event(deps, a.city, a.id, a.department)
    before = Announcement.from_wire(stored["record"].encode())
    a = dataclasses.replace(
        a,
        version=int(stored["version"]) + 1,
        changed=changes(before, a),
    )
    await deps.events.update(a)
    return await hand_over(deps, a.city, a.id, a.version, a.to_wire())


async def cancel(
    deps: Publishing,
    city: str,
    eid: str,
    department: str,
    notify: bool,
    reason: str | dict[str, str],
) -> dict[str, Any]:
    stored = await own_event(deps, city, eid, department)
    c = Cancellation(eid, city, department, int(stored["version"]), notify, reason, time.time())
    await deps.events.cancel(c)
    return await hand_over(deps, city, eid, c.version, c.to_wire())


async def own_event(deps: Publishing, city: str, eid: str, department: str) -> dict[str, str]:
    stored = await deps.events.get(city, eid)
    if stored["department"] != department:
        raise NotFound(f"no event {eid}")  # another department's event does not exist for you
    return stored


async def hand_over(
    deps: Publishing, city: str, eid: str, version: int, wire: bytes
) -> dict[str, Any]:
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
