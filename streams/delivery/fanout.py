"""Fan-out of a large audience: shards on the ``fanout`` topic that every worker expands a part of.

The worker that takes an announcement matches it (in memory, ``subscriptions.live_index``). An
audience of up to ``SHARD_SIZE`` citizens is expanded in place; a larger one is cut into shards
of that many citizens (with their channels and digests), each a ``FanoutShard/1`` record keyed
by event and shard number so that they spread over the topic's partitions. Whatever the
audience, a worker holds one shard's work at a time. A shard of a version that was cancelled or
superseded before it was expanded queues nothing; expanding a shard twice queues each
notification once (notification ids derive from event version, citizen and channel).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from streams.records import dumps, loads
from subscriptions.cadence import cadence_from_json
from subscriptions.errors import InvalidInput
from subscriptions.live_index import Audience

FANOUT_SHARD = "FanoutShard/1"
SHARD_SIZE = 5000


@dataclasses.dataclass(frozen=True)
class FanoutShard:
    city: str
    event: str
    version: int
    shard: int
    shards: int
    audience: Audience

    def to_wire(self) -> bytes:
        a = self.audience
        digests = {
            c: [[ch, json.dumps(cad.to_json())] for ch, cad in items]
            for c, items in a.digests.items()
        }
        return dumps(
            {
                "type": FANOUT_SHARD,
                "city": self.city,
                "event": self.event,
                "version": self.version,
                "shard": self.shard,
                "shards": self.shards,
                "citizens": a.citizens,
                "channels": a.channels,
                "digests": digests,
            }
        )

    @classmethod
    def from_wire(cls, raw: bytes) -> FanoutShard:
        d: dict[str, Any] = loads(raw, FANOUT_SHARD)
        try:
            citizens = [str(c) for c in d["citizens"]]
            channels = [int(m) for m in d["channels"]]
            if len(citizens) != len(channels):
                raise ValueError("citizens and channels differ in length")
            digests = {
                str(c): tuple((str(ch), cadence_from_json(str(cad))) for ch, cad in items)
                for c, items in d["digests"].items()
            }
            return cls(
                str(d["city"]),
                str(d["event"]),
                int(d["version"]),
                int(d["shard"]),
                int(d["shards"]),
                Audience(citizens, channels, digests),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise InvalidInput("record", f"malformed {FANOUT_SHARD}: {e}") from None


def shards(city: str, event: str, version: int, audience: Audience) -> list[FanoutShard]:
    """The audience cut into shards of ``SHARD_SIZE`` citizens."""
    n = (len(audience) + SHARD_SIZE - 1) // SHARD_SIZE
    out = []
    for i in range(n):
        part = slice(i * SHARD_SIZE, (i + 1) * SHARD_SIZE)
        citizens = audience.citizens[part]
        digests = {c: audience.digests[c] for c in citizens if c in audience.digests}
        out.append(
            FanoutShard(
                city, event, version, i, n, Audience(citizens, audience.channels[part], digests)
            )
        )
    return out
