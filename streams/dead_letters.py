"""Dead letters: what a stream could not take (with the reason and the raw record), and the
deliveries that failed for good. Each goes to the ``dead-letters`` topic and to a Redis stream
the CLI lists, shows and replays (Kafka alone would forget them with the embedded broker).

::

    n:_:dead-letters            stream  id -> {record: the DeadLettered/1 JSON}
    n:_:dead-letters:replayed   hash    id -> when it was replayed
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from streams.topics import Publish

STREAM = "n:_:dead-letters"
REPLAYED = "n:_:dead-letters:replayed"
KEEP = 100_000  # the stream is capped near this many letters


async def put(redis: Redis, publish: Publish, topic: str, key: bytes, letter: bytes) -> None:
    await redis.xadd(STREAM, {"record": letter.decode()}, maxlen=KEEP, approximate=True)
    await publish(topic, key, letter)


async def listing(redis: Redis, limit: int = 20) -> list[tuple[str, dict[str, Any]]]:
    """The newest letters first: (id, record)."""
    rows = await redis.xrevrange(STREAM, count=limit)
    return [(i, json.loads(fields["record"])) for i, fields in rows]


async def get(redis: Redis, letter_id: str) -> dict[str, Any] | None:
    rows = await redis.xrange(STREAM, min=letter_id, max=letter_id)
    return json.loads(rows[0][1]["record"]) if rows else None


async def replayed(redis: Redis, letter_id: str) -> float | None:
    at = await redis.hget(REPLAYED, letter_id)
    return float(at) if at else None


async def mark_replayed(redis: Redis, letter_id: str) -> None:
    await redis.hset(REPLAYED, letter_id, str(time.time()))
