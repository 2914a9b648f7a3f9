"""Service request status changes on ``request-status`` -> notifications to the requester and
the followers, queued in the ledger and written to ``deliveries.<channel>`` in batches.

A change is applied once, in order (``streams.state.request_store``): an older or repeated record is
ignored. Each applied change tells every citizen following the request (the requester is
subscribed when the request is filed) on every enabled channel their subscription allows (all
by default) where they have a confirmed contact point: one message per (request, change,
citizen, channel), whose id derives from those, so a replay never sends twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from channels import KINDS
from streams.deps import RequestUpdates
from streams.records import (
    UNSUBSCRIBE_PLACEHOLDER,
    DeliveryBatch,
    Recipient,
    settle_mark,
    unsubscribe_mark,
    unsubscribe_url,
)
from streams.request_records import CLOSED, StatusChange, change_event
from streams.state.ledger import notification_id
from streams.state.request_store import RequestStore
from subscriptions.errors import InvalidInput
from subscriptions.moving import end_follows

log = logging.getLogger("notifier.streams")
KIND = "request_status"
BATCH_SIZE = 500
SEVERITY = "moderate"  # push urgency "normal": news about one's own request, not an alert


async def handle_request_status(raw: bytes, deps: RequestUpdates) -> int:
    """Apply a ``RequestStatusChanged/1`` record and notify; the number of messages queued."""
    change = StatusChange.from_wire(raw)
    await deps.cities.require(change.city)  # loaded if made since we started
    store = RequestStore(deps.store.redis)
    outcome = await store.apply(change)
    if outcome == "foreign":
        raise InvalidInput(
            "department", f"request {change.request_id} belongs to another department"
        )
    if outcome not in ("applied", "resume"):
        log.info(
            "request=%s change=%s %s: not notified", change.request_id, change.updated_ms, outcome
        )
        return 0
    queued = await notify(deps, store, change.city, change.request_id)
    await store.done(change.city, change.request_id, change.updated_ms)
    if change.status == "closed":  # those who moved away stop following it here
        await end_follows(deps.store, change.city, change.request_id)
    return queued


async def notify(deps: RequestUpdates, store: RequestStore, city: str, rid: str) -> int:
    """Queue the messages of the request's last applied change."""
    request = await store.get(city, rid)
    event = change_event(rid, int(request["updated_ms"]))
    wanted: dict[str, set[str]] = {}  # citizen -> channels
    for sub in await deps.store.subscriptions(city, await store.followers(city, rid)):
        wanted.setdefault(sub.citizen, set()).update(sub.channels or deps.enabled)
    requester = request.get("requester", "")
    queued = 0
    for channel in deps.enabled:
        citizens = sorted(c for c, channels in wanted.items() if channel in channels)
        for role, group in (
            ("requester", [c for c in citizens if c == requester]),
            ("follower", [c for c in citizens if c != requester]),
        ):
            queued += await _queue(deps, request, event, channel, role, group)
    log.info(
        "request=%s city=%s status=%s followers=%d queued=%d",
        rid,
        city,
        request["status"],
        len(wanted),
        queued,
    )
    return queued


async def _queue(
    deps: RequestUpdates,
    request: dict[str, str],
    event: str,
    channel: str,
    role: str,
    citizen_ids: list[str],
) -> int:
    if not citizen_ids:
        return 0
    city = request["city"]
    recipients = await _recipients(deps, city, event, citizen_ids, channel)
    rows = [(r.id, r.citizen, r.contact) for r in recipients]
    statuses = await deps.ledger.enqueue(city, event, channel, rows)
    # a resumed change resends only what is still pending
    pending = [r for r, s in zip(recipients, statuses, strict=True) if s in ("queued", "sending")]
    mark = unsubscribe_mark()
    variants, mark = settle_mark(
        {
            lang: render(deps, request, role, lang, channel, mark)
            for lang in sorted({r.language for r in pending})
        },
        mark,
    )
    topic = deps.topics.deliveries(channel)
    for i in range(0, len(pending), BATCH_SIZE):
        batch = DeliveryBatch(
            city,
            event,
            KIND,
            variants,
            tuple(pending[i : i + BATCH_SIZE]),
            channel=channel,
            severity=SEVERITY,
            unsubscribe_mark=mark,
        )
        await deps.publish(topic, event.encode(), batch.to_wire())
    return len(pending)


async def _recipients(
    deps: RequestUpdates, city: str, event: str, citizen_ids: list[str], channel: str
) -> list[Recipient]:
    citizens = await deps.store.citizens(city, citizen_ids)
    contacts = await deps.store.confirmed_contacts(city, list(citizens), channel)
    out = []
    for cid, citizen in citizens.items():
        cps = contacts.get(cid)
        if not cps:
            continue
        cp = cps[0]  # one message per (change, citizen, channel)
        unsubscribe = unsubscribe_url(deps.secret_key, deps.base_url, city, channel, cp.id)
        lang = deps.renderer.language_for(KIND, citizen.language)
        nid = notification_id(city, event, cid, channel)
        out.append(Recipient(nid, cid, cp.id, cp.address, lang, unsubscribe))
    return out


def context(
    deps: RequestUpdates,
    request: dict[str, str],
    role: str,
    unsubscribe: str = UNSUBSCRIBE_PLACEHOLDER,
) -> dict[str, object]:
    """What the ``request_status`` templates are given; ``unsubscribe``: the mark where each
    recipient's unsubscribe URL goes."""
    tz = ZoneInfo(deps.city(request["city"]).timezone)  # dates as they read in the city
    at = datetime.fromtimestamp(int(request["updated_ms"]) / 1000, tz)
    notes = request.get("status_notes", "")
    # "body": what the renderer may cut to fit an SMS in its segments (only when there is one)
    return ({"body": notes} if notes else {}) | {
        "request_id": request["id"],
        "service_name": request.get("service_name", ""),
        "address": request.get("address", ""),
        "status": request["status"],
        "status_notes": notes,
        "is_closed": request["status"] in CLOSED,
        "role": role,  # requester or follower
        "updated_date": at.strftime("%d/%m/%Y"),
        "updated_time": at.strftime("%H:%M"),
        **deps.city_context(request["city"]),
        "unsubscribe_url": unsubscribe,
    }


def render(
    deps: RequestUpdates,
    request: dict[str, str],
    role: str,
    lang: str,
    channel: str,
    unsubscribe: str = UNSUBSCRIBE_PLACEHOLDER,
) -> dict[str, str]:
    parts = deps.renderer.render_parts(
        KIND, channel, lang, context(deps, request, role, unsubscribe)
    )
    if "url" in KINDS[channel].parts:  # where a click on the notification leads
        parts["url"] = deps.base_url
    return parts
