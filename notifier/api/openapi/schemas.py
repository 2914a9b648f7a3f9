"""JSON Schemas (OpenAPI 3.1, i.e. JSON Schema 2020-12) of the bodies the HTTP API takes, and
the small shared ones (the error, languages, channels, dates).

Each input rule is declared beside its check, and its module brings its schemas (``SCHEMAS`` of
``streams.announcements``, ``subscriptions.targets``, ``subscriptions.subscription``…, which
``notifier.api.openapi.components`` gathers); a body's fields are ``subscriptions.rules.Field``
tables that its check reads in order. Here is what is left: the bodies made of those pieces
whose shape (which keys, "exactly one of") their route's handler checks, and the shared
schemas. What a schema cannot say (an area code of the catalogue, a closed ring, a polygon
inside the city, a timezone name, both ``lat`` and ``long``) is in its description; the API
answers 422 for it all the same.
"""

from __future__ import annotations

from typing import Any

from streams.request_records import FILED, INFO, STATUS, TEXT_FIELDS
from streams.request_records import STATUSES as REQUEST_STATUSES
from subscriptions.caps import MAX_SUBSCRIPTIONS
from subscriptions.contacts import CHANNELS
from subscriptions.preferences import PREFERENCES
from subscriptions.rules import Schema, body_schema, nullable, properties, ref
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
