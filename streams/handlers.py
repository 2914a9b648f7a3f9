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
- ``sender_at_once``: a small batch sent by the worker that wrote it, not through its topic.
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
from streams.deps import (
    CityEvents,
    DeadLettering,
    Deps,
    DigestsDue,
    Outbox,
    Scheduling,
    Sending,
    SendNow,
)
from streams.records import DeliveryBatch, dead_letter, loads_any
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
    "sender_at_once",
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


async def send_batch_at_once(raw: bytes, deps: Sending) -> dict[str, int]:
    return await send_batch(raw, deps, at_once=True)


# how long the worker that wrote a small batch waits for it to go out before it writes the
# record to its topic after all (a provider slow to answer must not hold its next events)
AT_ONCE_WAITS_AT_MOST = 2.0


def sender_at_once(deps: Deps) -> SendNow:
    """A small batch (an event of up to ``expand.BATCH_SIZE`` recipients), sent by the worker
    that matched it, while it holds the large lanes (``streams.delivery.lanes``), instead of
    through its topic: there its record waits for a sender's next fetch (Tansu holds a fetch
    for its whole wait, ``streams.app.FETCH_MAX_WAIT_MS``) and the large lanes start again
    meanwhile. Measured in ``bench/citywide.py``: bench/README.md, session 10.

    Nothing is lost: the city event's record is acknowledged only once this returns, so a crash
    meanwhile has it expanded again, and what is still pending sent (the claims of the dead
    worker taken back once its heartbeat lapses). A batch not out within
    ``AT_ONCE_WAITS_AT_MOST`` seconds (a slow provider, the store away), or in a channel with a
    rate limit in its city (it goes at the limit's pace), is written to its topic: its sender
    there takes what this run has not claimed (the run is a holder of its own:
    ``send._holder``). True when it went out here."""
    going: set[asyncio.Future[None]] = set()

    async def send_now(topic: str, raw: bytes, batch: DeliveryBatch) -> bool:
        if (
            batch.channel not in deps.channels
            or deps.limiter.rate(batch.city, batch.channel) is not None
        ):
            return False
        run = asyncio.ensure_future(guarded(topic, raw, deps, send_batch_at_once))
        going.add(run)  # held until it ends, however long the wait below
        run.add_done_callback(going.discard)
        done, _ = await asyncio.wait({run}, timeout=AT_ONCE_WAITS_AT_MOST)
        return bool(done)

    return send_now


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
