"""Announcements on ``city-events``: published, updated (a new version) and cancelled.

``AnnouncementPublished/1`` is version 1; ``AnnouncementUpdated/1`` carries the whole new
version (2, 3, …); ``AnnouncementCancelled/1`` names the version it cancels.

Validated once, where they enter: ``Announcement.from_input`` (the HTTP API, 422 with the
field; the CAP import) checks the target against the city's areas and boundary, the category,
the expiry, and normalises the text (``streams.text``), refusing a control character. A record
on ``city-events`` (or kept in the event store) is decoded from its own fields only, as it was
written: no catalogue, no geometry parsed, no rule of the API applied again, so tightening a rule
never turns the records already written into dead letters. What a worker needs of the city (the
catalogue to match, the areas' names to render) it looks up where it uses it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from streams import text
from streams.records import MAX_BODY, MAX_TITLE, dumps, iso, loads_any, parse_time
from subscriptions.areas import AreaCatalogue
from subscriptions.categories import check_category, check_severity
from subscriptions.errors import InvalidInput
from subscriptions.rules import Field, Schema, body_schema, nullable, ref
from subscriptions.targets import EventTarget, parse_target
from templates import LANGUAGES

PUBLISHED = "AnnouncementPublished/1"
UPDATED = "AnnouncementUpdated/1"
CANCELLED = "AnnouncementCancelled/1"
MAX_REASON = 500
MAX_LINK = 2000

# a department's body, each field's rule declared once (``subscriptions.rules``): the checks of
# ``from_input`` and the OpenAPI document's schemas are made from these tables
CONTENT: dict[str, Field] = {  # in one language
    "title": text.field(MAX_TITLE, one_line=True),
    "body": text.field(MAX_BODY),
    "link": text.field(MAX_LINK, one_line=True, required=False, url=True),
    "instructions": text.field(MAX_BODY, required=False, what="what to do"),
}


def _wire_content(content: object) -> dict[str, Content]:
    """The content of a record as it was written: strings taken as they are (the rules of
    ``from_input`` apply where text enters, not to what is already on the topics)."""
    if not isinstance(content, dict) or not content:
        raise InvalidInput("content", "required, an object keyed by language")
    parsed = {}
    for lang, c in content.items():
        if not isinstance(c, dict):
            raise InvalidInput(f"content.{lang}", "must be an object with title and body")
        values = {n: c.get(n, "") for n in ("title", "body", "link", "instructions")}
        for n, v in values.items():
            if n in ("title", "body") and (not isinstance(v, str) or not v.strip()):
                raise InvalidInput(f"content.{lang}.{n}", "required, a non-empty string")
            if not isinstance(v, str):
                raise InvalidInput(f"content.{lang}.{n}", "must be a string")
        parsed[str(lang)] = Content(**values)
    return parsed


def _wire_target(value: object) -> EventTarget:
    """The target as a record holds it (``EventTarget.to_json``): area codes, GeoJSON polygons
    and circles, taken as written. ``parse_target`` checked them against the city where they
    entered; the shapes are parsed where they are matched (``EventTarget.resolve``) and the codes
    looked up where they are matched or named."""
    if not isinstance(value, dict):
        raise InvalidInput("target", "required, an object")
    areas, polygons, circles = (value.get(n, []) for n in ("areas", "polygons", "circles"))
    if not isinstance(areas, list) or not all(isinstance(c, str) for c in areas):
        raise InvalidInput("target.areas", "must be a list of area codes")
    if not isinstance(polygons, list) or not all(isinstance(p, dict) for p in polygons):
        raise InvalidInput("target.polygons", "must be a list of GeoJSON polygons")
    try:
        discs = tuple((float(c["lon"]), float(c["lat"]), float(c["radius_m"])) for c in circles)
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("target.circles", "must be a list of {lon, lat, radius_m}") from None
    if not (areas or polygons or discs):
        raise InvalidInput("target.areas", "give at least one area code, polygon or circle")
    return EventTarget(tuple(areas), tuple(polygons), discs)


def _input_content(content: object, where: str) -> dict[str, Content]:
    """A department's content, by language: its text normalised, a control character refused."""
    if not isinstance(content, dict) or not content:
        raise InvalidInput(where, 'required, an object keyed by language, e.g. {"fr": {…}}')
    parsed: dict[str, Content] = {}
    for lang, c in content.items():
        if lang not in LANGUAGES:
            raise InvalidInput(f"{where}.{lang}", f"language must be one of {', '.join(LANGUAGES)}")
        if not isinstance(c, dict):
            raise InvalidInput(f"{where}.{lang}", "must be an object with title and body")
        parsed[lang] = Content(
            **{name: f.read(c, name, f"{where}.{lang}.{name}") for name, f in CONTENT.items()}
        )
    return parsed


def _notify(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(where, "must be true or false")
    return value


def _reason(value: object, where: str) -> str:
    """Why a department cancels: one line, a control character other than whitespace refused."""
    if isinstance(value, str) and (found := text.control(value)) is not None:
        raise InvalidInput(where, f"holds a control character ({found}); remove it")
    if not isinstance(value, str) or len(value := text.line(value)) > MAX_REASON:
        raise InvalidInput(where, f"a string of at most {MAX_REASON} characters")
    return value


ANNOUNCEMENT: dict[str, Field] = {  # target and expires_at: checked with the city and the time
    "category": Field(ref("Category"), check_category, required=True),
    "severity": Field(ref("SeverityInput"), check_severity, default="minor"),
    "target": Field(ref("Target"), required=True),
    "content": Field(
        {
            "type": "object",
            "properties": {},
            "minProperties": 1,
            "propertyNames": {"enum": list(LANGUAGES)},
            "additionalProperties": ref("Content"),
            "description": "the message per language",
        },
        _input_content,
        required=True,
    ),
    "expires_at": Field(nullable({**ref("DateTime"), "description": "in the future"})),
}
CANCEL: dict[str, Field] = {
    "notify": Field({"type": "boolean"}, _notify, default=True),
    "reason": Field({"type": "string", "maxLength": MAX_REASON}, _reason, default=""),
}
SCHEMAS: dict[str, Schema] = {
    "Content": body_schema(CONTENT),
    "AnnouncementInput": body_schema(ANNOUNCEMENT),
    "CancelInput": body_schema(CANCEL),
}


@dataclasses.dataclass(frozen=True)
class Content:
    title: str
    body: str
    link: str = ""
    instructions: str = ""  # what to do (CAP <instruction>)


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
    version: int = 1

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
        """Validate a department's JSON body (the fields it may set). Its text is normalised
        (``streams.text``: a title on one line); a control character other than whitespace is
        refused, naming the field (``content.fr.title``)."""
        if not isinstance(body, dict):
            raise InvalidInput("body", "must be a JSON object")
        now = time.time() if now is None else now
        target = parse_target(body.get("target"), catalogue)
        parsed = ANNOUNCEMENT["content"].read(body, "content")
        expires_at = None
        if body.get("expires_at") is not None:
            expires_at = parse_time(body["expires_at"], "expires_at")
            if expires_at <= now:
                raise InvalidInput("expires_at", "is in the past", "in_the_past")
        return cls(
            id=id,
            city=city,
            department=department,
            category=ANNOUNCEMENT["category"].read(body, "category"),
            severity=ANNOUNCEMENT["severity"].read(body, "severity"),
            target=target,
            content=parsed,
            published_at=now,
            expires_at=expires_at,
        )

    def to_wire(self) -> bytes:
        return dumps(
            {
                "type": PUBLISHED if self.version == 1 else UPDATED,
                "id": self.id,
                "version": self.version,
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
    def from_wire(cls, raw: bytes) -> Announcement:
        """Decode a record of ``city-events`` or the event store (see the module's docstring)."""
        decoded = decode_city_event(raw)
        if not isinstance(decoded, Announcement):
            raise InvalidInput("type", "expected an announcement")
        return decoded

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Announcement:
        _header(d)
        category = d.get("category")
        if not isinstance(category, str) or not category:
            raise InvalidInput("category", "required, a non-empty string")
        expires = d.get("expires_at")
        return cls(
            id=d["id"],
            city=d["city"],
            department=d["department"],
            category=category,
            # CAP's scale, which the matcher and the push urgency rank: not a rule of the API's
            severity=check_severity(d.get("severity", "minor")),
            target=_wire_target(d.get("target")),
            content=_wire_content(d.get("content")),
            published_at=parse_time(d.get("published_at"), "published_at"),
            expires_at=parse_time(expires, "expires_at") if expires else None,
            version=d["version"],
        )

    def content_for(self, language: str) -> tuple[str, Content]:
        """The content in the citizen's language, else French, else the first given."""
        for lang in (language, "fr", *self.content):
            if lang in self.content:
                return lang, self.content[lang]
        raise AssertionError("an announcement always has content")


@dataclasses.dataclass(frozen=True)
class Cancellation:
    """A department cancels an announcement; ``notify``: tell those already told."""

    id: str
    city: str
    department: str
    version: int
    notify: bool
    reason: str
    cancelled_at: float

    def to_wire(self) -> bytes:
        return dumps(
            {
                "type": CANCELLED,
                "id": self.id,
                "city": self.city,
                "department": self.department,
                "version": self.version,
                "notify": self.notify,
                "reason": self.reason,
                "cancelled_at": iso(self.cancelled_at),
            }
        )

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Cancellation:
        _header(d)
        if not isinstance(d.get("notify"), bool):
            raise InvalidInput("notify", "must be true or false")
        reason = d.get("reason", "")
        if not isinstance(reason, str):  # its length is the API's rule (``MAX_REASON``)
            raise InvalidInput("reason", "must be a string")
        return cls(
            d["id"],
            d["city"],
            d["department"],
            d["version"],
            d["notify"],
            reason,
            parse_time(d.get("cancelled_at"), "cancelled_at"),
        )


def _header(d: dict[str, Any]) -> None:
    """The fields every record of ``city-events`` about an announcement carries. Whether its
    city exists is for the worker to say, with the city loaded (``Cities.require``)."""
    for name in ("id", "city", "department"):
        if not isinstance(d.get(name), str) or not d[name]:
            raise InvalidInput(name, "required, a non-empty string")
    v = d.get("version")
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise InvalidInput("version", "required, a whole number from 1")


def decode_city_event(raw: bytes) -> Announcement | Cancellation:
    """An announcement or its cancellation, from the record's own fields (``InvalidInput``
    says why not)."""
    d = loads_any(raw, (PUBLISHED, UPDATED, CANCELLED))
    if d["type"] == CANCELLED:
        return Cancellation._from_dict(d)
    a = Announcement._from_dict(d)
    if (a.version == 1) != (d["type"] == PUBLISHED):
        raise InvalidInput("version", f"{d['type']} cannot carry version {a.version}")
    return a
