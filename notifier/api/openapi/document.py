"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /v1/openapi.json``, and a small page
listing its operations at ``GET /v1/docs`` (plain HTML: nothing is fetched from elsewhere).

Here are the paths; the components (body schemas, shared error answers, headers, security
schemes) are in ``notifier.api.openapi.components``. ``tests/integration/test_openapi.py`` checks
that every route of ``create_api`` is described (and nothing else), and that real answers match
their schemas.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from aiohttp import web

from notifier.actions.drafts import DRAFT_TTL
from notifier.api import addresses
from notifier.api.abuse import LIMITS
from notifier.api.announcement_list import STATUSES as LIST_STATUSES
from notifier.api.announcements import IDEMPOTENCY_TTL
from notifier.api.city_map import SCHEMA as MAP
from notifier.api.openapi.components import ERRORS, components, header
from subscriptions.caps import MAX_CONTACTS, MAX_PUSH, MAX_SUBSCRIPTIONS
from subscriptions.rules import Schema, ref
from subscriptions.store import PENDING_SECONDS

METHODS = ("get", "put", "post", "delete", "patch")
Security = list[dict[str, list[str]]]
CITIZEN: Security = [{"citizenToken": []}]
DEPARTMENT: Security = [{"departmentKey": []}]
TWILIO: Security = [{"twilioSignature": []}]
OPERATOR: Security = [{"operatorKey": []}]
JSON_ERRORS = (400, 413, 422)
CITIZEN_ERRORS = (401, 403, 404)
HTML = {"text/html": {"schema": {"type": "string"}}}
TEXT = {"schema": {"type": "string"}}
FORM = "application/x-www-form-urlencoded"


def ok(
    description: str,
    schema: str | None = None,
    content: dict[str, Schema] | None = None,
    **headers: Schema,
) -> Schema:
    """A successful answer: the JSON schema named ``schema``, or other ``content``."""
    out: Schema = {"description": description}
    if schema is not None:
        content = {"application/json": {"schema": ref(schema)}}
    if content is not None:
        out["content"] = content
    if headers:
        out["headers"] = {name.replace("_", "-"): h for name, h in headers.items()}
    return out


def op(
    operation_id: str,
    tag: str,
    summary: str,
    responses: dict[int, Schema],
    errors: tuple[int, ...] = (),
    *,
    security: Security | None = None,
    body: str | None = None,
    content: dict[str, Schema] | None = None,
    body_required: bool = True,
    description: str = "",
    parameters: tuple[Schema, ...] = (),
) -> Schema:
    """An operation; ``body`` names the JSON schema of its request body (or ``content``)."""
    out: Schema = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        out["description"] = description
    if security is not None:
        out["security"] = security
    if parameters:
        out["parameters"] = list(parameters)
    if body is not None:
        content = {"application/json": {"schema": ref(body)}}
    if content is not None:
        out["requestBody"] = {"required": body_required, "content": content}
    answers = {str(status): answer for status, answer in responses.items()}
    for status in errors:
        answers[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    # any operation may meet the store away (``notifier.api.app``); /readyz says its own 503
    answers.setdefault("503", {"$ref": "#/components/responses/Unavailable"})
    out["responses"] = dict(sorted(answers.items()))
    return out


def citizen_op(operation_id: str, summary: str, responses: dict[int, Schema], **kw: Any) -> Schema:
    """An operation of a citizen on their own data (management token; 401, 403, 404)."""
    errors = (*JSON_ERRORS, *CITIZEN_ERRORS) if "body" in kw else CITIZEN_ERRORS
    errors = (*errors, *kw.pop("more_errors", ()))
    return op(operation_id, "citizens", summary, responses, errors, security=CITIZEN, **kw)


def department_op(
    operation_id: str, tag: str, summary: str, responses: dict[int, Schema], *errors: int, **kw: Any
) -> Schema:
    """An operation of a department (department key; 401, 404 for an unknown city or object)."""
    errors = (*JSON_ERRORS, 401, 404, *errors) if "body" in kw else (401, 404, *errors)
    return op(operation_id, tag, summary, responses, errors, security=DEPARTMENT, **kw)


def _link_ops(kind: str, verb: str) -> list[tuple[str, str, Schema]]:
    """A link in a message: GET shows a button (scanners prefetch links), POST acts."""
    path = f"/v1/{kind}/{{token}}"
    done = {"application/json": {"schema": ref("ContactAnswer")}, **HTML}
    one_click = {"type": "string", "description": "`One-Click` (RFC 8058); any POST acts"}
    form = {FORM: {"schema": {"properties": {"List-Unsubscribe": one_click}}}}
    page = ok("A page with a button (or saying it is done already); nothing changes.", content=HTML)
    dead = ok(
        "A page: the link is not valid, expired or spent, and where to go instead.", content=HTML
    )
    act = ok("Done (a page when `Accept` asks for text/html).", content=done)
    body = form if kind == "unsubscribe" else None
    post = op(kind, "links", verb[0].upper() + verb[1:], {200: act}, (404, 422), content=body)
    if body is not None:
        post["requestBody"]["required"] = False
    return [
        (
            "get",
            path,
            op(
                f"{kind}_page",
                "links",
                f"A page to {verb}",
                {200: page, 404: dead},
                (422,),
                description="A wrong, expired or spent token: to a browser (`Accept: text/html`) a "
                "404 page saying so and where to go instead, else a 422 naming `token`.",
            ),
        ),
        ("post", path, post),
    ]


ACCEPTED = ok("Kept (the outbox) and handed to Kafka.", "Accepted", Location=header("Location"))
IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "description": f"The same key and body give the first answer for {IDEMPOTENCY_TTL // 3600} h; "
    "the same key with another body is a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
SENDING_LIMITS = "Limits on what sends a message to an address typed in: " + ", ".join(
    f"{n} per {s // 60} min per {what}" for what, (n, s) in LIMITS.items()
)
NEUTRAL = (
    "An address already registered is answered the same as a new one: its owner is sent their "
    "management link instead, and the contact point made here can never be confirmed. A pending "
    f"contact point not confirmed within {PENDING_SECONDS // 86400} days ends, and its address "
    "may be registered again. "
)
CAPS = f"At most {MAX_CONTACTS} contact points per citizen, {MAX_PUSH} of them push. "
CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml")
C = "/v1/cities/{city}/citizens/{cid}"
A = "/v1/cities/{city}/announcements"
R = "/v1/cities/{city}/requests"
DR = "/v1/cities/{city}/drafts"
DRAFTS = (
    f"A draft lasts {DRAFT_TTL // 86400} days after its last change; it is the department's "
    "(another department's key gets a 404)."
)
LIST_FILTERS = (
    {"name": "status", "in": "query", "schema": {"enum": list(LIST_STATUSES)}},
    {"name": "category", "in": "query", "schema": ref("Category")},
    {"name": "from", "in": "query", "schema": ref("DateTime"),
     "description": "published (or to be) at or after"},
    {"name": "to", "in": "query", "schema": ref("DateTime"),
     "description": "published (or to be) at or before"},
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100},
     "description": "words of a title, in any language"},
    {"name": "limit", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
)  # fmt: skip

# One operation per entry; laid out by hand, as a table (the formatter would make it 300 lines).
# fmt: off
ROUTES: list[tuple[str, str, Schema]] = [
    ("get", "/healthz", op("healthz", "service", "Liveness", {200: ok("Alive.", "Health")})),
    ("get", "/readyz", op(
        "readyz", "service", "Readiness: Redis and the broker reachable",
        {200: ok("Ready.", "Readiness"), 503: ok("Not ready: what is down.", "Readiness")})),
    ("get", "/metrics", op(
        "metrics", "service", "Prometheus metrics of the API",
        {200: ok("The text exposition format.", content={"text/plain": TEXT})})),
    ("get", "/v1/openapi.json", op(
        "openapi", "service", "This document",
        {200: ok("OpenAPI 3.1.", content={"application/json": {"schema": {"type": "object"}}})})),
    ("get", "/v1/docs", op("docs", "service", "The operations", {200: ok("HTML.", content=HTML)})),
    ("get", "/v1/push/public-key", op(
        "push_public_key", "citizens", "The VAPID key for pushManager.subscribe",
        {200: ok("The key.", "PushKey")}, (404,))),
    ("get", "/v1/cities", op(
        "cities", "cities", "The cities served here", {200: ok("Their ids and names.", "Cities")})),
    ("get", "/v1/cities/{city}", op(
        "city", "cities", "A city: name, languages, categories, look",
        {200: ok("The city.", "City")}, (404,))),
    ("put", "/v1/cities/{city}", op(
        "put_city", "cities", "Create or replace a city from its document",
        {200: ok("Replaced.", "CityPut"), 201: ok("Created.", "CityPut")},
        (*JSON_ERRORS, 401, 403, 404), security=OPERATOR, body="CityInput",
        description="A new city needs an operator key for every city; a city's own key may "
        "change it. Processes that have not seen it load it on first use.")),
    ("get", "/v1/cities/{city}/usage", op(
        "usage", "cities", "This month's messages against the city's quotas and rates",
        {200: ok("Per channel.", "Usage")}, (401, 403, 404), security=OPERATOR)),
    ("get", "/v1/cities/{city}/areas", op(
        "areas", "citizens", "The area catalogue",
        {200: ok("Arrondissements, then quartiers.", "Areas")}, (404,))),
    ("get", "/v1/cities/{city}/map", op(
        "area_map", "citizens", "The areas drawn as SVG paths (the pages' map)",
        {200: ok("Outlines and the projection.", content={"application/json": {"schema": MAP}})},
        (404,))),
    ("get", "/v1/cities/{city}/addresses", op(
        "addresses", "citizens", "Find an address (the city's gazetteer)",
        {200: ok("A few matches, each with its point and areas.",
                 content={"application/json": {"schema": addresses.SCHEMA}})},
        (404, 422), parameters=addresses.PARAMETERS,
        description="Accents and case do not matter; a number, `bis`/`ter`, a postcode or "
        "an arrondissement (`13e`) narrow the search.")),
    ("get", "/", op("portal", "pages", "The citizen portal", {200: ok("HTML.", content=HTML)})),
    ("get", "/console", op(
        "console", "pages", "The department console", {200: ok("HTML.", content=HTML)})),
    ("get", "/sw.js", op(
        "service_worker", "pages", "The web push service worker",
        {200: ok("JavaScript.", content={"text/javascript": TEXT})})),
    ("post", "/v1/cities/{city}/citizens", op(
        "register", "citizens", "Register an email address and/or a phone number",
        {201: ok("The citizen, pending contact points, a management token.", "Registered")},
        (*JSON_ERRORS, 404, 429), body="RegistrationInput",
        description="A confirmation link goes by email, a 6-digit code by SMS. " + NEUTRAL
        + SENDING_LIMITS)),
    ("get", C, citizen_op("citizen", "Everything held", {200: ok("The citizen.", "CitizenView")})),
    ("patch", C, citizen_op(
        "preferences", "Change language, timezone, quiet hours",
        {200: ok("The citizen.", "CitizenAnswer")}, body="PreferencesInput",
        description="SMS and push below severe in the quiet hours wait for their end.")),
    ("delete", C, citizen_op(
        "erase", "Erase the citizen",
        {200: ok("Erased; notifications stay as anonymous counts.", "Erased")})),
    ("get", C + "/export", citizen_op(
        "export", "Everything held, as a JSON attachment",
        {200: ok("The export.", "Export", Content_Disposition=header("ContentDisposition"))})),
    ("post", C + "/contacts", citizen_op(
        "add_contact", "Add an email address, a phone number or a push subscription",
        {201: ok("The contact point (pending; push: confirmed).", "ContactPoint")},
        body="ContactInput", more_errors=(429,), description=NEUTRAL + CAPS + SENDING_LIMITS)),
    ("post", C + "/contacts/{pid}/resend", citizen_op(
        "resend_contact", "Send a pending contact point's link or code again",
        {202: ok("On its way (the same answer for every pending contact point).", "Status")},
        more_errors=(409, 429), description="409: not pending. " + SENDING_LIMITS)),
    ("delete", C + "/contacts/{pid}", citizen_op(
        "remove_contact", "Remove a contact point; its address is free again",
        {204: ok("Removed.")})),
    ("post", C + "/sign-out", citizen_op(
        "sign_out", "Sign out everywhere",
        {204: ok("Every management token of the citizen, this one too, now answers 401.")},
        description="A magic link (POST /v1/cities/{city}/magic-link) opens the page again.")),
    ("post", C + "/contacts/{pid}/confirm", citizen_op(
        "confirm_code", "Confirm a phone number with the texted code",
        {200: ok("The contact point.", "ContactAnswer")}, body="CodeInput",
        description="5 tries, 15 minutes.")),
    ("post", C + "/subscriptions", citizen_op(
        "subscribe", "Subscribe: area, point and radius, polygon, or service request",
        {201: ok("The subscription.", "Subscription")}, body="SubscriptionInput",
        description=f"At most {MAX_SUBSCRIPTIONS} per citizen.")),
    ("post", C + "/move", citizen_op(
        "move", "Move to another city, keeping the account",
        {200: ok("The citizen there, a token for it, what was carried.", "Moved")},
        body="MoveInput", more_errors=(409,),
        description="Contact points, consents, language and preferences come along. Area, "
        "point and polygon subscriptions become radius subscriptions around `home` (else "
        "they are listed to choose again); request follows stay until the request closes.")),
    ("delete", C + "/subscriptions/{sid}", citizen_op(
        "unsubscribe_one", "Remove one subscription", {204: ok("Removed.")})),
    ("patch", C + "/subscriptions/{sid}", citizen_op(
        "edit_subscription", "Change a subscription: what the body names, the rest kept",
        {200: ok("The subscription as it is now.", "Subscription")}, body="SubscriptionEdit",
        description="A new place replaces the old one; categories, min_severity, channels "
        "and cadence each replace theirs. Checked as a new subscription is.")),
    ("post", "/v1/cities/{city}/magic-link", op(
        "magic_link", "citizens", "A 30-day management link to a confirmed address",
        {202: ok("The same answer whether the address is registered or not.", "Status")},
        (*JSON_ERRORS, 404, 429), body="MagicLinkInput", description=SENDING_LIMITS)),
    *_link_ops("confirm", "confirm an address"),
    *_link_ops("unsubscribe", "unsubscribe (RFC 8058 one-click)"),
    ("get", "/v1/unsubscribe/{token}/manage", op(
        "manage_from_message", "links", "An alert email's link to the citizen's page",
        {303: ok("To `/manage#<management token>`; to the portal when the citizen signed out "
                 "everywhere since the message was sent.", Location=header("Location")),
         404: ok("A page: the link no longer works, and where to go instead.", content=HTML)},
        (422,),
        description="The email's unsubscribe link followed by `/manage`.")),
    ("post", "/v1/cities/{city}/twilio/status", op(
        "twilio_status", "webhooks", "Twilio's delivery status callbacks",
        {204: ok("Taken.")}, (400, 403, 404), security=TWILIO,
        content={FORM: {"schema": ref("TwilioStatusCallback")}})),
    ("post", "/v1/cities/{city}/twilio/inbound", op(
        "twilio_inbound", "webhooks", "Inbound SMS: STOP, ARRET… off; START on; HELP",
        {200: ok("TwiML.", content={"text/xml": TEXT})}, (400, 403, 404), security=TWILIO,
        content={FORM: {"schema": ref("TwilioInbound")}})),
    ("post", A, department_op(
        "publish", "announcements", "Publish an announcement", {202: ACCEPTED}, 409,
        body="AnnouncementInput", parameters=(IDEMPOTENCY,))),
    ("post", A + "/preview", department_op(
        "preview", "announcements", "A draft's reach and messages (nothing sent)",
        {200: ok("The preview.", "Preview")}, body="AnnouncementInput",
        description="Counts are rounded up to a multiple of 10; a drawn shape narrower than "
        "200 m is counted with a 200 m margin (no key can locate one subscriber).")),
    ("get", A + "/{eid}", department_op(
        "announcement", "announcements", "Status and delivery counts",
        {200: ok("The announcement.", "Announcement")})),
    ("put", A + "/{eid}", department_op(
        "update", "announcements", "A new version: the fields given changed, the others kept",
        {202: ACCEPTED}, 409, body="UpdateInput",
        description="Target, expiry, each language's text, category and severity are kept "
        "unless given. `retell` says who is messaged: those told before hear of it only if "
        "what they read changed (their language's text, or the area, validity, severity or "
        "category), and each message names what changed. 409: cancelled (`status`), or "
        "another update came first (`version`).")),
    ("post", A + "/{eid}/preview", department_op(
        "update_preview", "announcements", "What an update would change and whom it would tell",
        {200: ok("The changes and the counts per `retell`.", "UpdatePreview")}, 409,
        body="UpdateInput",
        description="Nothing is stored or sent. Counts are rounded up to a multiple of 10.")),
    ("post", A + "/{eid}/cancel", department_op(
        "cancel", "announcements", "Cancel; with notify, those told hear of it",
        {202: ACCEPTED}, 409, body="CancelInput", body_required=False,
        description="`notify` (default true): those a version was sent to get a cancellation "
        "notice, on the channels they were told on, with the reason in their language (else "
        "the one given, introduced with its language) and the department's name; false: "
        "unsent messages stop and nobody is told.")),
    ("get", A, department_op(
        "announcements", "announcements", "The department's announcements, with their figures",
        {200: ok("The latest first.", "AnnouncementList")}, 422, parameters=LIST_FILTERS,
        description="Needs the `statistics` scope.")),
    ("get", "/v1/cities/{city}/department", department_op(
        "department", "announcements", "The department a key is for, and its scopes",
        {200: ok("The department.", "Department")})),
    ("post", DR, department_op(
        "create_draft", "drafts", "Start a draft (any field may still be missing)",
        {201: ok("Kept.", "Draft", Location=header("Location"))}, 409, body="DraftInput",
        body_required=False, description=DRAFTS)),
    ("get", DR, department_op(
        "drafts", "drafts", "The department's drafts being written",
        {200: ok("The last changed first.", "DraftList")})),
    ("get", DR + "/{did}", department_op(
        "draft", "drafts", "A draft", {200: ok("The draft.", "Draft")})),
    ("put", DR + "/{did}", department_op(
        "change_draft", "drafts", "Replace a draft's fields", {200: ok("Kept.", "Draft")}, 409,
        body="DraftInput", description="409: published or discarded (`state`).")),
    ("delete", DR + "/{did}", department_op(
        "discard_draft", "drafts", "Discard a draft", {204: ok("Discarded.")}, 409)),
    ("post", DR + "/{did}/check", department_op(
        "check_draft", "drafts", "Check before publishing: reach, messages, warnings",
        {200: ok("The check.", "DraftCheck")}, 422,
        description="422: the draft is not complete or not valid yet (the field named).")),
    ("post", DR + "/{did}/publish", department_op(
        "publish_draft", "drafts", "Publish a draft, once", {202: ACCEPTED}, 409, 422,
        description="The draft's id is the publication's idempotency key: a second request "
        "(a double click, another tab) answers with the same announcement.")),
    ("post", "/v1/cities/{city}/cap", department_op(
        "cap", "announcements", "A CAP 1.2 document: alerts in, updated, cancelled",
        {202: ok("One result per alert.", "CapResults")}, 409, 413, 422,
        content={t: TEXT for t in CAP_TYPES},
        description="Test, Exercise, System and Draft alerts never reach anyone; "
        "XML with a DOCTYPE is refused.")),
    ("post", R, department_op(
        "file_request", "requests", "File a service request (Open311)",
        {201: ok("Filed; the requester follows it.", "RequestFiled", Location=header("Location"))},
        409, body="RequestInput")),
    ("get", R + "/{rid}", department_op(
        "request", "requests", "A request, its history and delivery figures",
        {200: ok("The request.", "Request")}, 422)),
    ("post", R + "/{rid}/status", department_op(
        "change_status", "requests", "A status change, told to its followers",
        {200: ok("Already applied (a retry).", "StatusChangeAnswer"),
         202: ok("On its way.", "StatusChangeAnswer", Location=header("Location"))},
        409, 503, body="StatusChangeInput",
        description="409: not later than the last applied change.")),
]
# fmt: on


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a new one at each call)."""
    paths: dict[str, Schema] = {}
    for method, path, operation in ROUTES:
        names = re.findall(r"\{(\w+)\}", path)
        item = paths.setdefault(
            path, {"parameters": [{"$ref": f"#/components/parameters/{n}"} for n in names]}
        )
        item[method] = operation
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "notifier",
            "version": "1",
            "summary": "A city's notification and subscription service",
            "description": 'Errors are JSON `{"error": {"field": …, "reason": …}}`.',
        },
        "paths": {p: {k: v for k, v in item.items() if v} for p, item in paths.items()},
        "components": components(),
    }
    return dict(json.loads(json.dumps(doc)))  # nothing shared with the module's constants


def docs_page(doc: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{m.upper()}</td><td><code>{html.escape(p)}</code></td>"
        f"<td>{html.escape(o.get('summary', ''))}</td></tr>"
        for p, item in doc["paths"].items()
        for m, o in item.items()
        if m in METHODS
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>notifier API v1</title></head><body><main><h1>notifier API v1</h1>"
        '<p>OpenAPI 3.1 document: <a href="/v1/openapi.json">/v1/openapi.json</a></p>'
        f"<table><tr><th>method</th><th>path</th><th>what</th></tr>{rows}</table>"
        "</main></body></html>"
    )


def add_routes(router: web.UrlDispatcher) -> None:
    doc = document()
    body, page = json.dumps(doc, ensure_ascii=False), docs_page(doc)

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    async def docs(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    router.add_get("/v1/openapi.json", openapi)
    router.add_get("/v1/docs", docs)
