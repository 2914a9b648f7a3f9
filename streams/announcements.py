"""Announcements on ``city-events``: published, updated (a new version) and cancelled.

``AnnouncementPublished/1`` is version 1; ``AnnouncementUpdated/1`` carries the whole new
version (2, 3, …), with who is told again (``retell``) and what changed from the version before
(``changed``); ``AnnouncementCancelled/1`` names the version it cancels, and its reason: a string
(in the announcement's main language, ``main_language``) or one per language.

An update keeps what it does not change (``Announcement.updated``): the API takes only the fields
given and keeps the others of the current version (target, expiry, each language's text,
category, severity). Records written before ``retell`` and ``changed`` existed are read as
``retell: all`` with everything changed (what was done then).

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
from subscriptions.rules import NO_DEFAULT, Field, Schema, body_schema, nullable, ref
from subscriptions.targets import EventTarget, parse_target
from templates import LANGUAGES

PUBLISHED = "AnnouncementPublished/1"
UPDATED = "AnnouncementUpdated/1"
CANCELLED = "AnnouncementCancelled/1"
MAX_REASON = 500
MAX_LINK = 2000
# who an update is told to (``streams.delivery.expand``): everyone the new version reaches (those
# told before if what they read changed), only those it newly reaches, or nobody (a correction)
RETELL = ("all", "new", "none")
# what an update can change, as ``changed`` names it: these for everyone, and per language
# ``<lang>.title``, ``<lang>.text`` (body, what to do), ``<lang>.link``
COMMON_CHANGES = ("area", "validity", "severity", "category")

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


def _retell(value: object, where: str) -> str:
    if value not in RETELL:
        raise InvalidInput(where, f"must be one of {', '.join(RETELL)}")
    return str(value)


def _notify(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(where, "must be true or false")
    return value


def _reason(value: object, where: str) -> str | dict[str, str]:
    """Why a department cancels: a string, or one per language (``{"fr": …, "en": …}``)."""
    if isinstance(value, dict):
        if not value:
            raise InvalidInput(where, 'give a string or the reason per language, {"fr": …}')
        for lang in value:
            if lang not in LANGUAGES:
                raise InvalidInput(
                    f"{where}.{lang}", f"language must be one of {', '.join(LANGUAGES)}"
                )
        return {lang: _one_reason(v, f"{where}.{lang}") for lang, v in value.items()}
    return _one_reason(value, where)


def _one_reason(value: object, where: str) -> str:
    """One line, a control character other than whitespace refused."""
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
    "reason": Field(
        {
            "oneOf": [
                {"type": "string", "maxLength": MAX_REASON},
                {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"enum": list(LANGUAGES)},
                    "additionalProperties": {"type": "string", "maxLength": MAX_REASON},
                },
            ],
            "description": "Why, in one line: a string (read as written in the announcement's "
            "main language: French if it has French text, else its first language) or one per "
            'language, {"fr": …, "en": …}. A reader is given the reason in their language; '
            "else the one there is, introduced with the language it is written in.",
        },
        _reason,
        default="",
    ),
}
UPDATE: dict[str, Field] = {  # besides the fields of ANNOUNCEMENT, each optional in an update
    "retell": Field(
        {
            "enum": list(RETELL),
            "description": "Who is messaged again: `all`, everyone the new version reaches "
            "(those told before only if what they read changed: their language's text, or "
            "the area, validity, severity or category); `new`, only those it newly reaches; "
            "`none`, nobody (a silent correction; a message of the earlier version not yet "
            "sent goes out corrected).",
        },
        _retell,
        default="all",
    ),
}
SCHEMAS: dict[str, Schema] = {
    "Content": body_schema(CONTENT),
    "AnnouncementInput": body_schema(ANNOUNCEMENT),
    "CancelInput": body_schema(CANCEL),
    "UpdateInput": body_schema(
        {
            **{
                n: dataclasses.replace(f, required=False, default=NO_DEFAULT)
                for n, f in ANNOUNCEMENT.items()
            },
            **UPDATE,
        },
        description="Only the fields to change: the others are kept. `content` replaces the "
        "languages it gives and keeps the others; `expires_at: null` removes the expiry.",
    ),
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
    retell: str = "all"  # an update's: who is told again (``RETELL``)
    changed: tuple[str, ...] | None = None  # an update's (``COMMON_CHANGES``); None: all

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
                **(
                    {"retell": self.retell, "changed": list(self.changed)}
                    if self.version > 1 and self.changed is not None
                    else {}
                ),
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
        retell, changed = d.get("retell", "all"), d.get("changed")
        if retell not in RETELL:
            raise InvalidInput("retell", f"must be one of {', '.join(RETELL)}")
        if changed is not None and (
            not isinstance(changed, list) or not all(isinstance(c, str) for c in changed)
        ):
            raise InvalidInput("changed", "must be a list of strings")
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
            retell=retell,
            changed=None if changed is None else tuple(changed),
        )

    def content_for(self, language: str) -> tuple[str, Content]:
        """The content in the citizen's language, else French, else the first given."""
        for lang in (language, "fr", *self.content):
            if lang in self.content:
                return lang, self.content[lang]
        raise AssertionError("an announcement always has content")

    @property
    def main_language(self) -> str:
        """The language a text given without one is taken as written in: French if the
        announcement has French text, else its first language."""
        return "fr" if "fr" in self.content else next(iter(self.content))

    def changes_for(self, language: str) -> tuple[str, ...] | None:
        """What changed from the version before, as a reader in ``language`` reads it
        (``title``, ``text``, ``link``, ``area``, ``validity``, ``severity``, ``category``);
        None when the record does not say (written before ``changed`` existed)."""
        if self.changed is None:
            return None
        lang, _ = self.content_for(language)
        return tuple(
            c.split(".", 1)[-1] for c in self.changed if "." not in c or c.startswith(f"{lang}.")
        )

    def updated(
        self,
        body: object,
        catalogue: AreaCatalogue,
        now: float | None = None,
    ) -> Announcement:
        """The next version: the fields ``body`` gives (checked as ``from_input`` checks them),
        the others kept. ``content`` replaces the languages it gives; ``expires_at: null``
        removes the expiry; ``retell`` (default ``all``) is who is told again."""
        if not isinstance(body, dict):
            raise InvalidInput("body", "must be a JSON object")
        now = time.time() if now is None else now
        changes: dict[str, Any] = {
            "retell": UPDATE["retell"].read(body, "retell"),
            "published_at": now,
        }
        if "target" in body:
            changes["target"] = parse_target(body["target"], catalogue)
        if "content" in body:
            changes["content"] = {**self.content, **ANNOUNCEMENT["content"].read(body, "content")}
        for name in ("category", "severity"):
            if name in body:
                changes[name] = ANNOUNCEMENT[name].read(body, name)
        if "expires_at" in body:
            expires = body["expires_at"]
            changes["expires_at"] = None if expires is None else parse_time(expires, "expires_at")
        expires_at = changes.get("expires_at", self.expires_at)
        if expires_at is not None and expires_at <= now:
            why = "is in the past" if "expires_at" in body else "has passed: give a new one"
            raise InvalidInput("expires_at", f"{why} (or null for no expiry)")
        return dataclasses.replace(self, **changes)


def changes(before: Announcement, after: Announcement) -> tuple[str, ...]:
    """What ``after`` changes of ``before``, as ``Announcement.changed`` names it."""
    out = []
    if before.target.to_json() != after.target.to_json():
        out.append("area")
    if before.expires_at != after.expires_at:
        out.append("validity")
    if before.severity != after.severity:
        out.append("severity")
    if before.category != after.category:
        out.append("category")
    for lang in dict.fromkeys([*before.content, *after.content]):
        old, new = before.content.get(lang), after.content.get(lang)
        if old is None or new is None:
            out += [f"{lang}.title", f"{lang}.text"]
            continue
        if old.title != new.title:
            out.append(f"{lang}.title")
        if (old.body, old.instructions) != (new.body, new.instructions):
            out.append(f"{lang}.text")
        if old.link != new.link:
            out.append(f"{lang}.link")
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Cancellation:
    """A department cancels an announcement; ``notify``: tell those already told."""

    id: str
    city: str
    department: str
    version: int
    notify: bool
    reason: str | dict[str, str]  # a string: in the announcement's main language
    cancelled_at: float

    def reason_for(self, language: str, main_language: str) -> tuple[str, str]:
        """(the reason a reader in ``language`` is given, the language it is written in):
        theirs if given, else the one there is (the main language's first), else ("", "")."""
        given = {main_language: self.reason} if isinstance(self.reason, str) else self.reason
        given = {lang: r for lang, r in given.items() if r}
        for lang in (language, main_language, *given):
            if lang in given:
                return given[lang], lang
        return "", ""

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
        # its length is the API's rule (``MAX_REASON``)
        if isinstance(reason, dict):
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in reason.items()):
                raise InvalidInput("reason", "must be a string or strings by language")
        elif not isinstance(reason, str):
            raise InvalidInput("reason", "must be a string or strings by language")
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
