"""Wire records: JSON objects with an explicit, versioned ``type`` (``DeliveryBatchQueued/1``).

Topics carry raw bytes and every agent decodes them here, so a record that does not decode is
caught by us (and sent to dead letters with the reason), never dropped inside Faust's
deserializer. The same validation serves the HTTP API, which answers 422 with the field.
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from channels import KINDS
from subscriptions import tokens
from subscriptions.errors import InvalidInput
from templates import BATCH_KINDS

# when the record being handled was written to its topic (the producer's clock, epoch seconds),
# as the agent that took it says (``streams.agents``): a log line can say how long the record
# waited on the event log before a worker took it; None outside an agent
WRITTEN_AT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "written_at", default=None
)
DELIVERY_BATCH = "DeliveryBatchQueued/1"
MAX_TITLE, MAX_BODY = 200, 5000
DEAD_LETTER = "DeadLettered/1"
RECEIPT = "ProviderReceiptReceived/1"


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def loads(raw: bytes, expected_type: str) -> dict[str, Any]:
    return loads_any(raw, (expected_type,))


def loads_any(raw: bytes, types: tuple[str, ...]) -> dict[str, Any]:
    """A JSON object whose ``type`` is one of ``types``, or ``InvalidInput`` saying why not."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput("record", f"not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidInput("record", "not a JSON object")
    if obj.get("type") not in types:
        expected = " or ".join(repr(t) for t in types)
        raise InvalidInput("type", f"expected {expected}, got {obj.get('type')!r}")
    return obj


def parse_time(value: object, field: str) -> float:
    if not isinstance(value, str):
        raise InvalidInput(field, "must be an ISO 8601 date-time string")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            field, "must be an ISO 8601 date-time, e.g. 2026-12-01T18:00:00+01:00"
        ) from None
    if dt.tzinfo is None:
        raise InvalidInput(field, "must include a UTC offset, e.g. +01:00 or Z")
    return dt.timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def dead_letter(
    topic: str, raw: bytes, reason: str, *, partition: int | None = None, offset: int | None = None
) -> bytes:
    """The record written to ``dead-letters``: where it came from, why, and the raw bytes."""
    try:
        text: str | None = raw.decode()
    except UnicodeDecodeError:
        text = None
    return dumps(
        {
            "type": DEAD_LETTER,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "reason": reason,
            "at": iso(time.time()),
            "raw": text if text is not None else None,
            "raw_base64": None if text is not None else base64.b64encode(raw).decode(),
        }
    )


# Where a batch's email bodies hold each recipient's unsubscribe URL (``DeliveryBatch``). A
# department's or a citizen's text may hold this very string: a batch whose text does is
# rendered with a mark of its own (``unsubscribe_mark``), written in the record.
UNSUBSCRIBE_PLACEHOLDER = "@@UNSUBSCRIBE_URL@@"
Variants = dict[str, dict[str, str]]  # language -> part -> text


def unsubscribe_url(secret_key: str, base_url: str, city: str, channel: str, contact: str) -> str:
    """A recipient's own one-click unsubscribe link (signed for their contact point), on the
    channels whose messages carry one (``channels.Kind.unsubscribe_link``); "" on the others."""
    if not KINDS[channel].unsubscribe_link:
        return ""
    return f"{base_url}/v1/unsubscribe/{tokens.sign(secret_key, 'unsubscribe', city, contact)}"


def unsubscribe_mark() -> str:
    """A mark no text can hold by chance or on purpose: to render a batch's variants with."""
    return f"@@UNSUBSCRIBE_URL_{secrets.token_hex(12)}@@"


def settle_mark(variants: Variants, mark: str) -> tuple[Variants, str]:
    """The variants rendered with ``mark`` and the mark their batch carries: the usual
    ``UNSUBSCRIBE_PLACEHOLDER`` (the record as every worker reads it) unless some text of
    theirs holds that string, in which case ``mark`` stays."""
    if any(UNSUBSCRIBE_PLACEHOLDER in t for v in variants.values() for t in v.values()):
        return variants, mark
    usual = {
        lang: {part: t.replace(mark, UNSUBSCRIBE_PLACEHOLDER) for part, t in v.items()}
        for lang, v in variants.items()
    }
    return usual, UNSUBSCRIBE_PLACEHOLDER


@dataclasses.dataclass(frozen=True)
class Recipient:
    id: str  # the notification id
    citizen: str
    contact: str
    to: str
    language: str
    unsubscribe_url: str = ""


@dataclasses.dataclass(frozen=True)
class DeliveryBatch:
    """Up to a few hundred messages of one event on one channel: rendered once per language,
    personalised by substituting ``unsubscribe_mark`` (``UNSUBSCRIBE_PLACEHOLDER`` unless the
    text holds that string: ``settle_mark``) per recipient."""

    city: str
    event: str
    kind: str  # one of templates.BATCH_KINDS
    variants: dict[str, dict[str, str]]  # language -> KINDS[channel].parts -> text
    recipients: tuple[Recipient, ...]
    expires_at: float | None = None
    version: int = 1  # of the announcement; an older one is superseded, not sent
    channel: str = "email"
    severity: str = "unknown"  # push urgency follows it
    origin_at: float = 0.0  # when the event was published (or the message made): for latency
    unsubscribe_mark: str = UNSUBSCRIBE_PLACEHOLDER

    def to_wire(self) -> bytes:
        # the mark is written only when it is not the usual one: such records read the same
        mark = (
            {}
            if self.unsubscribe_mark == UNSUBSCRIBE_PLACEHOLDER
            else {"unsubscribe_mark": self.unsubscribe_mark}
        )
        return dumps(
            {
                "type": DELIVERY_BATCH,
                "channel": self.channel,
                "severity": self.severity,
                "origin_at": self.origin_at,
                "city": self.city,
                "event": self.event,
                "kind": self.kind,
                "variants": self.variants,
                "recipients": [vars(r) for r in self.recipients],  # flat: no asdict copy
                "expires_at": iso(self.expires_at) if self.expires_at else None,
                "version": self.version,
                **mark,
            }
        )

    @classmethod
    def from_wire(cls, raw: bytes) -> DeliveryBatch:
        d = loads(raw, DELIVERY_BATCH)
        try:
            channel = d["channel"]
            if channel not in KINDS:
                raise InvalidInput("channel", f"must be one of {', '.join(KINDS)}")
            parts = KINDS[channel].parts
            variants = {str(k): {p: str(v[p]) for p in parts} for k, v in d["variants"].items()}
            recipients = tuple(Recipient(**r) for r in d["recipients"])
            if d["kind"] not in BATCH_KINDS:
                raise InvalidInput("kind", f"must be one of {', '.join(BATCH_KINDS)}")
            version = d.get("version", 1)
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise InvalidInput("version", "a whole number from 1")
            for r in recipients:
                if r.language not in variants:
                    raise InvalidInput("recipients", f"no variant in {r.language!r}")
            expires = parse_time(d["expires_at"], "expires_at") if d.get("expires_at") else None
            return cls(
                str(d["city"]),
                str(d["event"]),
                d["kind"],
                variants,
                recipients,
                expires,
                version,
                channel,
                str(d.get("severity", "unknown")),
                float(d.get("origin_at") or 0.0),
                str(d.get("unsubscribe_mark") or UNSUBSCRIBE_PLACEHOLDER),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise InvalidInput(
                "record", f"malformed {DELIVERY_BATCH}: {type(e).__name__}: {e}"
            ) from None


@dataclasses.dataclass(frozen=True)
class Receipt:
    """What a provider said about a message it took (a Twilio status callback)."""

    city: str
    provider: str
    provider_id: str
    status: str  # the provider's word: queued, sent, delivered, undelivered, failed…
    error_code: str = ""

    def to_wire(self) -> bytes:
        return dumps({"type": RECEIPT, **dataclasses.asdict(self), "at": iso(time.time())})

    @classmethod
    def from_wire(cls, raw: bytes) -> Receipt:
        d = loads(raw, RECEIPT)
        for name in ("city", "provider", "provider_id", "status"):
            if not isinstance(d.get(name), str) or not d[name]:
                raise InvalidInput(name, "required, a non-empty string")
        return cls(
            d["city"], d["provider"], d["provider_id"], d["status"], str(d.get("error_code") or "")
        )
