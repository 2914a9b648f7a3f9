"""Every topic of the service, declared in one place.

Topics carry raw bytes (JSON wire records from ``streams.records``); keys are the event id for
events, so one event's versions stay ordered in a partition, and the event id with the first
notification for delivery batches, so a large audience spreads over the partitions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from channels import NAMES as CHANNELS
from streams.delivery.lanes import LANES, SMALL

if TYPE_CHECKING:  # faust is imported only by the processes that run it
    import faust

# how handlers write to a topic: (topic name, key, value); the broker has it when it returns
Publish = Callable[[str, bytes, bytes], Awaitable[None]]

SERVICE = {
    "city_events": "city-events",
    "request_status": "request-status",
    "fanout": "fanout",
    "digests": "digests",  # the digests' releases, at their hour: never ahead of an event
}
LAST = {"receipts": "receipts", "dead_letters": "dead-letters"}


def delivery_names(channels: Sequence[str]) -> dict[str, str]:
    """Each channel's delivery topics: ``deliveries.<channel>`` (the small lane), then the large
    lanes' (``streams.delivery.lanes``): the batches of a large audience's shards, severe or extreme
    ones first, then the others; the digests last. A neighbourhood's messages never wait behind a
    million others in Kafka."""
    small = {channel: f"deliveries.{channel}" for channel in channels}
    large = {
        f"{channel}_{lane}": f"deliveries.{channel}.{lane}"
        for lane in LANES
        if lane != SMALL
        for channel in channels
    }
    return {**small, **large}


# every topic by attribute name: the service's, each channel's (``channels.NAMES``), the last
NAMES = {**SERVICE, **delivery_names(CHANNELS), **LAST}


@dataclasses.dataclass(frozen=True)
class TopicNames:
    """One deployment's topic names (``NAMES`` with its prefix), by attribute name."""

    names: Mapping[str, str]

    @classmethod
    def with_prefix(cls, prefix: str, channels: Sequence[str] = CHANNELS) -> TopicNames:
        """``channels``: those with delivery topics (all of ``channels.NAMES``)."""
        every = {**SERVICE, **delivery_names(channels), **LAST}
        return cls({attr: prefix + name for attr, name in every.items()})

    @property
    def city_events(self) -> str:
        return self.names["city_events"]

    @property
    def request_status(self) -> str:
        return self.names["request_status"]

    @property
    def fanout(self) -> str:
        return self.names["fanout"]

    @property
    def digests(self) -> str:
        return self.names["digests"]

    @property
    def receipts(self) -> str:
        return self.names["receipts"]

    @property
    def dead_letters(self) -> str:
        return self.names["dead_letters"]

    def deliveries(self, channel: str, lane: str = SMALL) -> str:
        """The topic of a channel's delivery batches in a lane (``streams.delivery.lanes``)."""
        return self.names[channel if lane == SMALL else f"{channel}_{lane}"]


def declare(app: faust.App, names: TopicNames) -> dict[str, faust.TopicT]:
    """The Faust topics, by attribute name, all with raw values (we decode them ourselves)."""
    return {
        attr: app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        for attr, name in names.names.items()
    }
