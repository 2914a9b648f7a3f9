"""Every topic of the service, declared in one place.

Topics carry raw bytes (JSON wire records from ``streams.records``); keys are the event id for
events and the event id for delivery batches, so one event's work stays ordered in a partition.
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
    receipts: str
    dead_letters: str

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        return cls(**{attr: prefix + name for attr, name in NAMES.items()})


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
