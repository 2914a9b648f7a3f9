"""Dead letters: what a stream could not take (with the reason and the raw record), and the
deliveries that failed for good. Each goes to the ``dead-letters`` topic and to a Redis stream
the CLI lists, shows and replays (Kafka alone would forget them with the embedded broker).

They hold personal data (a failed delivery's record names its recipient's address), so they do
not stay: a letter older than the retention (``NOTIFIER_DEAD_LETTER_RETENTION_DAYS``) is never
shown and is trimmed at the next letter or listing, and a citizen's erasure (``strip``) deletes
every letter that names them or one of their addresses. The dead-letters topic gets the same
retention (``notifier topics create``).

::

    n:{_}:dead-letters            stream  id -> {record: the DeadLettered/1 JSON}
    n:{_}:dead-letters:replayed   hash    id -> when it was replayed

(``{_}``: one hash tag for both, so that ``strip`` changes them in one transaction on a Redis
Cluster too.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from streams.topics import Publish

STREAM = "n:{_}:dead-letters"
REPLAYED = "n:{_}:dead-letters:replayed"
KEEP = 100_000  # the stream is capped near this many letters
KEEP_SECONDS = 30 * 86400  # NOTIFIER_DEAD_LETTER_RETENTION_DAYS's default
SCAN = 500  # letters read at a time by ``strip``


def _oldest(keep_seconds: float, now: float | None = None) -> str:
    """The id of the oldest letter still kept (stream ids start with milliseconds)."""
    return f"{int(((time.time() if now is None else now) - keep_seconds) * 1000)}-0"


async def put(
    redis: Redis,
    publish: Publish,
    topic: str,
    key: bytes,
    letter: bytes,
    keep_seconds: float = KEEP_SECONDS,
) -> None:
    async with redis.pipeline(transaction=False) as p:
        p.xadd(STREAM, {"record": letter.decode()}, maxlen=KEEP, approximate=True)
        p.xtrim(STREAM, minid=_oldest(keep_seconds), approximate=False)
        await p.execute()
    await publish(topic, key, letter)


async def listing(
    redis: Redis, limit: int = 20, keep_seconds: float = KEEP_SECONDS
) -> list[tuple[str, dict[str, Any]]]:
    """The newest letters first: (id, record)."""
    oldest = _oldest(keep_seconds)
    await redis.xtrim(STREAM, minid=oldest, approximate=False)
    rows = await redis.xrevrange(STREAM, min=oldest, count=limit)
    return [(i, json.loads(fields["record"])) for i, fields in rows]


async def get(
    redis: Redis, letter_id: str, keep_seconds: float = KEEP_SECONDS
) -> dict[str, Any] | None:
    """The letter, unless it is past its time (trimmed or not yet)."""
    ms = letter_id.partition("-")[0]
    if ms.isdigit() and int(ms) < int(_oldest(keep_seconds).partition("-")[0]):
        return None
    rows = await redis.xrange(STREAM, min=letter_id, max=letter_id)
    return json.loads(rows[0][1]["record"]) if rows else None


async def strip(redis: Redis, marks: Iterable[str]) -> int:
    """Delete every letter whose record names one of ``marks`` (a citizen's id and addresses,
    as they are written, and JSON-escaped); how many went."""
    needles = {m for mark in marks if mark for m in (mark, json.dumps(mark)[1:-1])}
    gone, start = 0, "-"
    while needles:
        rows = await redis.xrange(STREAM, min=start, count=SCAN)
        if not rows:
            break
        doomed = [i for i, f in rows if any(n in f["record"] for n in needles)]
        if doomed:
            async with redis.pipeline(transaction=True) as p:
                p.xdel(STREAM, *doomed)
                p.hdel(REPLAYED, *doomed)
                await p.execute()
            gone += len(doomed)
        start = "(" + rows[-1][0]  # after the last one read
    return gone


async def replayed(redis: Redis, letter_id: str) -> float | None:
    at = await redis.hget(REPLAYED, letter_id)
    return float(at) if at else None


async def mark_replayed(redis: Redis, letter_id: str) -> None:
    await redis.hset(REPLAYED, letter_id, str(time.time()))
