"""Service requests (Open311 GeoReport v2-shaped) and ``RequestStatusChanged/1``, the record of
one status change of one request on ``request-status``.

A record carries the request's id, the department it belongs to, the new status with its notes
and ``updated_datetime`` (ISO 8601 with a UTC offset), and optionally the request's Open311
fields (service, agency, address, position), which update what is kept about it. Producers key
their records by ``service_request_id`` so that one request's changes stay in one partition.
The same validation serves the HTTP API (422 with the field) and the worker (dead letters).

Statuses are richer than Open311's open/closed; ``OPEN311`` says which of the two each one is.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

from streams import text
from streams.records import dumps, loads, parse_time
from subscriptions.errors import InvalidInput
from subscriptions.rules import Field, Schema, nullable, ref
from subscriptions.subscription import DEPARTMENT, check_request_id

STATUS_CHANGED = "RequestStatusChanged/1"
STATUSES = (
    "submitted",  # received, not yet looked at
    "open",  # registered (Open311's "open")
    "acknowledged",  # a department has looked at it and accepted it
    "scheduled",  # work is planned (the notes say when)
    "in_progress",  # someone is working on it
    "referred",  # handed to another service or agency
    "on_hold",  # waiting for something (a permit, a part, the weather)
    "reopened",  # closed, then opened again
    "closed",  # done (Open311's "closed")
    "duplicate",  # closed: another request already covers it
    "declined",  # closed: nothing will be done (not the city's, not found…)
)
CLOSED = ("closed", "duplicate", "declined")
FILED = "open"  # the status of a request filed without one
OPEN311 = {s: "closed" if s in CLOSED else "open" for s in STATUSES}
MAX_NOTES = 1000
FUTURE_SLACK = 24 * 3600.0  # an update dated later than this would freeze the request
# Open311 text fields a record may carry, with their longest length
# the Open311 fields of a request kept with it (besides id, status and times)
REQUEST_FIELDS = (
    "service_code",
    "service_name",
    "description",
    "agency_responsible",
    "requested_datetime",
    "address",
    "lat",
    "long",
)

TEXT_FIELDS = {
    "service_code": 100,
    "service_name": 200,
    "description": 4000,
    "agency_responsible": 200,
    "address": 500,
}
MULTI_LINE = ("description", "status_notes")  # the others are one line (``streams.text``)


@dataclasses.dataclass(frozen=True)
class RequestInfo:
    """What is known about a request besides its status; empty strings are unknown."""

    service_code: str = ""
    service_name: str = ""
    description: str = ""
    agency_responsible: str = ""
    requested_datetime: str = ""
    address: str = ""
    lat: float | None = None
    long: float | None = None

    def fields(self) -> dict[str, str]:
        """The known fields, as kept in Redis (numbers as text)."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if v not in ("", None)}
        return {k: str(v) for k, v in out.items()}

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in ("", None)}


@dataclasses.dataclass(frozen=True)
class StatusChange:
    city: str
    department: str
    request_id: str
    status: str
    status_notes: str
    updated_datetime: str  # as given: ISO 8601 with its offset
    updated_ms: int  # the same instant, in milliseconds since the epoch: what orders changes
    info: RequestInfo = RequestInfo()

    @property
    def event(self) -> str:
        """The ledger's event for this change: notification ids derive from it."""
        return change_event(self.request_id, self.updated_ms)

    def to_wire(self) -> bytes:
        return dumps(
            {
                "type": STATUS_CHANGED,
                "city": self.city,
                "department": self.department,
                "service_request_id": self.request_id,
                "status": self.status,
                "status_notes": self.status_notes,
                "updated_datetime": self.updated_datetime,
                **self.info.to_json(),
            }
        )

    @classmethod
    def from_wire(cls, raw: bytes) -> StatusChange:
        """Decode a record (``InvalidInput`` says why not). The back office writes to the topic
        directly, so the record is checked as the API checks a body (``from_open311``); whether
        its city exists is for the worker to say, with the city loaded (``Cities.require``)."""
        d = loads(raw, STATUS_CHANGED)
        city = d.get("city")
        if not isinstance(city, str) or not city:
            raise InvalidInput("city", f"unknown city {city!r}")
        department = d.get("department")
        if not isinstance(department, str) or not DEPARTMENT.fullmatch(department):
            raise InvalidInput("department", "required, a department name (e.g. voirie)")
        if "updated_datetime" not in d:
            raise InvalidInput("updated_datetime", "required, an ISO 8601 date-time")
        return cls.from_open311(d, city=city, department=department)

    @classmethod
    def from_open311(
        cls,
        body: dict[str, Any],
        *,
        city: str,
        department: str,
        request_id: str | None = None,
        now: float | None = None,
    ) -> StatusChange:
        """Validate Open311-shaped JSON: ``service_request_id`` (unless given), ``status``,
        ``status_notes``, ``updated_datetime`` (default: now) and the optional request fields.
        A feed's text is normalised, never refused for its whitespace or control characters
        (``streams.text``: the notes and the description keep their line breaks, the other
        fields are one line)."""
        now = time.time() if now is None else now
        rid = request_id or check_request_id(body.get("service_request_id"), "service_request_id")
        status = STATUS["status"].read(body, "status")
        notes = STATUS["status_notes"].read(body, "status_notes")
        updated = body.get("updated_datetime")
        if updated is None:
            updated = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        at = parse_time(updated, "updated_datetime")
        if at > now + FUTURE_SLACK:
            raise InvalidInput("updated_datetime", "is more than a day in the future")
        return cls(city, department, rid, status, notes, updated, round(at * 1000), _info(body))


def change_event(request_id: str, updated_ms: int) -> str:
    return f"request:{request_id}@{updated_ms}"


def _info(body: dict[str, Any]) -> RequestInfo:
    values = {name: f.read(body, name) for name, f in INFO.items()}
    lat, long = values.pop("lat"), values.pop("long")
    if (lat is None) != (long is None):
        raise InvalidInput("lat" if lat is None else "long", "give both lat and long, or neither")
    return RequestInfo(**values, lat=lat, long=long)


def _status(value: object, where: str) -> str:
    if value not in STATUSES:
        raise InvalidInput(where, f"must be one of {', '.join(STATUSES)}")
    return str(value)


def _notes(value: object, where: str) -> str:
    value = value or ""  # as before the table: any false value is no notes
    if not isinstance(value, str) or len(value) > MAX_NOTES:  # as given (the schema's)
        raise InvalidInput(where, f"a string of at most {MAX_NOTES} characters")
    return text.paragraphs(value)


def _feed_text(limit: int, one_line: bool) -> Field:
    """An Open311 text field: absent, null or "" is unknown; normalised, never refused for its
    characters (``streams.text``)."""

    def check(value: object, where: str) -> str:
        if value is None or value == "":
            return ""
        if not isinstance(value, str) or len(value) > limit:
            raise InvalidInput(where, f"a string of at most {limit} characters")
        return text.line(value) if one_line else text.paragraphs(value)

    return Field(nullable({"type": "string", "maxLength": limit}), check)


def _time(value: object, where: str) -> str:
    """A date-time as given (ISO 8601 with its offset), or "" when absent."""
    if value is None:
        return ""
    parse_time(value, where)
    return str(value)


def _coordinate(limit: int, what: str) -> Field:
    """Open311's ``lat`` or ``long``: a number, or a number as text (some servers send text)."""

    def check(v: object, where: str) -> float | None:
        if v is None or v == "":
            return None
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise InvalidInput(where, "must be a number (WGS84 degrees)") from None
        if isinstance(v, bool) or not isinstance(v, int | float) or not -limit <= v <= limit:
            raise InvalidInput(where, f"must be a number from -{limit} to {limit} (WGS84 degrees)")
        return float(v)

    schema: Schema = {
        "description": f"WGS 84 {what}, -{limit} to {limit}, as a number or as text (some Open311 "
        "servers send text); give both lat and long, or neither",
        "anyOf": [
            {"type": "number", "minimum": -limit, "maximum": limit},
            {"type": "string", "pattern": r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^$"},
            {"type": "null"},
        ],
    }
    return Field(schema, check)


# the rules of a body's fields (``subscriptions.rules``), checked in this order; the OpenAPI
# document's RequestInput and StatusChangeInput are made of them
INFO: dict[str, Field] = {  # the request's Open311 fields
    **{name: _feed_text(limit, name not in MULTI_LINE) for name, limit in TEXT_FIELDS.items()},
    "requested_datetime": Field(nullable(ref("DateTime")), _time),
    "lat": _coordinate(90, "latitude"),
    "long": _coordinate(180, "longitude"),
}
STATUS: dict[str, Field] = {  # updated_datetime: checked with the time (``from_open311``)
    "status": Field(ref("RequestStatus"), _status),
    "status_notes": Field(nullable({"type": "string", "maxLength": MAX_NOTES}), _notes),
    "updated_datetime": Field(
        nullable({**ref("DateTime"), "description": "default: now; at most a day in the future"})
    ),
}
