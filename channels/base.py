"""The Channel contract.

``Channel.send()`` is the template method: it times the provider call, logs one canonical line
per attempt (notification id, channel, provider, outcome, duration; never the address), and
translates provider errors into ``TransientChannelError`` (try again) or
``PermanentChannelError`` (do not). Subclasses implement ``_send()`` and ``close()``.

The line goes through ``logging`` (logger ``notifier.delivery``), unless the channel was given a
direct writer (``attempt_lines``; the composition root gives its channels the one of the
process's logging, ``notifier.logs.AttemptLines``): that writer writes the same line without a
``LogRecord`` and says when the configuration is not one it writes for (in an event loop it
writes at the end of the loop's turn: a stream that fails then is reported on stderr, as
``logging`` reports it, and those lines are lost).

A channel with ``deadlines`` (``Deadlines``: the HTTP ones) has ``send`` cut the provider call
at its time limit, a ``TransientChannelError``; the others leave it to their client (aiosmtplib
times each SMTP command).

What the rest of the service asks of a channel besides ``send``, so that it never names a
provider (``channels/__init__.py``):

- ``messages(batch, origin)``: once a batch, what its messages share found (a sender, a payload
  per language); it returns the builder of one recipient's message from its contact point, the
  only per-message work (the sender's hot path: keep it to building the message);
- ``PermanentChannelError.contact_status`` and ``how``: a refusal that says the address is gone
  for good, and what the contact point becomes in the consent ledger;
- ``receipt(status, error_code)``: what a provider's status callback means for the ledger
  (``Receipted``), for a provider that sends them (``receipts``: its ids are indexed then).
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import email.utils
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger("notifier.delivery")
ATTEMPT = "delivery notification=%s channel=%s provider=%s outcome=%s duration_ms=%.1f"

# (notification id, channel, provider, outcome, duration in ms, error) -> written? False: the
# logging configuration is not the one it writes for, and the line goes through ``logging``
AttemptWriter = Callable[[str, str, str, str, float, str | None], bool]


def log_attempt(
    notification_id: str, channel: str, provider: str, outcome: str, ms: float, error: str | None
) -> None:
    """The canonical line of one attempt, through ``logging``; ``error`` is the provider's
    words, masked by the logs."""
    log.info(
        ATTEMPT,
        notification_id,
        channel,
        provider,
        outcome,
        ms,
        extra={  # the same, as fields for JSON logs (never the address)
            "notification_id": notification_id,
            "channel": channel,
            "provider": provider,
            "outcome": outcome,
            "duration_ms": round(ms, 1),
            "error": error,  # the provider's words may hold the address: logs mask it
        },
    )


class ChannelError(Exception):
    """A provider did not take a message. ``recipient_fault``: the recipient's own endpoint
    failed while the provider works (a push endpoint that hangs while its service answers
    others), which the caller counts against the contact point; never a provider's outage."""

    def __init__(
        self, reason: str, retry_after: float | None = None, recipient_fault: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.recipient_fault = recipient_fault


class TransientChannelError(ChannelError):
    """The provider may take the message later (SMTP 4xx, HTTP 429/5xx, timeouts)."""


class PermanentChannelError(ChannelError):
    """The provider will never take this message (SMTP 5xx, invalid recipient). A provider's
    word that the address itself is gone for good is a subclass naming what the contact point
    becomes (``contact_status``: bounced, opted_out, gone, suspended) and how the consent ledger
    tells it (``how``); none: the contact point stays as it is."""

    contact_status: str | None = None
    how: str = ""


@dataclasses.dataclass(frozen=True)
class Sent:
    """The provider accepted the message; ``provider_id`` lets receipts find it again."""

    provider_id: str


@dataclasses.dataclass(frozen=True)
class Receipted:
    """What a provider's receipt means: the ledger's status for the message, the error kept
    with it, and what the contact point becomes (and how), when the receipt says it is gone."""

    status: str  # sent, delivered, undelivered, failed
    error: str | None = None
    contact_status: str | None = None
    how: str = ""


class Batch(Protocol):
    """What a batch's messages share, as the sender hands it to ``Channel.messages``
    (``streams.records.DeliveryBatch``)."""

    @property
    def event(self) -> str: ...
    @property
    def kind(self) -> str: ...  # announcement, cancellation, confirmation, digest…
    @property
    def severity(self) -> str: ...
    @property
    def expires_at(self) -> float | None: ...
    @property
    def variants(self) -> Mapping[str, Mapping[str, str]]: ...  # language -> its parts
    @property
    def unsubscribe_mark(self) -> str: ...  # stands in the bodies for a recipient's link


class Addressee(Protocol):
    """One recipient of a batch (``streams.records.Recipient``)."""

    @property
    def id(self) -> str: ...  # the notification id
    @property
    def language(self) -> str: ...
    @property
    def unsubscribe_url(self) -> str: ...


class Address(Protocol):
    """Where a recipient is reached (``subscriptions.contacts.ContactPoint``)."""

    @property
    def address(self) -> str: ...  # email address, E.164 number, push endpoint
    @property
    def p256dh(self) -> str: ...  # a push subscription's keys ("" for the others)
    @property
    def auth(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a batch's messages come from, in its city: the city's own sender on the channel
    ("": the channel's), its Reply-To, where the provider posts its receipts, the city's site
    (where a message leads when its own link cannot be carried) and icon."""

    sender: str = ""
    reply_to: str = ""
    receipts_url: str | None = None
    site: str = ""
    icon_url: str = ""


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Deadlines:
    """A time limit for each of many concurrent calls, at the cost of a timer per tick.

    A call (its task) joins the set of the tick its limit ends in: ``timeout`` from now,
    rounded up to the next tick (a tenth of ``timeout``, a second at most), so it is cut after
    ``timeout`` and before ``timeout`` + a tick. The tick's one timer cancels the calls still in
    its set. aiohttp's own total timeout puts a timer of its own on the event loop's heap for
    every request, and takes it off again: 10-13 µs of a 200-350 µs hand-off
    (``bench/README.md``)."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("a timeout is > 0 seconds")
        self.timeout = timeout
        self.tick = min(1.0, timeout / 10)
        self._sets: dict[int, set[asyncio.Task[Any]]] = {}
        self._cut: set[asyncio.Task[Any]] = set()  # cancelled here, not yet told
        self._loop: asyncio.AbstractEventLoop | None = None  # whose timers the ticks have

    def join(self, task: asyncio.Task[Any]) -> set[asyncio.Task[Any]]:
        """``task`` cut at its deadline unless it leaves the set returned first."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the ticks' timers were another loop's
            self._loop, self._sets = loop, {}
        tick = math.ceil((loop.time() + self.timeout) / self.tick)
        waiting = self._sets.get(tick)
        if waiting is None:
            waiting = self._sets[tick] = set()
            loop.call_at(tick * self.tick, self._expire, tick)
        waiting.add(task)
        return waiting

    def _expire(self, tick: int) -> None:
        for task in self._sets.pop(tick, ()):
            if task.cancel():
                self._cut.add(task)

    def was_cut(self, task: asyncio.Task[Any]) -> bool:
        """Whether the ``CancelledError`` ``task`` got is this deadline's alone (then it is
        taken back: the task goes on). The cancellation lands where the task waits in the
        call, as the call leaves its set as soon as it is over."""
        if task not in self._cut:
            return False
        self._cut.discard(task)
        return task.uncancel() == 0  # cancelled for another reason too: that one goes on

    def leave(self, task: asyncio.Task[Any], waiting: set[asyncio.Task[Any]]) -> None:
        waiting.discard(task)
        if task in self._cut:  # cut, and the call swallowed the cancellation: take it back
            self._cut.discard(task)
            task.uncancel()


M = TypeVar("M")


class Channel(abc.ABC, Generic[M]):
    name: str = ""  # one of ``channels.NAMES``
    provider: str = ""  # as receipts name it (``streams.records.Receipt.provider``)
    receipts = False  # the provider tells of delivery later (``receipt``): its ids are indexed
    deadlines: Deadlines | None = None  # none: the provider's client keeps its own time limit
    # writes the line of each attempt first; none, or False from it: ``logging`` writes it
    attempt_lines: AttemptWriter | None = None

    async def send(self, notification_id: str, message: M) -> Sent:
        start = time.perf_counter()
        outcome = "error"
        deadlines = self.deadlines
        try:
            if deadlines is None:
                sent = await self._send(message)
            else:  # cut at the time limit (here, not in a coroutine of its own: one a message)
                task = asyncio.current_task()
                assert task is not None  # a coroutine the event loop runs
                waiting = deadlines.join(task)
                try:
                    sent = await self._send(message)
                except asyncio.CancelledError:
                    if not deadlines.was_cut(task):
                        raise
                    why = f"{self.provider} timeout: no answer within {deadlines.timeout:g} s"
                    fault = self.recipient_fault(message)
                    raise TransientChannelError(why, recipient_fault=fault) from None
                finally:
                    deadlines.leave(task, waiting)
            outcome = "sent"
            return sent
        except ChannelError as e:
            outcome = "transient" if isinstance(e, TransientChannelError) else "permanent"
            raise
        finally:
            ms = (time.perf_counter() - start) * 1000
            error = None
            if outcome != "sent":  # then sys.exc_info() is what propagates
                failure = sys.exc_info()[1]
                error = type(failure).__name__
                if isinstance(failure, ChannelError):
                    error = failure.reason
            lines = self.attempt_lines
            if lines is None or not lines(
                notification_id, self.name, self.provider, outcome, ms, error
            ):
                log_attempt(notification_id, self.name, self.provider, outcome, ms, error)

    def messages(self, batch: Batch, origin: Origin) -> Callable[[Addressee, Address], M]:
        """A batch's message for each recipient: what they share found here, once a batch."""
        raise NotImplementedError(f"{type(self).__name__} builds no messages")

    @classmethod
    def receipt(cls, status: str, error_code: str) -> Receipted | None:
        """What the provider's receipt of a message says; None: nothing for the ledger."""
        return None

    def recipient_fault(self, message: M) -> bool:
        """Whether a call cut at its time limit is the recipient's fault (``ChannelError``)."""
        return False

    @abc.abstractmethod
    async def _send(self, message: M) -> Sent: ...

    @abc.abstractmethod
    async def close(self) -> None: ...
