"""JSON Schemas (OpenAPI 3.1, i.e. JSON Schema 2020-12) shared by the document's bodies and
answers (the error, languages, channels, request statuses, dates), and a citizen's preferences.

Each input rule is declared beside its check, and its module brings its schemas, which
``notifier.api.openapi.components`` gathers: a field's rules in ``streams`` and
``subscriptions`` (``streams.announcements``, ``subscriptions.targets``,
``subscriptions.subscription``…), a body's shape (which keys, "exactly one of") beside the
route's handler that checks it (``notifier.api.citizens``, ``manage``, ``service_requests``),
Twilio's forms beside their parsers (``channels.twilio_webhooks``). A body is a table of
``subscriptions.rules.Field`` that its check reads. What a schema cannot say (an area code of the
catalogue, a closed ring, a polygon inside the city, a timezone name, both ``lat`` and ``long``)
is in its description; the API answers 422 for it all the same.
"""

from __future__ import annotations

from typing import Any

from streams.request_records import STATUSES as REQUEST_STATUSES
from subscriptions.contacts import CHANNELS
from subscriptions.errors import CODES
from subscriptions.preferences import PREFERENCES
from subscriptions.rules import Schema, body_schema
from templates import LANGUAGES

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **more: Any) -> Schema:
    out: Schema = {"type": "object", "properties": properties, **more}
    if required:
        out["required"] = list(required)
    return out


def array(items: Schema, **more: Any) -> Schema:
    return {"type": "array", "items": items, **more}


FAULT: dict[str, Schema] = {  # one fault of a request
    "field": {
        "type": ["string", "null"],
        "description": "the field, header or part at fault (e.g. "
        "`target.areas[0]`, `subscriptions[0].radius_m`, `Authorization`, `body`), or null",
    },
    "reason": {**STRING, "description": "why, in English, for API users (may be reworded)"},
    "code": {
        "enum": list(CODES),
        "description": "why, as a stable code that pages translate: "
        + "; ".join(f"`{c}`: {what}" for c, what in CODES.items()),
    },
}
SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "error": obj(
                {
                    **FAULT,
                    "errors": array(
                        obj(FAULT, ("field", "reason", "code"), additionalProperties=False),
                        minItems=1,
                        description="every fault found in the request (the first is the one "
                        "named beside this list); a page shows each beside its field",
                    ),
                },
                ("field", "reason", "code", "errors"),
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
}
# the bodies taken whose shape is still written here: a citizen's preferences (its keys, the
# only ones taken, are ``subscriptions.preferences.PREFERENCES``)
BODIES: dict[str, Schema] = {
    "PreferencesInput": body_schema(PREFERENCES, additionalProperties=False),
}
