"""The plain async handlers the agents call: no Faust here, so they are tested without Kafka.

- ``handle_city_event``: an announcement, update or cancellation -> ``streams.delivery.expand``.
- ``release_digest_due``: a digest due on ``digests`` -> ``streams.delivery.digests``, in its turn.
- ``expand_shard``: a shard of a large audience on ``fanout`` -> ``streams.delivery.expand``.
- ``send_batch``: a batch on ``deliveries.<channel>`` -> ``streams.delivery.send``.
- ``send_urgent_batch``, ``send_bulk_batch``, ``send_digest_batch``: a batch of a large lane
  (``deliveries.<channel>.urgent``, ``.bulk``, ``.digest``), which gives way to the more urgent
  ones (``streams.delivery.lanes``).
- ``track_receipt``: a provider's receipt on ``receipts`` -> the ledger
  (``streams.delivery.track``).
- ``sweep_outbox``: republish events accepted but not processed (a leader timer runs it).
- ``release_scheduled``: publish what the scheduler holds once it is due (a leader timer too).
- ``guarded``: runs one of them on a record; what it cannot take goes to dead letters, and
  while the store is away the record is held, not dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from streams.announcements import CANCELLED, PUBLISHED, UPDATED, Announcement, decode_city_event
from streams.delivery.digests import DIGEST_DUE, DigestDue, release_digest
from streams.delivery.expand import expand_announcement, expand_cancellation, expand_shard
from streams.delivery.fallback import FALLBACK_DUE, FallbackDue, release_fallback
from streams.delivery.lanes import BULK, DIGEST, URGENT
from streams.delivery.send import send_batch
from streams.delivery.track import track_receipt
from streams.deps import CityEvents, DeadLettering, DigestsDue, Outbox, Scheduling, Sending
from streams.records import dead_letter, loads_any
from streams.state import dead_letters
from streams.state.ledger import STORE_AWAY
from streams.state.scheduler import release
from subscriptions.errors import InvalidInput

__all__ = [
    "expand_shard",
    "guarded",
    "handle_city_event",
    "release_digest_due",
    "release_scheduled",
    "send_batch",
    "send_bulk_batch",
    "send_digest_batch",
    "send_urgent_batch",
    "sweep_outbox",
    "track_receipt",
]
log = logging.getLogger("notifier.streams")


async def send_urgent_batch(raw: bytes, deps: Sending) -> dict[str, int]:
    return await send_batch(raw, deps, lane=URGENT)


async def send_bulk_batch(raw: bytes, deps: Sending) -> dict[str, int]:
    return await send_batch(raw, deps, lane=BULK)


async def send_digest_batch(raw: bytes, deps: Sending) -> dict[str, int]:
    return await send_batch(raw, deps, lane=DIGEST)


SWEEP_AFTER_SECONDS = 30.0
CITY_EVENT_TYPES = (PUBLISHED, UPDATED, CANCELLED, DIGEST_DUE, FALLBACK_DUE)
# while the store is away, a record is tried again after waits doubling between these (seconds)
STORE_WAIT_FIRST = 0.5
STORE_WAIT_LONGEST = 10.0
T = TypeVar("T")
D = TypeVar("D", bound=DeadLettering)  # what the handler needs, and dead letters


async def guarded(
    topic: str,
    raw: bytes,
    deps: D,
    handler: Callable[[bytes, D], Awaitable[object]],
    partition: int | None = None,
    offset: int | None = None,
) -> None:
    """Run a handler; a record it cannot take goes to dead letters with the reason.

    An agent that raises has its record acknowledged and lost, so nothing escapes here. While
    the store (Redis) is away, neither the handler nor the dead letter can do their work: the
    record is held and the handler run again until the store is back (every step is idempotent:
    notification ids, ledger claims). The agent waits meanwhile, and its offset with it."""

    async def run() -> str | None:
        """The handler once: why the record goes to dead letters, or None."""
        try:
            await handler(raw, deps)
        except STORE_AWAY:
            raise
        except InvalidInput as e:
            log.warning("dead letter from %s: %s", topic, e)
            return f"invalid {e}"
        except Exception as e:  # a bug: keep the record, say why, keep flowing
            log.exception("handler failed on a record from %s", topic)
            return f"error {type(e).__name__}: {e}"
        return None

    reason = await _through_outages(topic, run)
    if reason is None:
        return
    deps.metrics.dead_letters.labels(topic).inc()
    letter = dead_letter(topic, raw, reason, partition=partition, offset=offset)
    await _through_outages(
        topic,
        lambda: dead_letters.put(
            deps.store.redis,
            deps.publish,
            deps.topics.dead_letters,
            b"",
            letter,
            deps.dead_letter_keep_seconds,
        ),
    )


async def _through_outages(topic: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()`` again and again while it fails for the store being away, with backoff;
    one line in the log when it goes, one when it is back, not one per try."""
    wait, since = STORE_WAIT_FIRST, None
    while True:
        try:
            result = await attempt()
        except STORE_AWAY as e:
            if since is None:
                since = time.monotonic()
                log.warning(
                    "the store is away (%s: %s): holding a record from %s until it is back",
                    type(e).__name__,
                    e,
                    topic,
                )
            await asyncio.sleep(wait * random.uniform(0.8, 1.0))
            wait = min(STORE_WAIT_LONGEST, wait * 2)
            continue
        if since is not None:
            log.info(
                "the store is back: the record from %s held %.1f s went through",
                topic,
                time.monotonic() - since,
            )
        return result


async def handle_city_event(raw: bytes, deps: CityEvents) -> int:
    kind = loads_any(raw, CITY_EVENT_TYPES)["type"]
    if kind == DIGEST_DUE:  # scheduled here by an earlier release; on ``digests`` now
        return await release_digest_due(raw, deps)
    if kind == FALLBACK_DUE:  # a web push alert that was not delivered
        deps.metrics.events.labels("fallbackdue").inc()
        fallback = FallbackDue.from_wire(raw)
        await deps.cities.ensure(fallback.city)  # its areas, to name them in the message
        return await release_fallback(deps, fallback)
    event = decode_city_event(raw)
    await deps.cities.require(event.city)  # its areas, to match: loaded if made since we started
    deps.metrics.events.labels(type(event).__name__.lower()).inc()
    if isinstance(event, Announcement):
        return await expand_announcement(event, deps)
    return await expand_cancellation(event, deps)


async def release_digest_due(raw: bytes, deps: DigestsDue) -> int:
    """A digest due (the scheduler's, at its hour): released once nothing more urgent goes in
    this worker (``streams.delivery.lanes``: digests last)."""
    digest = DigestDue.from_wire(raw)
    await deps.lanes.turn(DIGEST)
    deps.metrics.events.labels("digestdue").inc()
    await deps.cities.ensure(digest.city)  # its name and look, if made since we started
    return await release_digest(deps, digest)


async def release_scheduled(deps: Scheduling, now: float | None = None) -> int:
    """Publish the scheduled records whose time has come (retries, for now)."""
    return await release(deps.scheduler, list(deps.catalogues), deps.publish, now)


async def sweep_outbox(deps: Outbox, now: float | None = None) -> int:
    """Republish the events of every city still pending after ``SWEEP_AFTER_SECONDS``."""
    now = time.time() if now is None else now
    n = 0
    for city in deps.catalogues:
        for eid, record in await deps.events.due(city, now - SWEEP_AFTER_SECONDS, now):
            await deps.publish(deps.topics.city_events, eid.encode(), record)
            n += 1
    if n:
        log.info("outbox sweep republished %d event(s)", n)
    return n
