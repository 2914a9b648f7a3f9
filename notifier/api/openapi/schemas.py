"""JSON Schemas (OpenAPI 3.1, i.e. JSON Schema 2020-12) of the HTTP API's bodies.

They say what the validators in ``subscriptions`` and ``streams`` accept, with their own
constants, so a changed limit changes the document too. What a schema cannot say (an area code
of the catalogue, a closed ring, a polygon inside the city, a timezone name, both ``lat`` and
``long``) is in its description; the API answers 422 for it all the same.
"""

from __future__ import annotations

import re
from typing import Any

from notifier.api.http import MAX_BODY as MAX_JSON
from notifier.api.http import MAX_DOCUMENT
from notifier.api.openapi import cities
from notifier.api.path_ids import pattern
from streams import announcements
from streams.ledger import RANK
from streams.request_records import MAX_NOTES, TEXT_FIELDS
from streams.request_records import STATUSES as REQUEST_STATUSES
from subscriptions import geometry, targets
from subscriptions.caps import MAX_SUBSCRIPTIONS
from subscriptions.categories import CATEGORIES, SEVERITIES
from subscriptions.contacts import CHANNELS, STATUSES
from subscriptions.geometry import MAX_RADIUS_M, MIN_RADIUS_M, number
from subscriptions.preferences import HHMM
from subscriptions.rules import Schema, nullable, ref
from subscriptions.subscription import KINDS, REQUEST_ID
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


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


_CONTACT = obj(
    {
        "id": STRING,
        "channel": {"enum": list(CHANNELS)},
        "address": {
            "type": "string",
            "description": "the email address, the E.164 number, or the push service's host",
        },
        "status": {"enum": list(STATUSES)},
    },
    ("id", "channel", "address", "status"),
)
_FILTERS: dict[str, Schema] = {
    "categories": array(ref("Category"), description="none: every category"),
    "min_severity": {**ref("SeverityInput"), "default": "unknown"},
    "channels": array(
        ref("Channel"), minItems=1, description="none: the citizen's default_channels"
    ),
    "cadence": ref("Cadence"),
}
_KIND_KEYS = ("area", "point", "polygon", "request", "department")
_FALLBACK = array(
    {"type": "string", "enum": ["sms", "email"]},
    uniqueItems=True,
    description="Where an alert goes, in this order, when its web push is not delivered "
    "(the subscription was removed, or the push service kept refusing it). Empty: nowhere.",
)
_CADENCE: Schema = {
    "description": "When news goes out: at once, or in a digest at a local time.",
    "anyOf": [
        {"const": "immediate"},
        obj({"period": {"const": "immediate"}}, ("period",)),
        obj(
            {
                "period": {"enum": ["daily", "weekly"]},
                "at": {
                    "type": "string",
                    "pattern": "^([01]\\d|2[0-3]):([0-5]\\d)$",
                    "default": "18:00",
                },
                "day": {
                    "enum": [
                        "monday",
                        "tuesday",
                        "wednesday",
                        "thursday",
                        "friday",
                        "saturday",
                        "sunday",
                    ],
                    "default": "monday",
                },
            },
            ("period",),
        ),
    ],
}


def _subscription_input(kind: str, properties: dict[str, Schema], *required: str) -> Schema:
    """One kind of subscription: its own key given, the other kinds' keys absent or null."""
    others = {k: {"type": "null"} for k in _KIND_KEYS if k != kind}
    return obj({**others, **properties}, (kind, *required), title=kind)


def _coordinate(what: str, limit: int) -> Schema:
    return {
        "description": f"WGS 84 {what}, -{limit} to {limit}, as a number or as text (some Open311 "
        "servers send text); give both lat and long, or neither",
        "anyOf": [
            number(-limit, limit),
            {"type": "string", "pattern": r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^$"},
            {"type": "null"},
        ],
    }


_REQUEST_FIELDS: dict[str, Schema] = {
    **{name: nullable(text(limit)) for name, limit in TEXT_FIELDS.items()},
    "requested_datetime": nullable(ref("DateTime")),
    "lat": _coordinate("latitude", 90),
    "long": _coordinate("longitude", 180),
}
_STATUS_FIELDS: dict[str, Schema] = {
    "status": {**ref("RequestStatus"), "default": "open"},
    "status_notes": nullable(text(MAX_NOTES)),
    "updated_datetime": nullable(
        {**ref("DateTime"), "description": "default: now; at most a day in the future"}
    ),
}
_DELIVERIES = obj(
    {},
    propertyNames=ref("Channel"),
    additionalProperties=obj({}, propertyNames={"enum": list(RANK)}, additionalProperties=INTEGER),
    description="Notifications per channel and status (statuses with none are left out).",
)
_VIEW_TARGET = obj(
    {
        "areas": array(STRING),
        "polygons": array(ref("TargetPolygon")),
        "circles": array(ref("Circle")),
    },
    ("areas",),
)

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
    "Category": {"enum": list(CATEGORIES)},
    "Severity": {"enum": list(SEVERITIES), "description": "CAP 1.2 severity, lowest first"},
    "SeverityInput": {
        "type": "string",
        "pattern": "^(" + "|".join(_any_case(s) for s in SEVERITIES) + ")$",
        "description": f"one of {', '.join(SEVERITIES)} (CAP 1.2), in any case",
        "examples": list(SEVERITIES),
    },
    "Channel": {"enum": list(CHANNELS)},
    "RequestStatus": {"enum": list(REQUEST_STATUSES)},
    "DateTime": {
        "type": "string",
        "format": "date-time",
        "description": "ISO 8601 with a UTC offset, e.g. 2026-12-01T18:00:00+01:00",
    },
    "Email": text(254, "an email address", pattern=r'^\s*[^\s<>,;"\\]+@[^\s<>,;"\\@]*\.'),
    "Phone": text(32, "a mobile number, French (06 12 34 56 78) or E.164 (+33612345678)"),
    "RequestId": {"type": "string", "pattern": REQUEST_ID.pattern, "examples": ["14-00684314"]},
    "Accepted": obj(
        {
            "id": STRING,
            "version": {"type": "integer", "minimum": 1},
            "status": {
                "enum": ["published", "accepted"],
                "description": "accepted: kept in the outbox, handed to Kafka later",
            },
            "href": STRING,
        },
        ("id", "version", "status", "href"),
    ),
    "Deliveries": _DELIVERIES,
    "Announcement": obj(
        {
            "id": STRING,
            "department": STRING,
            "status": {"enum": ["accepted", "published", "processed", "cancelled"]},
            "version": {"type": "integer", "minimum": 1},
            "category": ref("Category"),
            "severity": ref("Severity"),
            "target": _VIEW_TARGET,
            "content": obj(
                {},
                propertyNames={"enum": list(LANGUAGES)},
                additionalProperties=obj(
                    {k: STRING for k in ("title", "body", "link", "instructions")},
                    ("title", "body", "link", "instructions"),
                ),
            ),
            "published_at": ref("DateTime"),
            "expires_at": nullable(ref("DateTime")),
            "processed_at": nullable(ref("DateTime")),
            "matched_citizens": INTEGER,
            "deliveries": ref("Deliveries"),
        },
        ("id", "department", "status", "version", "category", "severity", "target", "content"),
    ),
    "Preview": obj(
        {
            "citizens": INTEGER,
            "contact_points": obj({}, propertyNames=ref("Channel"), additionalProperties=INTEGER),
            "areas": {"type": "string", "description": "the names of the areas reached"},
            "messages": obj(
                {},
                propertyNames=ref("Channel"),
                additionalProperties=obj(
                    {},
                    additionalProperties=obj(
                        {},
                        additionalProperties={"type": ["string", "integer"]},
                        description="the rendered parts; SMS add encoding, segments, length",
                    ),
                ),
            ),
        },
        ("citizens", "contact_points", "areas", "messages"),
    ),
    "CapResults": obj(
        {
            "alerts": array(
                obj(
                    {
                        "identifier": STRING,
                        "msg_type": STRING,
                        "delivered": {"type": "boolean"},
                        "reason": STRING,
                        "id": STRING,
                        "version": INTEGER,
                        "status": STRING,
                        "href": STRING,
                        "cancelled": array(STRING),
                    },
                    ("identifier", "msg_type", "delivered"),
                )
            )
        },
        ("alerts",),
    ),
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
    "PushSubscription": obj(
        {
            "endpoint": {
                **text(2000, pattern=r"^https://"),
                "description": "At a push service the deployment accepts (NOTIFIER_PUSH_SERVICES: "
                "FCM, Mozilla, Apple, Windows by default); a loopback http:// one only where "
                "NOTIFIER_PUSH_LOOPBACK is on (local tests).",
            },
            "keys": obj(
                {
                    "p256dh": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{87}=?$"},
                    "auth": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{22}(==)?$"},
                },
                ("p256dh", "auth"),
            ),
        },
        ("endpoint", "keys"),
        description="A browser's PushSubscription.toJSON() (keys in base64url).",
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
    "QuietHours": obj(
        {
            "start": {"type": "string", "pattern": HHMM.pattern},
            "end": {"type": "string", "pattern": HHMM.pattern},
        },
        ("start", "end"),
        description="A local time window (start and end differ), across midnight or not.",
    ),
    "PreferencesInput": obj(
        {
            "language": ref("Language"),
            "timezone": {"type": "string", "description": "an IANA timezone, e.g. Europe/Paris"},
            "quiet_hours": nullable(ref("QuietHours")),
            "default_channels": array(ref("Channel"), minItems=1),
            "fallback": _FALLBACK,
        },
        additionalProperties=False,
    ),
    "Cadence": _CADENCE,
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
                    "department": {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,39}$"},
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
                    **{k: {"type": "null"} for k in ("categories", "min_severity", "radius_m")},
                },
            ),
        ],
    },
    "Subscription": obj(
        {
            "id": STRING,
            "kind": {"enum": list(KINDS)},
            "categories": array(ref("Category")),
            "min_severity": ref("Severity"),
            "channels": array(ref("Channel")),
            "area": STRING,
            "point": ref("LonLat"),
            "radius_m": {"type": "number"},
            "polygon": ref("SubscriptionPolygon"),
            "request": ref("RequestId"),
            "department": STRING,
            "cadence": ref("Cadence"),
        },
        ("id", "kind", "categories", "min_severity", "channels"),
        oneOf=[
            obj({"kind": {"const": "area"}}, ("area",)),
            obj({"kind": {"const": "point"}}, ("point", "radius_m")),
            obj({"kind": {"const": "polygon"}}, ("polygon",)),
            obj({"kind": {"const": "request"}}, ("request",)),
            obj({"kind": {"const": "department"}}, ("department",)),
        ],
    ),
    "ContactPoint": _CONTACT,
    "Citizen": obj(
        {
            "id": STRING,
            "language": ref("Language"),
            "timezone": STRING,
            "quiet_hours": nullable(ref("QuietHours")),
            "default_channels": array(ref("Channel")),
            "fallback": _FALLBACK,
        },
        ("id", "language", "timezone", "quiet_hours"),
    ),
    "Consent": obj(
        {
            "contact": STRING,
            "change": {"enum": list(STATUSES)},
            "how": STRING,
            "at": {"type": "integer", "description": "epoch seconds"},
        },
        ("contact", "change", "how", "at"),
    ),
    "Registered": obj(
        {
            "citizen": obj({"id": STRING, "language": ref("Language")}, ("id", "language")),
            "contacts": array(ref("ContactPoint")),
            "token": {"type": "string", "description": "the management token (30 days)"},
            "next": STRING,
            "subscriptions": array(ref("Subscription"), description="when some were given"),
        },
        ("citizen", "contacts", "token"),
    ),
    "CitizenView": obj(
        {
            "citizen": ref("Citizen"),
            "contacts": array(ref("ContactPoint")),
            "subscriptions": array(ref("Subscription")),
            "consent": array(ref("Consent")),
        },
        ("citizen", "contacts", "subscriptions", "consent"),
    ),
    "Export": obj(
        {
            "city": STRING,
            "citizen": obj(
                {"id": STRING, "language": ref("Language"), "timezone": STRING},
                ("id", "language", "timezone"),
            ),
            "contacts": array({**_CONTACT, "description": "with push endpoints in full"}),
            "subscriptions": array(ref("Subscription")),
            "consent": array(ref("Consent")),
            "notifications": array(
                obj(
                    {"id": STRING, "event": STRING, "channel": ref("Channel"), "status": STRING},
                    ("id", "status"),
                    additionalProperties=STRING,
                ),
                description="newest first",
            ),
        },
        ("city", "citizen", "contacts", "subscriptions", "consent", "notifications"),
    ),
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
    "RequestFiled": obj(
        {
            "service_request_id": ref("RequestId"),
            "status": ref("RequestStatus"),
            "href": STRING,
            "requester": obj(
                {
                    "subscribed": {"type": "boolean"},
                    "contacts": array(
                        obj(
                            {"channel": ref("Channel"), "status": {"enum": list(STATUSES)}},
                            ("channel", "status"),
                        )
                    ),
                },
                ("subscribed", "contacts"),
            ),
        },
        ("service_request_id", "status", "href", "requester"),
    ),
    "StatusChangeAnswer": obj(
        {
            "service_request_id": ref("RequestId"),
            "status": ref("RequestStatus"),
            "updated_datetime": {"type": "string", "description": "as given (or now)"},
            "href": STRING,
        },
        ("service_request_id", "status", "updated_datetime", "href"),
    ),
    "Request": obj(
        {
            "service_request_id": ref("RequestId"),
            "department": STRING,
            **{name: STRING for name in TEXT_FIELDS},
            "requested_datetime": STRING,
            "lat": {"type": "number"},
            "long": {"type": "number"},
            "status": ref("RequestStatus"),
            "open311_status": {"enum": ["open", "closed"]},
            "status_notes": STRING,
            "updated_datetime": STRING,
            "requester_subscribed": {"type": "boolean"},
            "followers": INTEGER,
            "history": array(
                obj(
                    {
                        "status": ref("RequestStatus"),
                        "status_notes": STRING,
                        "updated_datetime": STRING,
                        "deliveries": ref("Deliveries"),
                    },
                    ("status", "status_notes", "updated_datetime", "deliveries"),
                ),
                description="oldest first",
            ),
            "deliveries": ref("Deliveries"),
        },
        ("service_request_id", "department", "status", "open311_status", "history", "deliveries"),
    ),
    "Areas": obj(
        {
            "city": STRING,
            "areas": array(
                obj(
                    {
                        "code": {"type": "string", "examples": ["75105"]},
                        "kind": {"type": "string", "examples": ["arrondissement", "quartier"]},
                        "name": STRING,
                        "parent": {"type": ["string", "null"]},
                    },
                    ("code", "kind", "name", "parent"),
                )
            ),
        },
        ("city", "areas"),
    ),
    "Readiness": obj(
        {"status": {"enum": ["ready", "not ready"]}, "redis": STRING},
        ("status", "redis"),
        additionalProperties=STRING,
        description="`ok`, or `unreachable` (with the error's type), per dependency",
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
    "Health": obj({"status": {"const": "ok"}}, ("status",)),
    "PushKey": obj({"public_key": {"type": "string", "description": "base64url"}}, ("public_key",)),
    "Erased": obj(
        {"erased": STRING, "notifications_anonymised": INTEGER},
        ("erased", "notifications_anonymised"),
    ),
    "CitizenAnswer": obj({"citizen": ref("Citizen")}, ("citizen",)),
    "ContactAnswer": obj({"contact": ref("ContactPoint")}, ("contact",)),
    "Status": obj({"status": STRING}, ("status",)),
}

# status -> (name of the shared error response, what it means)
ERRORS = {
    400: ("BadRequest", "The body is not JSON (`body`), or a webhook lacks a field."),
    401: ("Unauthorized", "No Bearer token, or one that is not valid here (`Authorization`)."),
    403: ("Forbidden", "The token is another citizen's, or a Twilio signature does not match."),
    404: ("NotFound", "No such city or object (another department's does not exist for you)."),
    409: ("Conflict", "The request clashes with the current state (the field says which)."),
    413: (
        "TooLarge",
        f"JSON over {MAX_JSON // 1024} KiB, any body over {MAX_DOCUMENT // 1024} KiB.",
    ),
    422: ("Invalid", "A field, header or path part is wrong: `field` names it, `reason` says why."),
    429: ("TooMany", "Too many messages to an address typed in: try again after `Retry-After`."),
    503: (
        "Unavailable",
        "The store (Redis) or the event log (Kafka) is away: send the same request again"
        " (after `Retry-After`, when given).",
    ),
}
PARAMETERS = {
    "city": "The city (tenant), e.g. `paris`.",
    "cid": "The citizen's id (`cit_…`).",
    "pid": "A contact point's id (`cp_…`).",
    "sid": "A subscription's id (`sub_…`).",
    "eid": "An announcement's id (`evt_…`).",
    "rid": "A service request's `service_request_id`.",
    "token": "The signed token of the link a message carried.",
}


def _header(description: str, schema: Schema) -> Schema:
    return {"description": description, "required": True, "schema": schema}


def components() -> Schema:
    """The ``components`` of the document: schemas, shared answers, headers, parameters."""
    errors = {
        name: {
            "description": f"{status}: {what}",
            "content": {"application/json": {"schema": ref("Error")}},
        }
        for status, (name, what) in ERRORS.items()
    }
    errors["Unauthorized"]["headers"] = {"WWW-Authenticate": header("WWWAuthenticate")}
    errors["TooMany"]["headers"] = {"Retry-After": header("RetryAfter")}
    path = {"type": "string"}
    return {
        "schemas": {
            **SCHEMAS,
            **geometry.SCHEMAS,
            **targets.SCHEMAS,
            **announcements.SCHEMAS,
            **cities.SCHEMAS,
        },
        "responses": errors,
        "headers": {
            "Location": _header("Where to read it.", STRING),
            "RetryAfter": _header("Seconds to wait.", {"type": "integer", "minimum": 1}),
            "WWWAuthenticate": _header("`Bearer`.", STRING),
            "ContentDisposition": _header("An attachment, with a file name.", STRING),
        },
        "parameters": {
            name: {
                "name": name,
                "in": "path",
                "required": True,
                "description": what,
                "schema": ref("RequestId")
                if name == "rid"
                else {**path, "pattern": pattern(name)}
                if pattern(name)
                else path,
            }
            for name, what in PARAMETERS.items()
        },
        "securitySchemes": {
            "citizenToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "A citizen's management token (registration or magic link).",
            },
            "departmentKey": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "nk_…",
                "description": "A department key (`notifier department-key create`).",
            },
            "operatorKey": cities.OPERATOR_KEY,
            "twilioSignature": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Twilio-Signature",
                "description": "Twilio's signature of the public URL and the form parameters.",
            },
        },
    }


def header(name: str) -> Schema:
    return {"$ref": f"#/components/headers/{name}"}
