"""Logging for every ``notifier`` process: text for a terminal, JSON lines for production.

``NOTIFIER_LOG_FORMAT=json`` writes one JSON object per line: ``ts`` (UTC, ISO 8601), ``level``,
``logger``, ``component`` (api, worker, up, or the command), ``message``, then every structured
field a call passed as ``extra`` (the canonical delivery line carries ``notification_id``,
``channel``, ``provider``, ``outcome``, ``duration_ms``, ``error``) and ``exc`` for a traceback.
In the worker, a record logged while a Kafka record is handled also carries ``topic``,
``partition``, ``offset`` and the record's key under its meaning (``event_id`` on the event and
delivery topics, ``request_id`` on request-status, ``provider_id`` on receipts).

The canonical delivery line is written straight to the handler ``setup`` installed, without a
``LogRecord``, by the channels the composition root gives ``attempt_lines()`` (``AttemptLines``):
the same text, at a third to a half of the cost. It is one line per hand-off, the busiest line
there is.

Personal data stays out in both formats: we never log an address on purpose, and as a second
line of defence every string is masked before it is written (email addresses, phone numbers,
the path of URLs, the password of a URL, long random tokens), so a provider's error text such as
``550 <alice@example.org>: no such user`` or ``The 'To' number +33612345678 is not valid``
cannot carry one into the logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import IO, Any

from channels import NAMES as CHANNELS
from channels import base as channels_base
from notifier.settings import Settings
from streams.topics import TopicNames

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUIET = {
    "aiokafka": logging.WARNING,
    "mail.log": logging.WARNING,
    "twilio": logging.WARNING,  # it logs every request at INFO, with the recipient's number
}

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# +33612345678, %2B33612345678 (form-encoded), 0033612345678, 06 12 34 56 78; written to start
# with one character class, which the regex engine scans for quickly (this runs on every line)
_PHONE = re.compile(
    r"[+%0](?:(?<=\+)\d[\d .-]{6,18}\d"
    r"|(?<=%)2[Bb]\d[\d .-]{6,18}\d"
    r"|(?<=0)(?<!\w0)(?:0\d[\d .-]{6,18}\d|[1-9](?:[ .-]?\d\d){4}(?!\w)))"
)
# the path of a URL (push endpoints are capability URLs; links carry signed tokens) and the
# password in one (smtp://user:password@host)
_URL = re.compile(
    r"\b([a-z][a-z0-9+.-]*://)(?:([^\s/:@]*):[^\s/@]+@)?([^\s/?#\"'<>]*)([^\s\"'<>]*)", re.I
)
# random base64url of 32 characters or more (signed links, department keys, VAPID and push
# keys) mixes upper case, lower case and digits; our ids (ntf_…, evt_…, confirmation-cp_…-…,
# topic and group names) are lower case, so they stay readable
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,}(?:\.[A-Za-z0-9_-]+)*")
MASK = "…"
# one encoder for every line (``json.dumps`` with options builds a new one each call)
_dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode
_string = json.encoder.encode_basestring  # what ``_dumps`` writes for a str, quotes included

# attributes every LogRecord has: whatever else a record carries came from ``extra``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


# one lower-case word (our ids, names, statuses): no address, link or token fits in it, and any
# 0 in it follows a letter or a digit, so it starts no phone number
_PLAIN_WORD = re.compile(r"[a-z][a-z0-9_]{0,30}")
# a delivery line's id, channel, provider and outcome, each a plain word: one test for the four
_PLAIN_FIELDS = re.compile(r"(?:[a-z][a-z0-9_]{0,30} ){3}[a-z][a-z0-9_]{0,30}")


def redact(text: str) -> str:
    """``text`` without email addresses, phone numbers, URL paths and passwords, or tokens."""
    if _PLAIN_WORD.fullmatch(text):  # most fields of a delivery line: nothing to look for
        return text

    def url(m: re.Match[str]) -> str:
        scheme, user, host, rest = m.groups()
        login = "" if user is None else f"{user}:{MASK}@"
        return f"{scheme}{login}{host}{'/' + MASK if rest.strip('/') else rest}"

    # cheap tests first: this runs on every line, one per delivery attempt among them
    if "://" in text:
        text = _URL.sub(url, text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    text = _PHONE.sub("<phone>", text)
    return _TOKEN.sub(_token, text) if len(text) >= 32 else text


def _token(m: re.Match[str]) -> str:
    word = m.group(0)
    mixed = any(c.isupper() for c in word) and any(c.islower() for c in word)
    return MASK if mixed and any(c.isdigit() for c in word) else word


def _clean(value: Any) -> Any:
    if value is None or type(value) in (int, float, bool):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    _made: tuple[int, str] = (-1, "")  # a second, its date and time of day (one assignment)

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def ts(self, created: float) -> str:
        """``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``, the date
        and time of day made once a second (2 µs a line)."""
        fraction, whole = math.modf(created)
        second, us = int(whole), round(fraction * 1e6)  # as ``fromtimestamp`` rounds
        if us >= 1_000_000:
            second, us = second + 1, us - 1_000_000
        elif us < 0:
            second, us = second - 1, us + 1_000_000
        made, stamp = self._made
        if second != made:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._made = (second, stamp)  # another thread reads the pair whole
        return f"{stamp}.{us // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.ts(record.created),
            "level": record.levelname,
            "logger": record.name,
            "component": self.component,
            "message": redact(record.getMessage()),
        }
        fields = vars(record)
        for name in [n for n in fields if n not in _STANDARD]:  # what ``extra`` brought
            if name not in out and name[0] != "_":
                out[name] = _clean(fields[name])
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exc"] = redact(record.exc_text)
        if record.stack_info:
            out["stack"] = redact(self.formatStack(record.stack_info))
        return _dumps(out)


class TextFormatter(logging.Formatter):
    _made: tuple[int, str] = (-1, "")  # a second, its date and time of day (one assignment)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """As ``logging`` writes it (``2026-11-26 05:30:00,123``), formatted once a second."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self.asctime(record.created, int(record.msecs))

    def asctime(self, created: float, msecs: int) -> str:
        second = int(created)
        made, stamp = self._made
        if second != made:
            stamp = time.strftime(self.default_time_format, self.converter(created))
            self._made = (second, stamp)  # another thread reads the pair whole
        return f"{stamp},{msecs:03d}"


class KafkaRecordContext(logging.Filter):
    """Adds the Kafka record a worker is handling (Faust's ``current_event``) to each log
    record: topic, partition, offset, and the record's key under its meaning."""

    def __init__(self, names: TopicNames) -> None:
        import faust  # only the worker installs this filter, and it runs Faust anyway

        super().__init__()
        self.current_event = faust.current_event
        self.key_field = {
            names.city_events: "event_id",
            names.fanout: "event_id",
            **{names.deliveries(channel): "event_id" for channel in CHANNELS},
            names.request_status: "request_id",
            names.receipts: "provider_id",
        }
        self._json: tuple[object, str] = (None, "")  # the record, its fields as JSON

    def fields(self) -> dict[str, Any]:
        """The record being handled, as fields of a log line; none outside one."""
        event = self.current_event()
        if event is None:
            return {}
        message = event.message
        fields: dict[str, Any] = {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
        }
        field = self.key_field.get(message.topic)
        if field and isinstance(message.key, bytes) and message.key:
            fields[field] = message.key.decode("utf-8", "replace")
        return fields

    def json_fields(self) -> str:
        """``fields`` as the end of a JSON line (``, "topic": …``), made once per Kafka record:
        a batch's hundreds of delivery lines share it (4 µs a line made each time)."""
        event = self.current_event()
        cached_for, text = self._json
        if event is not cached_for:
            text = "".join(f', "{n}": {_dumps(_clean(v))}' for n, v in self.fields().items())
            self._json = (event, text)  # the record itself, not its id: it stays the same one
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in self.fields().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class Handler(logging.StreamHandler[IO[str]]):
    """``setup``'s handler. The delivery lines ``AttemptLines`` made during a turn of the event
    loop wait in ``pending`` and go out together at its end, in one write; any other record
    writes them first, and so does ``flush`` (``logging.shutdown``, at exit), so every line
    keeps its place."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self.pending: list[str] = []

    def _write_pending(self) -> None:
        if self.pending:
            lines, self.pending = "".join(self.pending), []
            self.stream.write(lines)

    def emit(self, record: logging.LogRecord) -> None:
        if self.pending:  # ``handle`` holds the lock
            try:
                self._write_pending()
            except Exception:
                self.handleError(record)
        super().emit(record)

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()
        super().flush()


class AttemptLines:
    """``channels.base``'s canonical line (one per hand-off), written by ``setup``'s handler
    without going through ``logging``, for the channels given it (``Channel.attempt_lines``):
    the text its formatter would make of the record ``logging`` would build, Kafka context
    included.

    Through ``logging`` the line cost 36-38 µs in an SMS channel's send (the record, the logger
    hierarchy, the formatter, the whole line searched for personal data), a sixth of the
    hand-off; written here, 12-14 (JSON: 55, and 30 here; ``bench/README.md``). In an event
    loop, the lines of one turn go out together at its end (``Handler``): a write and a flush
    a line cost another 5 µs. A worker killed with SIGKILL loses the lines of the turn it was
    in; the ledger has every outcome.

    Only the fields that vary are masked, one by one: the rest of the line is ours, and a
    field's neighbours (``=`` and a space) end every pattern ``redact`` looks for, so the result
    is the same. When the configuration is not ``setup``'s
    (another handler or filter, the logger off or below INFO), it declines and the line goes
    through ``logging``; that is looked at once a turn."""

    LOGGER = channels_base.log.name

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        parts = self.LOGGER.split(".")  # the logger, its parents, the root
        names = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
        self.chain = [*map(logging.getLogger, names), logging.getLogger()]
        self._due: asyncio.AbstractEventLoop | None = None  # the loop a write is due in

    def _declines(self) -> bool:
        h, log, root = self.handler, self.chain[0], self.chain[-1]
        return (
            len(root.handlers) != 1
            or root.handlers[0] is not h
            or not log.isEnabledFor(logging.INFO)
            or h.level > logging.INFO
            or any(c.filters for c in self.chain)
            or any(c.handlers or not c.propagate for c in self.chain[:-1])
            or any(type(f) is not KafkaRecordContext for f in h.filters)
        )

    def __call__(
        self,
        notification_id: str,
        channel: str,
        provider: str,
        outcome: str,
        ms: float,
        error: str | None,
    ) -> bool:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if (loop is None or self._due is not loop) and self._declines():
            return False
        line = self._line(notification_id, channel, provider, outcome, ms, error)
        if line is None:
            return False
        h = self.handler
        h.acquire()
        try:
            h.pending.append(line + h.terminator)
        finally:
            h.release()
        if loop is None:  # no turn to wait for
            return self._write()
        if self._due is not loop:
            self._due = loop
            loop.call_soon(self._write)
        return True

    def _write(self) -> bool:
        self._due = None
        try:
            self.handler.flush()
        except Exception:  # the stream is gone: as ``logging`` reports it
            if logging.raiseExceptions:
                traceback.print_exc(file=sys.stderr)
            return False
        return True

    def _line(
        self,
        notification_id: str,
        channel: str,
        provider: str,
        outcome: str,
        ms: float,
        error: str | None,
    ) -> str | None:
        h = self.handler
        created = time.time()
        nid = notification_id
        if not _PLAIN_FIELDS.fullmatch(f"{nid} {channel} {provider} {outcome}"):
            nid, channel = redact(nid), redact(channel)
            provider, outcome = redact(provider), redact(outcome)
        message = channels_base.ATTEMPT % (nid, channel, provider, outcome, ms)
        formatter = h.formatter
        if type(formatter) is TextFormatter and formatter._fmt == TEXT_FORMAT:
            msecs = int((created - int(created)) * 1000)
            return f"{formatter.asctime(created, msecs)} INFO {self.LOGGER} {message}"
        if type(formatter) is JsonFormatter:
            # what ``JsonFormatter.format`` writes, key by key (the tests compare the two)
            ts = formatter.ts(created)
            line = (
                f'{{"ts": "{ts}", "level": "INFO", "logger": "{self.LOGGER}", '
                f'"component": {_string(formatter.component)}, "message": {_string(message)}, '
                f'"notification_id": {_string(nid)}, "channel": {_string(channel)}, '
                f'"provider": {_string(provider)}, "outcome": {_string(outcome)}, '
                f'"duration_ms": {round(ms, 1)!r}, '
                f'"error": {"null" if error is None else _string(redact(error))}'
            )
            for f in h.filters:
                if isinstance(f, KafkaRecordContext):  # the only kind ``_declines`` lets by
                    line += f.json_fields()
            return line + "}"
        return None


def setup(settings: Settings, component: str, stream: IO[str] | None = None) -> Handler:
    """Configure the root logger from the settings; the handler it installed. The process's
    start calls it once, first: it also turns off what ``logging`` looks up for every record
    and no format of ours shows."""
    handler = Handler(stream or sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(component))
    else:
        handler.setFormatter(TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # what no format of ours shows, not looked up for every record (the logging HOWTO's
    # "Optimization"): the caller's file and line, the thread, the process
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(max(level, root.level))
    logging.captureWarnings(True)  # warnings become records, so JSON output stays JSON
    return handler


def attempt_lines() -> AttemptLines | None:
    """The writer of the delivery lines for the channels (``Channel.attempt_lines``): to the
    handler ``setup`` installed; none when the root logger has no such handler (the channels'
    lines then go through ``logging``)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, Handler):
            return AttemptLines(handler)
    return None


def add_kafka_context(settings: Settings) -> None:
    """In the worker: every record logged while a Kafka record is handled names that record."""
    context = KafkaRecordContext(TopicNames.with_prefix(settings.topic_prefix))
    for handler in logging.getLogger().handlers:
        handler.addFilter(context)
