"""JSON Schemas (OpenAPI 3.1, i.e. JSON Schema 2020-12) of the bodies the HTTP API takes, and
the small shared ones (languages, categories, channels, dates, addresses).

A body whose rules are declared once, as ``subscriptions.rules.Field`` tables beside their
checks, brings its own schemas (``streams.announcements.SCHEMAS``, ``subscriptions.targets``,
``subscriptions.geometry``: ``notifier.api.openapi.components`` gathers them). The bodies here
still say what their validators in ``subscriptions`` and ``streams`` accept with the validators'
constants, so a changed limit changes the document too. What a schema cannot say (an area code
of the catalogue, a closed ring, a polygon inside the city, a timezone name, both ``lat`` and
``long``) is in its description; the API answers 422 for it all the same.
"""

from __future__ import annotations

from typing import Any

from streams.request_records import FILED, INFO, STATUS, TEXT_FIELDS
from streams.request_records import STATUSES as REQUEST_STATUSES
from subscriptions.caps import MAX_SUBSCRIPTIONS
from subscriptions.contacts import CHANNELS
from subscriptions.geometry import MAX_RADIUS_M, MIN_RADIUS_M, number
from subscriptions.preferences import PREFERENCES
from subscriptions.rules import Schema, body_schema, nullable, properties, ref
from subscriptions.subscription import (
    DEPARTMENT,
    KINDS,
    MIN_SEVERITY,
    NOT_FOR_REQUESTS,
    REQUEST_ID,
)
from templates import LANGUAGES

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **more: Any) -> Schema:
    out: Schema = {"type": "object", "properties": properties, **more}
    if required:
        out["required"] = list(required)
    return out


def text(max_length: int, description: str = "", **more: Any) -> Schema:
    out: Schema = {"type": "string", "maxLength": max_length, **more}
    return {**out, "description": description} if description else out


def array(items: Schema, **more: Any) -> Schema:
    return {"type": "array", "items": items, **more}


_FILTERS: dict[str, Schema] = {
    "categories": array(ref("Category"), description="none: every category"),
    "min_severity": {**ref("SeverityInput"), "default": MIN_SEVERITY},
    "channels": array(
        ref("Channel"), minItems=1, description="none: the citizen's default_channels"
    ),
    "cadence": ref("Cadence"),
}


def _subscription_input(kind: str, properties: dict[str, Schema], *required: str) -> Schema:
    """One kind of subscription: its own key given, the other kinds' keys absent or null."""
    others = {k: {"type": "null"} for k in KINDS if k != kind}
    return obj({**others, **properties}, (kind, *required), title=kind)


_REQUEST_FIELDS = properties(INFO)
_STATUS_FIELDS = {**properties(STATUS), "status": {**ref("RequestStatus"), "default": FILED}}
SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "field": {
                        "type": ["string", "null"],
                        "description": "the field, header or part at fault (e.g. "
                        "`target.areas[0]`, `Authorization`, `body`), or null",
                    },
                    "reason": STRING,
                },
                ("field", "reason"),
                additionalProperties=False,
            )
        },
        ("error",),
        additionalProperties=False,
    ),
    "Language": {"enum": list(LANGUAGES)},
    "Channel": {"enum": list(CHANNELS)},
    "RequestStatus": {"enum": list(REQUEST_STATUSES)},
    "DateTime": {
        "type": "string",
        "format": "date-time",
        "description": "ISO 8601 with a UTC offset, e.g. 2026-12-01T18:00:00+01:00",
    },
    "RequestId": {"type": "string", "pattern": REQUEST_ID.pattern, "examples": ["14-00684314"]},
    "RegistrationInput": obj(
        {
            "email": nullable(ref("Email")),
            "phone": nullable(ref("Phone")),
            "language": {**ref("Language"), "default": "fr"},
            "subscriptions": array(
                ref("SubscriptionInput"),
                maxItems=MAX_SUBSCRIPTIONS,
                description="made with the citizen; all checked before anything is kept",
            ),
        },
        anyOf=[
            {"properties": {"email": STRING}, "required": ["email"]},
            {"properties": {"phone": STRING}, "required": ["phone"]},
        ],
    ),
    "ContactInput": {
        "description": "Exactly one of email, phone (texted a code) or push (confirmed at once).",
        "oneOf": [
            obj(
                {"email": ref("Email"), "phone": {"type": "null"}, "push": {"type": "null"}},
                ("email",),
            ),
            obj(
                {"phone": ref("Phone"), "email": {"type": "null"}, "push": {"type": "null"}},
                ("phone",),
            ),
            obj(
                {
                    "push": ref("PushSubscription"),
                    "email": {"type": "null"},
                    "phone": {"type": "null"},
                },
                ("push",),
            ),
        ],
    },
    "CodeInput": obj(
        {"code": {"type": "string", "pattern": "^[0-9]+$", "description": "the texted code"}},
        ("code",),
    ),
    "MagicLinkInput": obj(
        {"email": nullable(ref("Email")), "phone": nullable(ref("Phone"))},
        description="The email address or phone number registered (email first if both).",
        anyOf=[
            {"properties": {"email": STRING}, "required": ["email"]},
            {"properties": {"phone": STRING}, "required": ["phone"]},
        ],
    ),
    "PreferencesInput": body_schema(PREFERENCES, additionalProperties=False),
    "SubscriptionInput": {
        "description": "Exactly one of area, point (with radius_m), polygon, request or "
        "department.",
        "oneOf": [
            _subscription_input(
                "area", {"area": {"type": "string", "description": "an area code"}, **_FILTERS}
            ),
            _subscription_input(
                "point",
                {
                    "point": ref("LonLat"),
                    "radius_m": number(MIN_RADIUS_M, MAX_RADIUS_M),
                    **_FILTERS,
                },
                "radius_m",
            ),
            _subscription_input("polygon", {"polygon": ref("SubscriptionPolygon"), **_FILTERS}),
            _subscription_input(
                "department",
                {
                    "department": {"type": "string", "pattern": f"^{DEPARTMENT.pattern}$"},
                    **_FILTERS,
                },
            ),
            _subscription_input(
                "request",
                {
                    "request": ref("RequestId"),
                    "channels": array(
                        ref("Channel"), default=[], description="none: every confirmed channel"
                    ),
                    **{k: {"type": "null"} for k in NOT_FOR_REQUESTS},
                },
            ),
        ],
    },
    "RequestInput": obj(
        {
            "service_request_id": {**ref("RequestId"), "description": "default: one is made"},
            **_REQUEST_FIELDS,
            "service_code": text(TEXT_FIELDS["service_code"], minLength=1),
            **_STATUS_FIELDS,
            "email": {"anyOf": [ref("Email"), {"enum": ["", None]}], "description": "requester"},
            "phone": {"anyOf": [ref("Phone"), {"enum": ["", None]}], "description": "requester"},
            "language": {**ref("Language"), "default": "fr"},
        },
        ("service_code",),
        description="Open311 GeoReport v2 fields, and the requester's email and/or phone.",
    ),
    "StatusChangeInput": obj(
        {
            **_STATUS_FIELDS,
            "status": ref("RequestStatus"),
            "service_request_id": {**ref("RequestId"), "description": "the one in the path"},
            **_REQUEST_FIELDS,
        },
        ("status",),
    ),
    "TwilioStatusCallback": obj(
        {name: STRING for name in ("MessageSid", "SmsSid", "MessageStatus", "SmsStatus")}
        | {"ErrorCode": {"type": "string", "pattern": "^[0-9]*$"}},
        description="Twilio's status callback (form fields; MessageSid or SmsSid, "
        "MessageStatus or SmsStatus).",
        additionalProperties=STRING,
    ),
    "TwilioInbound": obj(
        {name: STRING for name in ("MessageSid", "SmsSid", "From", "To", "Body", "OptOutType")},
        ("From", "To"),
        description="Twilio's inbound SMS (form fields; MessageSid or SmsSid).",
        additionalProperties=STRING,
    ),
}
