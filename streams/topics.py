"""Every topic of the service, declared in one place.

Topics carry raw bytes (JSON wire records from ``streams.records``); keys are the event id for
events, so one event's versions stay ordered in a partition, and the event id with the first
notification for delivery batches, so a large audience spreads over the partitions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # faust is imported only by the processes that run it
    import faust

# how handlers write to a topic: (topic name, key, value); the broker has it when it returns
Publish = Callable[[str, bytes, bytes], Awaitable[None]]

NAMES = {
    "city_events": "city-events",
    "request_status": "request-status",
    "fanout": "fanout",
    "email": "deliveries.email",
    "sms": "deliveries.sms",
    "push": "deliveries.push",
    # the large lanes (``streams.lanes``): the batches of a large audience's shards, severe or
    # extreme ones first, then the others; the digests last. A neighbourhood's messages never
    # wait behind a million others in Kafka
    "email_urgent": "deliveries.email.urgent",
    "sms_urgent": "deliveries.sms.urgent",
    "push_urgent": "deliveries.push.urgent",
    "email_bulk": "deliveries.email.bulk",
    "sms_bulk": "deliveries.sms.bulk",
    "push_bulk": "deliveries.push.bulk",
    "email_digest": "deliveries.email.digest",
    "sms_digest": "deliveries.sms.digest",
    "push_digest": "deliveries.push.digest",
    "receipts": "receipts",
    "dead_letters": "dead-letters",
}


@dataclasses.dataclass(frozen=True)
class TopicNames:
    city_events: str
    request_status: str
    fanout: str
    email: str
    sms: str
    push: str
    email_urgent: str
    sms_urgent: str
    push_urgent: str
    email_bulk: str
    sms_bulk: str
    push_bulk: str
    email_digest: str
    sms_digest: str
    push_digest: str
    receipts: str
    dead_letters: str

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        return cls(**{attr: prefix + name for attr, name in NAMES.items()})

    def deliveries(self, channel: str, lane: str = "small") -> str:
        """The topic of a channel's delivery batches in a lane (``streams.lanes``)."""
        return str(getattr(self, channel if lane == "small" else f"{channel}_{lane}"))


def declare(app: faust.App, names: TopicNames) -> dict[str, faust.TopicT]:
    """The Faust topics, by attribute name, all with raw values (we decode them ourselves)."""
    return {
        attr: app.topic(
            getattr(names, attr),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        for attr in NAMES
    }
