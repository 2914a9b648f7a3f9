"""The rows of a subscriber list to import, read from CSV and validated as the API validates.

Columns, named by a header row (any order; names are not case-sensitive)::

    contact         an email address or a mobile phone number (any French or E.164 form)
    language        fr or en; empty: fr
    area            an area code of the city's catalogue (75105, 7510501)  } exactly one
    address         a point, "lat,lon" in decimal degrees (48.8462,2.3470) } of the two
    radius_m        the radius around an address, 50 to 5000 metres; empty: 300
    categories      ;-separated categories (roadworks;water); empty: every category
    channels        ;-separated channels (email;sms); empty: email for an email address,
                    sms for a phone number
    consent_date    the date the consent was given to the previous system (YYYY-MM-DD)
    consent_source  where it was given (text); required with consent_date, and only with it

``contact`` is required, and ``area`` or ``address``; the others may be left out. A row is
numbered as a spreadsheet numbers it: the header is row 1, blank rows count but are skipped.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from streams import text
from subscriptions.areas import AreaCatalogue
from subscriptions.categories import check_category
from subscriptions.cities import PARIS, City
from subscriptions.contacts import CHANNELS, normalise_email, normalise_phone
from subscriptions.errors import InvalidInput
from subscriptions.preferences import check_language
from subscriptions.subscription import Subscription, parse_subscription

COLUMNS = (
    "contact",
    "language",
    "area",
    "address",
    "radius_m",
    "categories",
    "channels",
    "consent_date",
    "consent_source",
)
DEFAULT_RADIUS_M = 300.0
MAX_SOURCE = 200
# parse_subscription names the API's fields; a row names its columns
_FIELDS = {"point": "address", "point.lat": "address", "point.lon": "address"}


class FileError(Exception):
    """The file cannot be imported at all: unreadable, not CSV, no or a wrong header."""


@dataclasses.dataclass(frozen=True)
class Rejection:
    row: int
    field: str
    reason: str

    def line(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"


@dataclasses.dataclass(frozen=True)
class Row:
    """A valid row: one contact point and one subscription (its citizen not known yet)."""

    number: int
    channel: str  # email | sms
    address: str  # normalised: the email address, the E.164 number
    language: str
    subscription: Subscription
    index: list[tuple[str, str]]
    consent: str | None  # how the ledger says the consent was given, or None: ask for it


def same_contact(channel: str, address: str) -> tuple[str, str]:
    """What makes two rows the same contact point (as the store's address key does)."""
    return channel, address.lower() if channel == "email" else address


def read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(b"\n") + 1
        raise FileError(f"{path}: line {line} is not UTF-8 text (save the file as UTF-8)") from None
    except OSError as e:
        raise FileError(f"{path}: {e.strerror or e}") from None


def records(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's column names and the non-blank records, numbered from 2."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise FileError(f"not CSV: {e}") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise FileError("no header row: the first row names the columns (contact, area, ...)")
    header = [c.strip().lower() for c in rows[0]]
    while not header[-1]:  # spreadsheets may write empty columns after the last one
        header.pop()
    unknown = [c for c in header if c not in COLUMNS]
    if len(header) == 1 and ";" in header[0]:
        raise FileError("the header is not comma-separated (columns are separated by commas)")
    if unknown:
        raise FileError(
            f"unknown column(s) {', '.join(map(repr, unknown))}: the columns are "
            + ", ".join(COLUMNS)
        )
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise FileError(f"column(s) named twice: {', '.join(twice)}")
    if "contact" not in header:
        raise FileError("no contact column")
    if "area" not in header and "address" not in header:
        raise FileError("neither an area nor an address column")
    body = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    return header, body


@dataclasses.dataclass(frozen=True)
class Parsed:
    """A row as read: its contact point's identity when that much is valid (a later row with
    the same one is a duplicate), and the valid row or every reason it is not."""

    identity: tuple[str, str] | None
    row: Row | None
    rejections: list[Rejection]


def parse_row(
    number: int,
    header: Sequence[str],
    values: Sequence[str],
    *,
    catalogue: AreaCatalogue,
    enabled: tuple[str, ...],
    today: date,
    city: City = PARIS,
) -> Parsed:
    if len(values) > len(header) and any(v.strip() for v in values[len(header) :]):
        reason = f"{len(values)} cells, but the header names {len(header)} columns"
        return Parsed(None, None, [Rejection(number, "columns", reason)])
    cells = {name: value.strip() for name, value in zip(header, values, strict=False)}
    errors: list[Rejection] = []

    def check(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except InvalidInput as e:
            errors.append(Rejection(number, e.field, e.reason))
            return None

    contact = check(lambda: _contact(cells.get("contact", ""), enabled, city))
    language = check(lambda: _language(cells.get("language", "")))
    categories = check(lambda: _split(cells.get("categories", ""), check_category, "categories"))
    default = ["sms" if contact and contact[0] == "sms" else "email"]
    channels = check(lambda: _split(cells.get("channels", ""), _channel, "channels") or default)
    off = [c for c in channels or () if c not in enabled]
    if off:
        errors.append(Rejection(number, "channels", f"{', '.join(off)} is not offered here"))
    body = check(lambda: _where(cells))
    consent = check(lambda: _consent(cells, today))
    parsed = None
    if body is not None:
        body.update(categories=categories or [], channels=channels or default)
        parsed = check(lambda: _subscription(body, catalogue))
    identity = None if contact is None else same_contact(*contact)
    if errors or parsed is None:
        return Parsed(identity, None, errors)
    row = Row(number, contact[0], contact[1], language, parsed[0], parsed[1], consent)
    return Parsed(identity, row, [])


def _contact(value: str, enabled: tuple[str, ...], city: City) -> tuple[str, str]:
    if not value:
        raise InvalidInput("contact", "missing: an email address or a phone number")
    try:
        if "@" in value:
            return "email", normalise_email(value)
        if "sms" not in enabled:
            raise InvalidInput("contact", "a phone number, but sms is not offered here")
        return "sms", normalise_phone(value, city.country, city.allowed_sms_countries)
    except InvalidInput as e:
        raise InvalidInput("contact", e.reason) from None


def _language(value: str) -> str:
    return check_language(value.lower() or "fr")


def _channel(value: object, field: str) -> str:
    if value not in CHANNELS:
        raise InvalidInput(field, f"must be one of {', '.join(CHANNELS)}")
    return str(value)


def _split(value: str, check: Callable[[object, str], str], field: str) -> list[str]:
    """``a;b`` checked item by item; the reason names the item that is wrong."""
    out = []
    for item in (v.strip().lower() for v in value.split(";")):
        if item:
            try:
                out.append(check(item, field))
            except InvalidInput as e:
                raise InvalidInput(field, f"{item!r}: {e.reason}") from None
    return out


def _where(cells: dict[str, str]) -> dict[str, Any]:
    area, address, radius = (cells.get(k, "") for k in ("area", "address", "radius_m"))
    if area and address:
        raise InvalidInput("address", "give an area or an address, not both")
    if area:
        if radius:
            raise InvalidInput("radius_m", "applies to an address only")
        return {"area": area}
    if not address:
        raise InvalidInput("area", 'missing: give an area code or an address ("lat,lon")')
    parts = address.split(",")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput("address", 'must be "lat,lon" in decimal degrees') from None
    return {"point": {"lat": lat, "lon": lon}, "radius_m": _radius(radius)}


def _radius(value: str) -> float:
    if not value:
        return DEFAULT_RADIUS_M
    try:
        return float(value)
    except ValueError:
        raise InvalidInput("radius_m", "must be a number of metres") from None


def _consent(cells: dict[str, str], today: date) -> str | None:
    when, source = cells.get("consent_date", ""), text.line(cells.get("consent_source", ""))
    if not when:
        if source:
            raise InvalidInput(
                "consent_date", "missing: the date of the consent consent_source names"
            )
        return None
    try:
        given = date.fromisoformat(when)
    except ValueError:
        raise InvalidInput("consent_date", f"{when!r} is not a date YYYY-MM-DD") from None
    if given > today:
        raise InvalidInput("consent_date", "is in the future")
    if not source:
        raise InvalidInput("consent_source", "missing: where the consent of that date was given")
    if len(source) > MAX_SOURCE:  # a line break or a control character: normalised, not refused
        raise InvalidInput("consent_source", f"one line of at most {MAX_SOURCE} characters")
    return f"import from {source} consent given {given.isoformat()}"


def _subscription(
    body: dict[str, Any], catalogue: AreaCatalogue
) -> tuple[Subscription, list[tuple[str, str]]]:
    try:
        return parse_subscription(body, sid="", citizen="", catalogue=catalogue)
    except InvalidInput as e:
        field = _FIELDS.get(e.field, e.field)
        reason = e.reason
        if e.field in ("point.lat", "point.lon"):
            reason = f"{'latitude' if e.field == 'point.lat' else 'longitude'} {reason}"
        raise InvalidInput(field, reason) from None
