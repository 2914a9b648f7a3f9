"""Wire records: JSON objects with an explicit, versioned ``type`` (``AnnouncementPublished/1``).

Topics carry raw bytes and every agent decodes them here, so a record that does not decode is
caught by us (and sent to dead letters with the reason), never dropped inside Faust's
deserializer. The same validation serves the HTTP API, which answers 422 with the field.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from datetime import UTC, datetime
from typing import Any

from subscriptions.areas import AreaCatalogue
from subscriptions.categories import check_category, check_severity
from subscriptions.errors import InvalidInput
from subscriptions.targets import EventTarget, parse_target

ANNOUNCEMENT = "AnnouncementPublished/1"
EMAIL_BATCH = "EmailBatchQueued/1"
DEAD_LETTER = "DeadLettered/1"
LANGUAGES = ("fr", "en")
MAX_TITLE, MAX_BODY = 200, 5000


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def loads(raw: bytes, expected_type: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput("record", f"not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidInput("record", "not a JSON object")
    if obj.get("type") != expected_type:
        raise InvalidInput("type", f"expected {expected_type!r}, got {obj.get('type')!r}")
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


def _text(d: dict[str, Any], name: str, field: str, limit: int, required: bool = True) -> str:
    v = d.get(name)
    if not required and (v is None or v == ""):
        return ""
    if not isinstance(v, str) or not v.strip():
        raise InvalidInput(field, "required, a non-empty string")
    if len(v) > limit:
        raise InvalidInput(field, f"longer than {limit} characters")
    return v.strip()


def _link(d: dict[str, Any], field: str) -> str:
    link = _text(d, "link", field, 2000, required=False)
    if link and not link.startswith(("https://", "http://")):
        raise InvalidInput(field, "must be an http(s) URL")
    return link


@dataclasses.dataclass(frozen=True)
class Content:
    title: str
    body: str
    link: str = ""


@dataclasses.dataclass(frozen=True)
class Announcement:
    """A department's announcement or alert, as carried on ``city-events``."""

    id: str
    city: str
    department: str
    category: str
    severity: str
    target: EventTarget
    content: dict[str, Content]
    published_at: float
    expires_at: float | None = None

    @classmethod
    def from_input(
        cls,
        body: object,
        *,
        id: str,
        city: str,
        department: str,
        catalogue: AreaCatalogue,
        now: float | None = None,
    ) -> Announcement:
        """Validate a department's JSON body (the fields it may set)."""
        if not isinstance(body, dict):
            raise InvalidInput("body", "must be a JSON object")
        now = time.time() if now is None else now
        target = parse_target(body.get("target"), catalogue)
        content = body.get("content")
        if not isinstance(content, dict) or not content:
            raise InvalidInput("content", 'required, an object keyed by language, e.g. {"fr": {…}}')
        parsed: dict[str, Content] = {}
        for lang, c in content.items():
            if lang not in LANGUAGES:
                raise InvalidInput(
                    f"content.{lang}", f"language must be one of {', '.join(LANGUAGES)}"
                )
            if not isinstance(c, dict):
                raise InvalidInput(f"content.{lang}", "must be an object with title and body")
            parsed[lang] = Content(
                _text(c, "title", f"content.{lang}.title", MAX_TITLE),
                _text(c, "body", f"content.{lang}.body", MAX_BODY),
                _link(c, f"content.{lang}.link"),
            )
        expires_at = None
        if body.get("expires_at") is not None:
            expires_at = parse_time(body["expires_at"], "expires_at")
            if expires_at <= now:
                raise InvalidInput("expires_at", "is in the past")
        return cls(
            id=id,
            city=city,
            department=department,
            category=check_category(body.get("category")),
            severity=check_severity(body.get("severity", "minor")),
            target=target,
            content=parsed,
            published_at=now,
            expires_at=expires_at,
        )

    def to_wire(self) -> bytes:
        return dumps(
            {
                "type": ANNOUNCEMENT,
                "id": self.id,
                "city": self.city,
                "department": self.department,
                "category": self.category,
                "severity": self.severity,
                "target": self.target.to_json(),
                "content": {k: dataclasses.asdict(v) for k, v in self.content.items()},
                "published_at": iso(self.published_at),
                "expires_at": iso(self.expires_at) if self.expires_at else None,
            }
        )

    @classmethod
    def from_wire(cls, raw: bytes, catalogues: dict[str, AreaCatalogue]) -> Announcement:
        d = loads(raw, ANNOUNCEMENT)
        for name in ("id", "city", "department"):
            if not isinstance(d.get(name), str) or not d[name]:
                raise InvalidInput(name, "required, a non-empty string")
        if d["city"] not in catalogues:
            raise InvalidInput("city", f"unknown city {d['city']!r}")
        published = parse_time(d.get("published_at"), "published_at")
        body = {k: d.get(k) for k in ("target", "content", "category", "severity")}
        a = cls.from_input(
            body,
            id=d["id"],
            city=d["city"],
            department=d["department"],
            catalogue=catalogues[d["city"]],
            now=published,
        )
        expires = parse_time(d["expires_at"], "expires_at") if d.get("expires_at") else None
        return dataclasses.replace(a, expires_at=expires)

    def content_for(self, language: str) -> tuple[str, Content]:
        """The content in the citizen's language, else French, else the first given."""
        for lang in (language, "fr", *self.content):
            if lang in self.content:
                return lang, self.content[lang]
        raise AssertionError("an announcement always has content")


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


UNSUBSCRIBE_PLACEHOLDER = "@@UNSUBSCRIBE_URL@@"


@dataclasses.dataclass(frozen=True)
class Recipient:
    id: str  # the notification id
    citizen: str
    contact: str
    to: str
    language: str
    unsubscribe_url: str = ""


@dataclasses.dataclass(frozen=True)
class EmailBatch:
    """Up to a few hundred emails of one event: rendered once per language, personalised by
    substituting ``UNSUBSCRIBE_PLACEHOLDER`` per recipient."""

    city: str
    event: str
    kind: str  # "announcement" needs a confirmed contact; "confirmation" goes to a pending one
    variants: dict[str, dict[str, str]]  # language -> {subject, text, html}
    recipients: tuple[Recipient, ...]
    expires_at: float | None = None

    def to_wire(self) -> bytes:
        return dumps(
            {
                "type": EMAIL_BATCH,
                "city": self.city,
                "event": self.event,
                "kind": self.kind,
                "variants": self.variants,
                "recipients": [dataclasses.asdict(r) for r in self.recipients],
                "expires_at": iso(self.expires_at) if self.expires_at else None,
            }
        )

    @classmethod
    def from_wire(cls, raw: bytes) -> EmailBatch:
        d = loads(raw, EMAIL_BATCH)
        try:
            variants = {
                str(k): {p: str(v[p]) for p in ("subject", "text", "html")}
                for k, v in d["variants"].items()
            }
            recipients = tuple(Recipient(**r) for r in d["recipients"])
            if d["kind"] not in ("announcement", "confirmation"):
                raise InvalidInput("kind", "must be announcement or confirmation")
            for r in recipients:
                if r.language not in variants:
                    raise InvalidInput("recipients", f"no variant in {r.language!r}")
            expires = parse_time(d["expires_at"], "expires_at") if d.get("expires_at") else None
            return cls(str(d["city"]), str(d["event"]), d["kind"], variants, recipients, expires)
        except (KeyError, TypeError, AttributeError) as e:
            raise InvalidInput(
                "record", f"malformed {EMAIL_BATCH}: {type(e).__name__}: {e}"
            ) from None
