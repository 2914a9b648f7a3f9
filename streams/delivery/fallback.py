"""Channel fallback: an alert whose web push was not delivered goes by SMS or email instead,
where the citizen asked for it (their ``fallback`` preference, in order).

A push that ends ``failed`` (the push service said the subscription is gone, refused the
message for good, or kept refusing it until the retries ran out) puts a ``FallbackDue/1`` on
``city-events``. Its handler takes the first channel of the citizen's list on which they have
a confirmed contact point and queues the same version of the alert there, through the same
expansion as everyone else's (language, quiet hours, rendering). Nothing goes out for an alert
that was cancelled, superseded or expired since, and the notification id is the one a direct
subscription on that channel would have, so nobody gets the alert twice on one channel.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from streams.announcements import Announcement
from streams.delivery.expand import queue_announcement, version_key
from streams.deps import Fallback
from streams.records import dumps, loads
from streams.state.ledger import notification_id
from subscriptions.errors import InvalidInput, NotFound

FALLBACK_DUE = "FallbackDue/1"
FROM_CHANNELS = ("push",)  # web push has no receipts: its failure is the one we can act on
log = logging.getLogger("notifier.streams")


@dataclasses.dataclass(frozen=True)
class FallbackDue:
    city: str
    event: str
    version: int
    citizen: str
    channel: str  # the channel that failed
    reason: str

    def to_wire(self) -> bytes:
        return dumps({"type": FALLBACK_DUE, **dataclasses.asdict(self)})

    @classmethod
    def from_wire(cls, raw: bytes) -> FallbackDue:
        d = loads(raw, FALLBACK_DUE)
        try:
            return cls(
                str(d["city"]),
                str(d["event"]),
                int(d["version"]),
                str(d["citizen"]),
                str(d["channel"]),
                str(d["reason"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInput("record", f"malformed {FALLBACK_DUE}: {e}") from None


async def release_fallback(deps: Fallback, due: FallbackDue) -> int:
    """Queue the alert on the citizen's first fallback channel that reaches them; 1 if queued."""
    try:
        citizen = await deps.store.citizen(due.city, due.citizen)
        stored = await deps.events.get(due.city, due.event)
    except NotFound:  # erased, or an event this city never had
        return 0
    if stored.get("status") == "cancelled" or int(stored.get("version") or 0) != due.version:
        return 0  # cancelled, or a newer version is on its way to everyone
    a = Announcement.from_wire(stored["record"].encode())
    if a.expires_at is not None and a.expires_at <= time.time():
        return 0
    id_key = version_key(a.id, a.version)
    for channel in citizen.fallback:
        if channel not in deps.enabled:
            continue
        if await deps.ledger.get(due.city, notification_id(due.city, id_key, citizen.id, channel)):
            return 0  # already told (or being told) on this channel
        if await queue_announcement(deps, a, channel, [citizen.id]):
            log.info("event=%s fallback %s -> %s (%s)", a.id, due.channel, channel, due.reason)
            return 1
    return 0
