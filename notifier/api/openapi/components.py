"""The ``components`` of the OpenAPI document: the schemas (bodies taken, from their validators'
declarations; answers), the shared error answers, headers, path parameters, security schemes."""

from __future__ import annotations

from channels import twilio_webhooks
from notifier.api import announcement_list, citizens, drafts, manage, service_requests
from notifier.api.http import MAX_BODY as MAX_JSON
from notifier.api.http import MAX_DOCUMENT
from notifier.api.openapi import answers, cities
from notifier.api.openapi.schemas import BODIES, SCHEMAS, STRING
from notifier.api.path_ids import pattern
from streams import announcements
from subscriptions import (
    cadence,
    categories,
    contacts,
    geometry,
    preferences,
    subscription,
    targets,
)
from subscriptions.rules import Schema, ref

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
    "did": "A draft's id (`drf_…`).",
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
            **citizens.SCHEMAS,
            **manage.SCHEMAS,
            **BODIES,
            **service_requests.SCHEMAS,
            **twilio_webhooks.SCHEMAS,
            **answers.SCHEMAS,
            **categories.SCHEMAS,
            **contacts.SCHEMAS,
            **geometry.SCHEMAS,
            **preferences.SCHEMAS,
            **subscription.SCHEMAS,
            **cadence.SCHEMAS,
            **targets.SCHEMAS,
            **announcements.SCHEMAS,
            **announcement_list.SCHEMAS,
            **drafts.SCHEMAS,
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
