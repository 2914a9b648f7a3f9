"""Hand each message of a batch to its provider once, and record the outcome in the ledger.

Before the provider call, in order: consent (the contact point must still be confirmed, or
pending for a confirmation request), staleness (the event cancelled, or a newer version out),
expiry, and the ledger claim that makes the hand-off happen once. Transient refusals are retried
later through the scheduler, with exponential backoff and jitter (``Scheduler.retry``), for as
long as the backoff allows and never past the event's expiry; a permanent one, or the last
transient one, ends ``failed`` with its reason and a dead letter (and, for a web push alert, a
fallback to the citizen's SMS or email where they asked for it:
``streams.delivery.fallback``). Every provider call waits for its token in the city's rate limit
first. A provider saying the address is gone for good (a bounce, STOP, a push subscription 404/410,
a push endpoint the outbound guard refuses) switches that contact point off in the consent ledger;
so do ``strikes.STRIKES`` failures of its own endpoint in a day (``ChannelError.recipient_fault``).

A batch is taken in chunks of ``CHUNK_PER_SENDER * send_concurrency`` messages: a chunk's
contact points are read in one script call (a thousand at most) and its messages claimed in
another, the next chunk while the one before is still going (the first messages go as soon as
the first chunk is claimed, not once every contact point of the batch is read). Its messages go
to the provider ``send_concurrency`` at a time; what the provider took is written ``sent`` by
one script call each time a chunk's worth has been taken (a write per message cost the worker
more than a quarter of its time). So at most a chunk's worth, plus the messages then in flight
(``(CHUNK_PER_SENDER + 1) * send_concurrency`` in all), is between the provider's acceptance and
the ledger write: what a crash, or the store going away, can leave taken by the provider and not
recorded (sent again when its claim is taken back). Once the store has failed, the batch hands
nothing more over: the record is held and the batch run again once the store is back, and that
run takes back the claims the first left (``_holder``); another worker, or this one restarted,
takes them back once their holder has stopped beating (``Ledger.liveness``), at the latest when
their lease lapses.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from channels.base import Origin, PermanentChannelError, TransientChannelError
from channels.connections import PRECEDENCE
from streams.delivery.fallback import FROM_CHANNELS, FallbackDue
from streams.delivery.lanes import LANES, SMALL
from streams.deps import Sending
from streams.metrics import observe_many
from streams.records import DeliveryBatch, Recipient, dead_letter
from streams.state import dead_letters, quotas
from streams.state.ledger import LEASE_SECONDS, STORE_AWAY
from subscriptions import strikes
from subscriptions.contacts import ContactPoint
from templates import BATCH_KINDS

log = logging.getLogger("notifier.send")
CHUNK_PER_SENDER = 4  # a batch is claimed in chunks of this many times SEND_CONCURRENCY


def unrecorded_at_most(send_concurrency: int) -> int:
    """The most messages a batch can have handed over and not yet written in the ledger: what
    a crash can send twice (the module's docstring)."""
    return (CHUNK_PER_SENDER + 1) * send_concurrency


# the contact points a batch of each kind may reach: confirmed ones (a confirmation: pending too)
ALLOWED = {
    kind: ("pending", "confirmed") if kind == "confirmation" else ("confirmed",)
    for kind in BATCH_KINDS
}


async def send_batch(
    raw: bytes, deps: Sending, lane: str = SMALL, at_once: bool = False
) -> dict[str, int]:
    """Hand each notification of a batch over once; the outcome counts of this call.

    The batch is claimed a chunk at a time (the module's docstring), so claims are never held
    for long and a rate-limited batch does not outlive the claims' lease. Every recipient is
    dealt with before the batch may fail. ``lane``: the batch's (``streams.delivery.lanes``); a
    large lane's batch gives way to the more urgent ones before each message. ``at_once``: sent
    by the worker that wrote it, before (or instead of) its record on the topic
    (``streams.handlers.sender_at_once``)."""
    batch = DeliveryBatch.from_wire(raw)
    await deps.cities.ensure(batch.city)  # its senders and quotas, if made since we started
    sender = _Sender(batch, deps, lane, _holder(raw, deps, at_once))
    stale = await _stale(batch, deps)
    if stale:
        await sender.end([(r, stale, None) for r in batch.recipients])
    else:
        with deps.lanes.going(lane, batch.channel, paced=lane == SMALL and sender.limited):
            await sender.run(batch.recipients)
    outcomes = sender.outcomes
    await deps.quotas.settle(batch.city, batch.channel, sender.quota, outcomes.get("sent", 0))
    if sender.outside_quota and outcomes.get("sent"):
        deps.metrics.over_quota_alerts.labels(batch.city, batch.channel).inc(outcomes["sent"])
    for outcome, n in outcomes.items():
        deps.metrics.notifications.labels(batch.channel, outcome).inc(n)
    if sender.errors:
        # the batch is held and tried again while the store is away (``handlers.guarded``), or
        # goes to dead letters with the reason; either is safe
        errors = sender.errors
        raise next((e for e in errors if isinstance(e, STORE_AWAY)), errors[0])
    return outcomes


def _holder(raw: bytes, deps: Sending, at_once: bool = False) -> str:
    """Who claims a batch's messages: this process and this batch. Run again here (the store
    was away: ``handlers.guarded``), the batch takes back at once what it had claimed, as the
    first run is over; another worker, or this one after a restart (a new instance), waits
    until this instance has stopped beating, or for the lease. A run ``at_once`` is a holder
    of its own: the record's copy on the topic may come here while that run still goes."""
    digest = hashlib.blake2b(raw, digest_size=8).hexdigest()
    return f"{deps.instance}:{digest}{':at-once' if at_once else ''}"


_Claimed = tuple[Recipient, ContactPoint, int]  # the recipient, its contact, the attempt


class _Sender:
    """One batch's hand-off: ``send_concurrency`` senders take the claimed messages one after
    the other (the city's rate limit, if it has one, looked up once: one set meanwhile applies
    from the next batch). The next chunk is read, checked (consent, expiry) and claimed while
    the last messages of the one before are still going; what the provider took is written
    ``sent`` in one call once a chunk's worth has been taken. Once the store has failed,
    nothing more is handed over."""

    def __init__(
        self, batch: DeliveryBatch, deps: Sending, lane: str = SMALL, holder: str = ""
    ) -> None:
        self.batch, self.deps, self.lane, self.holder = batch, deps, lane, holder
        self.channel = channel = deps.channels.get(batch.channel)
        # a recipient's message from its contact point, from what the batch shares (found once)
        self.message = channel.messages(batch, origin(batch, deps)) if channel is not None else None
        configured = deps.city(batch.city).monthly_quotas.get(batch.channel)
        self.quota = quotas.quota_for(batch.severity, configured)
        self.outside_quota = configured is not None and self.quota is None
        self.limited = deps.limiter.rate(batch.city, batch.channel) is not None
        self.size = CHUNK_PER_SENDER * deps.send_concurrency
        self.outcomes: dict[str, int] = {}
        self.errors: list[BaseException] = []
        self.store_away = False
        self._chunks: collections.deque[Sequence[Recipient]] = collections.deque()
        self._queue: collections.deque[_Claimed] = collections.deque()
        self._claiming: asyncio.Task[None] | None = None
        self._accepted: list[tuple[Recipient, str, float]] = []  # recipient, provider id, when

    def failed(self, e: BaseException) -> None:
        self.errors.append(e)
        if isinstance(e, STORE_AWAY):
            self.store_away = True

    def _count(self, outcome: str, n: int = 1) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n

    async def end(self, ends: list[tuple[Recipient, str, str | None]]) -> None:
        """Final statuses without a hand-off (stale, skipped, expired), in one call."""
        if not ends:
            return
        b = self.batch
        await self.deps.ledger.advance_many(
            [(b.city, b.event, r.id, st, False, {"error": e} if e else {}) for r, st, e in ends]
        )
        for _, status, _ in ends:
            self._count(status)

    async def run(self, recipients: Sequence[Recipient]) -> None:
        size = self.size
        self._chunks.extend(recipients[i : i + size] for i in range(0, len(recipients), size))
        senders = min(self.deps.send_concurrency, len(recipients))
        # a shared connection goes to the most urgent lane's waiter first (the senders' tasks
        # take this from the context they are made in)
        precedence = PRECEDENCE.set(LANES.index(self.lane))
        try:
            await asyncio.gather(*(self._hand_over() for _ in range(senders)))
        finally:
            PRECEDENCE.reset(precedence)
        while self._claiming is not None:  # claimed ahead when the store went away: let it end
            await self._claiming
        if not self.store_away:
            try:
                await self._record()
            except Exception as e:
                self.failed(e)

    async def _hand_over(self) -> None:
        """One sender: the next claimed message, until none is left or the store is away."""
        while (item := self._ready() or await self._next()) is not None:
            try:
                self._count(await self._send(*item))
                if len(self._accepted) >= self.size:
                    await self._record()
            except Exception as e:  # the others go on, unless it is the store
                self.failed(e)

    def _ready(self) -> _Claimed | None:
        """The next claimed message, if one is there (none in a large lane, which first waits
        its turn: ``_next``)."""
        if self.store_away or self.lane != SMALL:
            return None
        self._claim_ahead()
        return self._queue.popleft() if self._queue else None

    async def _next(self) -> _Claimed | None:
        if self.lane != SMALL:
            await self.deps.lanes.turn(self.lane, self.batch.channel)
        while not self.store_away:
            self._claim_ahead()
            if self._queue:
                return self._queue.popleft()
            if self._claiming is None:
                return None
            await self._claiming
        return None

    def _claim_ahead(self) -> None:
        """The next chunk claimed while the queue still feeds every sender."""
        if len(self._queue) < self.deps.send_concurrency and self._claiming is None:
            if self._chunks:
                self._claiming = asyncio.ensure_future(self._claim(self._chunks.popleft()))

    async def _claim(self, recipients: Sequence[Recipient]) -> None:
        """A chunk's contact points read and checked, then its claims made in one call: what
        this worker now holds goes on the queue. Never raises: the batch hears of it
        (``failed``)."""
        b, deps = self.batch, self.deps
        try:
            contacts = await deps.store.contacts(b.city, [r.contact for r in recipients])
            pairs = zip(recipients, contacts, strict=True)
            ends: list[tuple[Recipient, str, str | None]] = []
            ready: list[tuple[Recipient, ContactPoint]] = []
            now = time.time()
            for r, cp in pairs:
                if cp is None or cp.status not in ALLOWED[b.kind]:
                    # consent first: the contact point was unsubscribed, erased or never confirmed
                    ends.append((r, "skipped", f"contact {cp.status if cp else 'gone'}"))
                elif b.expires_at is not None and b.expires_at <= now:
                    ends.append((r, "expired", None))
                else:
                    ready.append((r, cp))
            await self.end(ends)
            if self.channel is None:
                why = f"no {b.channel} provider in this worker"
                await self._each([_failed(b, r, why, deps) for r, _ in ready])
                return
            wanted = [(b.city, b.event, r.id) for r, _ in ready]
            attempts = await deps.ledger.claim_many(wanted, self.holder)
            claimed = list(zip(ready, attempts, strict=True))
            held = [_held_elsewhere(b, r, deps, self.lane) for (r, _), a in claimed if not a]
            await self._each(held)
            self._queue.extend((r, cp, a) for (r, cp), a in claimed if a)
        except Exception as e:
            self.failed(e)
        finally:
            self._claiming = None

    async def _each(self, steps: list[Coroutine[Any, Any, str]]) -> None:
        for result in await asyncio.gather(*steps, return_exceptions=True):
            if isinstance(result, BaseException):
                self.failed(result)
            else:
                self._count(result)

    async def _send(self, r: Recipient, cp: ContactPoint, attempt: int) -> str:
        b, deps, channel, message = self.batch, self.deps, self.channel, self.message
        assert channel is not None and message is not None  # none: nothing was claimed
        try:
            if self.quota is not None and not await deps.quotas.acquire(
                b.city, b.channel, self.quota
            ):
                spent = f"the city's monthly {b.channel} quota ({self.quota}) is spent"
                return await _failed(b, r, spent, deps)
            if self.limited and not deps.limiter.take_now(b.city, b.channel):
                await deps.limiter.wait(b.city, b.channel)
            sent = await channel.send(r.id, message(r, cp))
        except TransientChannelError as e:
            if e.recipient_fault and await strikes.strike(deps.store.redis, b.city, cp.id):
                # its endpoint keeps failing while its provider works: it stops costing others
                how = f"its endpoint failed {strikes.STRIKES} times in a day"
                await deps.store.set_contact_status(b.city, cp.id, "suspended", how)
                return await _failed(b, r, e.reason, deps)
            return await _retry_later(b, r, attempt, e, deps, self.lane)
        except PermanentChannelError as e:
            if e.contact_status is not None:  # the provider says the address is gone for good
                await deps.store.set_contact_status(b.city, cp.id, e.contact_status, e.how)
            return await _failed(b, r, e.reason, deps)
        except STORE_AWAY:
            raise  # the batch is held and run again once the store is back
        except Exception as e:  # building or handing over this one message: its failure alone
            log.exception("notification %s could not be built or handed over", r.id)
            return await _failed(b, r, f"could not be built or handed over: {_why(e)}", deps)
        self._accepted.append((r, sent.provider_id, time.time()))  # written with its chunk's worth
        return "sent"

    async def _record(self) -> None:
        """Write ``sent`` for what the provider took since the last write, in one script call.
        A provider's receipts name the message by its id: that is indexed (``Channel.receipts``)."""
        if not self._accepted:
            return
        b, deps = self.batch, self.deps
        accepted, self._accepted = self._accepted, []
        index = self.channel is not None and self.channel.receipts
        await deps.ledger.advance_many(
            [(b.city, b.event, r.id, "sent", index, {"provider_id": p}) for r, p, _ in accepted]
        )
        now = time.time()
        observe_many(deps.metrics.unrecorded.labels(b.channel), [now - w for _, _, w in accepted])
        if b.origin_at:
            latencies = [max(0.0, when - b.origin_at) for _, _, when in accepted]
            observe_many(deps.metrics.latency.labels(b.channel), latencies)


async def _held_elsewhere(
    batch: DeliveryBatch, r: Recipient, deps: Sending, lane: str = SMALL
) -> str:
    """Another sender holds the claim, or the message is done. A claim still ``sending`` may
    be a sender that crashed: look again as soon as its holder could be known dead (its last
    heartbeat lapses: ``Ledger.lapses``), and at the latest once its lease is over (the claim is
    taken back then and the message sent), so a crash never loses a message, nor holds it for
    long. Looked at again in its lane."""
    record = await deps.ledger.get(batch.city, r.id)
    if record.get("status") != "sending":
        return "already claimed"
    claimed = float(record.get("claimed_at") or time.time())
    when = min(claimed + LEASE_SECONDS + 1, await deps.ledger.lapses(record, claimed) + 1)
    one = dataclasses.replace(batch, recipients=(r,))
    topic = deps.topics.deliveries(batch.channel, lane)
    await deps.scheduler.later(batch.city, when, topic, batch.event.encode(), one.to_wire())
    return "in flight"


async def _stale(batch: DeliveryBatch, deps: Sending) -> str | None:
    """``cancelled`` or ``superseded`` when the batch's announcement must not go out."""
    if batch.kind != "announcement":
        return None
    status, version = await deps.events.state(batch.city, batch.event)
    if status == "cancelled":
        return "cancelled"
    if version > batch.version:
        return "superseded"
    return None


async def _retry_later(
    batch: DeliveryBatch,
    r: Recipient,
    attempt: int,
    e: TransientChannelError,
    deps: Sending,
    lane: str = SMALL,
) -> str:
    """Try again later through the scheduler, spaced by its backoff (``Scheduler.retry``:
    exponential with jitter, or as the provider asks), in the batch's lane (a city-wide
    alert's retries do not hold the large lanes as small batches would). When the next try
    would come after the event's expiry, or after the backoff's time to give up (from the
    first refusal), it has failed."""
    backoff = deps.scheduler.retry
    due = time.time() + backoff.wait(attempt, e.retry_after)
    last = f"{e.reason} (after {attempt} attempts)"
    if batch.expires_at is not None and due >= batch.expires_at:
        return await _failed(batch, r, last, deps)
    released = await deps.ledger.release(
        batch.city, batch.event, r.id, e.reason, due, backoff.give_up_after
    )
    if released == "given up":
        return await _failed(batch, r, last, deps)
    if released == "not held":  # its claim lapsed meanwhile: whoever took it back sends it
        return "already claimed"
    one = dataclasses.replace(batch, recipients=(r,))
    topic = deps.topics.deliveries(batch.channel, lane)
    await deps.scheduler.later(batch.city, due, topic, batch.event.encode(), one.to_wire())
    return "retrying"


async def _failed(batch: DeliveryBatch, r: Recipient, error: str, deps: Sending) -> str:
    """The dead letter (and the fallback) first, then the ledger: cut off in between (a crash,
    the store away), the message is still claimed and ends here again, not without its letter."""
    # the one-recipient batch: replaying the letter tries this message again
    one = dataclasses.replace(batch, recipients=(r,)).to_wire()
    topic = deps.topics.deliveries(batch.channel)
    deps.metrics.dead_letters.labels(topic).inc()
    letter = dead_letter(topic, one, f"delivery failed: {error}")
    await dead_letters.put(
        deps.store.redis,
        deps.publish,
        deps.topics.dead_letters,
        r.id.encode(),
        letter,
        deps.dead_letter_keep_seconds,
    )
    if batch.kind == "announcement" and batch.channel in FROM_CHANNELS:
        # the citizen may want it by SMS or email instead (``streams.delivery.fallback``)
        due = FallbackDue(batch.city, batch.event, batch.version, r.citizen, batch.channel, error)
        await deps.publish(deps.topics.city_events, batch.event.encode(), due.to_wire())
    await deps.ledger.advance(batch.city, batch.event, r.id, "failed", error=error)
    return "failed"


def origin(batch: DeliveryBatch, deps: Sending) -> Origin:
    """Where a batch's messages come from (``channels.base.Origin``): the city's own sender on
    the channel, if it has one, its Reply-To, where the provider posts receipts, the site and
    icon a message may lead to and show."""
    city = deps.city(batch.city)
    return Origin(
        sender=city.senders.get(batch.channel, ""),
        reply_to=city.reply_to,
        receipts_url=deps.receipts_url(batch.city),
        site=deps.base_url,
        icon_url=deps.renderer.brand.icon_url,
    )


def _why(e: Exception) -> str:
    """An unexpected error in a few words for the ledger (its type, and its message's start)."""
    words = " ".join(str(e).split())[:120]
    return f"{type(e).__name__}: {words}" if words else type(e).__name__
