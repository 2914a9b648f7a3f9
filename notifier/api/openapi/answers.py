"""JSON Schemas of the HTTP API's answers (the bodies it sends back)."""

from __future__ import annotations

from notifier.api.openapi.schemas import INTEGER, STRING, array, obj
from streams.request_records import TEXT_FIELDS
from streams.state.ledger import RANK
from subscriptions.contacts import CHANNELS, STATUSES
from subscriptions.preferences import FALLBACK
from subscriptions.rules import Schema, nullable, ref
from subscriptions.subscription import KINDS
from templates import LANGUAGES

CONTACT = obj(
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
DELIVERIES = obj(
    {},
    propertyNames=ref("Channel"),
    additionalProperties=obj({}, propertyNames={"enum": list(RANK)}, additionalProperties=INTEGER),
    description="Notifications per channel and status (statuses with none are left out).",
)
VIEW_TARGET = obj(
    {
        "areas": array(STRING),
        "polygons": array(ref("TargetPolygon")),
        "circles": array(ref("Circle")),
    },
    ("areas",),
)

SCHEMAS: dict[str, Schema] = {
    "Accepted": obj(
        {
            "id": STRING,
            "version": {"type": "integer", "minimum": 1},
            "status": {
                "enum": ["published", "accepted", "scheduled"],
                "description": "accepted: kept in the outbox, handed to Kafka later; "
                "scheduled: kept until its time",
            },
            "href": STRING,
        },
        ("id", "version", "status", "href"),
    ),
    "Deliveries": DELIVERIES,
    "Announcement": obj(
        {
            "id": STRING,
            "department": STRING,
            "status": {"enum": ["scheduled", "accepted", "published", "processed", "cancelled"]},
            "version": {"type": "integer", "minimum": 1},
            "category": ref("Category"),
            "severity": ref("Severity"),
            "target": VIEW_TARGET,
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
    "UpdatePreview": obj(
        {
            "changed": {
                "type": "array",
                "items": STRING,
                "description": "area, validity, severity, category; <lang>.title, "
                "<lang>.text, <lang>.link",
            },
            "told": {**INTEGER, "description": "citizens an earlier version was sent to"},
            "messaged": obj(
                {n: INTEGER for n in ("all", "new", "none")},
                ("all", "new", "none"),
                description="per `retell`: how many citizens would get a message",
            ),
            "told_again": obj(
                {n: INTEGER for n in ("all", "new", "none")},
                ("all", "new", "none"),
                description="per `retell`: of them, how many were told before",
            ),
            "warnings": {
                "type": "array",
                "items": obj({"field": STRING, "reason": STRING}, ("field", "reason")),
            },
        },
        ("changed", "told", "messaged", "told_again", "warnings"),
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
        oneOf=[  # each kind's own key (``Subscription.public``); a point has its radius
            obj({"kind": {"const": k}}, (k, "radius_m") if k == "point" else (k,)) for k in KINDS
        ],
    ),
    "ContactPoint": CONTACT,
    "Citizen": obj(
        {
            "id": STRING,
            "language": ref("Language"),
            "timezone": STRING,
            "quiet_hours": nullable(ref("QuietHours")),
            "default_channels": array(ref("Channel")),
            "fallback": FALLBACK,
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
            "contacts": array({**CONTACT, "description": "with push endpoints in full"}),
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
        description="`ok`, or `unreachable` (with the error's type), per dependency; under "
        "`notifier up`, `worker`: `ok` or what its embedded worker still waits for",
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
