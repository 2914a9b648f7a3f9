"""The Channel contract.

``Channel.send()`` is the template method: it times the provider call, logs one canonical line
per attempt (notification id, channel, provider, outcome, duration; never the address), and
translates provider errors into ``TransientChannelError`` (try again) or
``PermanentChannelError`` (do not). Subclasses implement ``_send()`` and ``close()``.

The line goes through ``logging`` (logger ``notifier.delivery``), unless the process's logging
setup installed a direct writer with ``write_attempt_lines_with`` (``notifier.logs`` does): that
writer writes the same line without a ``LogRecord`` and says when it cannot.
"""

from __future__ import annotations

import abc
import dataclasses
import email.utils
import logging
import sys
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("notifier.delivery")
ATTEMPT = "delivery notification=%s channel=%s provider=%s outcome=%s duration_ms=%.1f"

# (notification id, channel, provider, outcome, duration in ms, error) -> written?
AttemptWriter = Callable[[str, str, str, str, float, str | None], bool]
_write_directly: AttemptWriter | None = None


def write_attempt_lines_with(writer: AttemptWriter | None) -> None:
    """From now on ``Channel.send`` gives its line to ``writer`` first; when ``writer`` returns
    False (the logging configuration is not the one it writes for), to ``logging``."""
    global _write_directly
    _write_directly = writer


def log_attempt(
    notification_id: str, channel: str, provider: str, outcome: str, ms: float, error: str | None
) -> None:
    """The canonical line of one attempt; ``error`` is the provider's words, masked by the logs."""
    if _write_directly is not None and _write_directly(
        notification_id, channel, provider, outcome, ms, error
    ):
        return
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
    """A provider did not take a message."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class TransientChannelError(ChannelError):
    """The provider may take the message later (SMTP 4xx, HTTP 429/5xx, timeouts)."""


class PermanentChannelError(ChannelError):
    """The provider will never take this message (SMTP 5xx, invalid recipient)."""


@dataclasses.dataclass(frozen=True)
class Sent:
    """The provider accepted the message; ``provider_id`` lets receipts find it again."""

    provider_id: str


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


M = TypeVar("M")


class Channel(abc.ABC, Generic[M]):
    name: str = ""
    provider: str = ""

    async def send(self, notification_id: str, message: M) -> Sent:
        start = time.perf_counter()
        outcome = "error"
        try:
            sent = await self._send(message)
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
            log_attempt(notification_id, self.name, self.provider, outcome, ms, error)

    @abc.abstractmethod
    async def _send(self, message: M) -> Sent: ...

    @abc.abstractmethod
    async def close(self) -> None: ...
