"""The OpenAPI document: valid OpenAPI 3.1, the same operations as the app's routes, real answers
that match their schemas, and request schemas that accept what the API accepts (and refuse
what it refuses with a 422). Real Redis; nothing is published (no broker is needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from redis.asyncio import Redis

from channels.twilio_webhooks import compute_signature
from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.api.openapi import document as openapi
from notifier.settings import Secret, Settings
from notifier.wiring import build_services
from subscriptions import tokens
from tests.cap_documents import paris_alert

Client = TestClient[Any, Any]
DOC = openapi.document()
CITIZENS = "/v1/cities/{city}/citizens"
C = CITIZENS + "/{cid}"
A = "/v1/cities/{city}/announcements"
R = "/v1/cities/{city}/requests"
JSON = {"Content-Type": "application/json"}
TWILIO_TOKEN = "twilio-auth-token"
SOON = (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="seconds")
LATER = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
FILED_AT = "2024-11-03T08:00:00+01:00"
ANNOUNCEMENT = {
    "category": "roadworks",
    "target": {"areas": ["75105"]},
    "content": {"fr": {"title": "Travaux", "body": "Rue fermée."}},
}
SQUARE: dict[str, Any] = {  # around the Panthéon, 5th arrondissement
    "type": "Polygon",
    "coordinates": [
        [[2.344, 48.845], [2.35, 48.845], [2.35, 48.848], [2.344, 48.848], [2.344, 48.845]]
    ],
}


def documented(path: str) -> bool:
    """The routes the document leaves out: static files, the dev outboxes, the page of the
    magic link and liveness."""
    return not (path in ("/manage", "/healthz") or path.startswith(("/static", "/dev/")))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _resolve(obj: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in obj:
        section, name = obj["$ref"].split("/")[-2:]
        obj = DOC["components"][section][name]
    return obj


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator whose ``#/components/…`` references resolve."""
    return Draft202012Validator(
        {**schema, "components": DOC["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def schema_accepts(name: str, body: object) -> bool:
    return validator({"$ref": f"#/components/schemas/{name}"}).is_valid(body)


async def check(r: Any, method: str, path: str) -> Any:
    """The answer's status is documented for the operation, its body matches the schema given
    for its media type, and the headers documented as required are there and match."""
    responses = DOC["paths"][path][method]["responses"]
    assert str(r.status) in responses, f"{method} {path}: {r.status} is not documented"
    answer = _resolve(responses[str(r.status)])
    for name, header in answer.get("headers", {}).items():
        header = _resolve(header)
        if header.get("required"):
            assert name in r.headers, f"{method} {path} {r.status}: no {name} header"
        if name in r.headers and header["schema"].get("type") == "integer":
            assert validator(header["schema"]).is_valid(int(r.headers[name]))
    if "content" not in answer:
        assert await r.read() == b""
        return None
    assert r.content_type in answer["content"], f"{method} {path}: {r.content_type}"
    if r.content_type != "application/json":
        return await r.text()
    body = await r.json()
    schema = answer["content"]["application/json"]["schema"]
    errors = [e.message for e in validator(schema).iter_errors(body)]
    assert not errors, f"{method} {path} {r.status}: {errors} in {body}"
    return body


def make_app(settings: Settings, redis: Redis) -> web.Application:
    async def publish(topic: str, key: bytes, value: bytes) -> None:
        return None  # no worker reads them here

    app = create_api(settings, build_services(settings, redis, publish))
    if not any(r.canonical == "/v1/openapi.json" for r in app.router.resources()):
        openapi.add_routes(app.router)  # until create_api serves the document itself
    return app


@pytest.fixture
def quiet_settings(redis_url: str) -> Settings:
    return Settings(
        redis_url=redis_url,
        secret_key=Secret("test-secret-" + "x" * 40),
        twilio_auth_token=Secret(TWILIO_TOKEN),  # signed webhooks; no SMS without a sender
        public_url="http://testserver",
    )


@pytest.fixture
async def client(quiet_settings: Settings, redis: Redis) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(quiet_settings, redis))) as c:
        yield c


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"].startswith("3.1.")
    validate(DOC)
    ids = [
        o["operationId"]
        for item in DOC["paths"].values()
        for m, o in item.items()
        if m != "parameters"
    ]
    assert len(ids) == len(set(ids))


def test_every_route_is_documented_and_every_operation_is_a_route(
    quiet_settings: Settings, redis: Redis
) -> None:
    app = make_app(quiet_settings, redis)
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD" and documented(r.resource.canonical)
    }
    described = {
        (method, path)
        for path, item in DOC["paths"].items()
        for method in item
        if method in openapi.METHODS and documented(path)
    }
    assert routes - described == set(), "routes missing from the document"
    assert described - routes == set(), "operations the app does not have"


async def test_the_document_and_a_page_listing_it_are_served(client: Client) -> None:
    r = await client.get("/v1/openapi.json")
    assert r.content_type == "application/json" and await r.json() == DOC
    page = await check(await client.get("/v1/docs"), "get", "/v1/docs")
    assert "/v1/cities/{city}/announcements/{eid}/cancel" in page
    assert "://" not in page and "<script" not in page  # nothing fetched from elsewhere


async def test_real_answers_match_their_schemas(client: Client, redis: Redis) -> None:
    c = client
    await check(await c.get("/healthz"), "get", "/healthz")
    await check(await c.get("/readyz"), "get", "/readyz")
    await check(await c.get("/metrics"), "get", "/metrics")
    await check(await c.get("/v1/push/public-key"), "get", "/v1/push/public-key")  # 404: no VAPID
    await check(await c.get("/v1/cities/paris/areas"), "get", "/v1/cities/{city}/areas")
    await check(await c.get("/v1/cities/atlantis/areas"), "get", "/v1/cities/{city}/areas")
    found = "/v1/cities/{city}/addresses"
    await check(await c.get("/v1/cities/paris/addresses?q=12+rue+monge"), "get", found)
    await check(await c.get("/v1/cities/paris/addresses?q=r"), "get", found)  # 422

    # citizens
    new = "/v1/cities/paris/citizens"
    alice = await check(await c.post(new, json={"email": "a@example.org"}), "post", CITIZENS)
    bob = await check(await c.post(new, json={"email": "b@example.org"}), "post", CITIZENS)
    await check(await c.post(new, json={"email": "not an address"}), "post", CITIZENS)  # 422
    await check(await c.post(new, data="{", headers=JSON), "post", CITIZENS)  # 400
    await check(await c.post(new, data="x" * 70_000, headers=JSON), "post", CITIZENS)  # 413
    me, h = f"{new}/{alice['citizen']['id']}", auth(alice["token"])
    subscribed = [
        await check(
            await c.post(me + "/subscriptions", json=body, headers=h), "post", C + "/subscriptions"
        )
        for body in (
            {"area": "75105", "categories": ["water"], "min_severity": "Severe"},
            {"point": {"lon": 2.347, "lat": 48.8462}, "radius_m": 300},
            {"polygon": SQUARE, "channels": ["email"]},
            {"request": "14-00684314"},
        )
    ]
    await check(await c.get(me, headers=h), "get", C)
    await check(await c.get(me), "get", C)  # 401
    await check(await c.get(me, headers=auth(bob["token"])), "get", C)  # 403
    await check(
        await c.patch(me, json={"quiet_hours": {"start": "22:00", "end": "07:00"}}, headers=h),
        "patch",
        C,
    )
    await check(await c.patch(me, json={"colour": "blue"}, headers=h), "patch", C)  # 422
    added = await check(
        await c.post(me + "/contacts", json={"email": "a2@example.org"}, headers=h),
        "post",
        C + "/contacts",
    )
    confirm_code = f"{me}/contacts/{added['id']}/confirm"  # an email address: 422
    await check(
        await c.post(confirm_code, json={"code": "123456"}, headers=h),
        "post",
        C + "/contacts/{pid}/confirm",
    )
    one = f"{me}/subscriptions/{subscribed[0]['id']}"
    await check(await c.delete(one, headers=h), "delete", C + "/subscriptions/{sid}")  # 204
    await check(await c.delete(one, headers=h), "delete", C + "/subscriptions/{sid}")  # 404
    await check(await c.get(me + "/export", headers=h), "get", C + "/export")

    # links in messages
    secret = "test-secret-" + "x" * 40
    link = f"/v1/confirm/{tokens.sign(secret, 'confirm', 'paris', added['id'])}"
    await check(await c.get(link), "get", "/v1/confirm/{token}")
    await check(await c.post(link), "post", "/v1/confirm/{token}")
    await check(await c.post(link, headers={"Accept": "text/html"}), "post", "/v1/confirm/{token}")
    await check(await c.post(link[:-3] + "abc"), "post", "/v1/confirm/{token}")  # 422
    link = f"/v1/unsubscribe/{tokens.sign(secret, 'unsubscribe', 'paris', added['id'])}"
    await check(await c.get(link), "get", "/v1/unsubscribe/{token}")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = await c.post(link, data="List-Unsubscribe=One-Click", headers=form)
    await check(r, "post", "/v1/unsubscribe/{token}")

    # the magic link, up to its limit (3 messages per address per 10 minutes): 429
    magic = "/v1/cities/paris/magic-link"
    statuses = []
    for _ in range(4):
        r = await c.post(magic, json={"email": "a@example.org"})
        await check(r, "post", "/v1/cities/{city}/magic-link")
        statuses.append(r.status)
    assert statuses == [202, 202, 429, 429]  # registering sent the first message

    # Twilio's webhooks, signed
    for path, params in (
        ("/v1/cities/paris/twilio/status", {"MessageSid": "SM1", "MessageStatus": "delivered"}),
        (
            "/v1/cities/paris/twilio/inbound",
            {"MessageSid": "SM2", "From": "+33612345678", "To": "+33700000000", "Body": "HELP"},
        ),
    ):
        signature = compute_signature(TWILIO_TOKEN, "http://testserver" + path, params)
        template = path.replace("/paris/", "/{city}/")
        await check(
            await c.post(path, data=params, headers={"X-Twilio-Signature": signature}),
            "post",
            template,
        )
        await check(
            await c.post(path, data=params, headers={"X-Twilio-Signature": "forged"}),
            "post",
            template,
        )

    # announcements
    key = auth(await create_department_key(redis, "paris", "voirie"))
    publish = "/v1/cities/paris/announcements"
    await check(await c.post(publish, json=ANNOUNCEMENT), "post", A)  # 401
    first = await check(
        await c.post(publish, json=ANNOUNCEMENT, headers={**key, "Idempotency-Key": "k"}), "post", A
    )
    other = {**ANNOUNCEMENT, "severity": "severe"}
    await check(
        await c.post(publish, json=other, headers={**key, "Idempotency-Key": "k"}), "post", A
    )  # 409
    await check(await c.post(publish + "/preview", json=other, headers=key), "post", A + "/preview")
    href = first["href"]
    await check(await c.put(href, json=other, headers=key), "put", A + "/{eid}")
    await check(await c.get(href, headers=key), "get", A + "/{eid}")
    await check(await c.post(href + "/cancel", headers=key), "post", A + "/{eid}/cancel")
    await check(await c.put(href, json=other, headers=key), "put", A + "/{eid}")  # 409
    await check(await c.get(publish + "/evt_none", headers=key), "get", A + "/{eid}")  # 404
    cap = {**key, "Content-Type": "application/cap+xml"}
    await check(
        await c.post("/v1/cities/paris/cap", data=paris_alert("flood-1"), headers=cap),
        "post",
        "/v1/cities/{city}/cap",
    )
    await check(
        await c.post("/v1/cities/paris/cap", data=b"<x/>", headers=cap),
        "post",
        "/v1/cities/{city}/cap",
    )

    # service requests
    file = "/v1/cities/paris/requests"
    body = {
        "service_code": "pothole",
        "lat": "48.8462",
        "long": 2.347,
        "email": "req@example.org",
        "updated_datetime": FILED_AT,
    }
    filed = await check(await c.post(file, json=body, headers=key), "post", R)
    again = {**body, "service_request_id": filed["service_request_id"]}
    await check(await c.post(file, json=again, headers=key), "post", R)  # 409
    status = filed["href"] + "/status"
    for change in (
        {"status": "in_progress", "updated_datetime": LATER},  # 202 (no worker applies it)
        {"status": "open", "updated_datetime": FILED_AT},  # 200: the one applied, again
        {"status": "closed", "updated_datetime": "2020-01-01T00:00:00Z"},  # 409: older
    ):
        await check(await c.post(status, json=change, headers=key), "post", R + "/{rid}/status")
    await check(await c.get(filed["href"], headers=key), "get", R + "/{rid}")
    await check(await c.get(file + "/-bad", headers=key), "get", R + "/{rid}")  # 422

    await check(await c.delete(me, headers=h), "delete", C)


# (schema, what the API should answer: True for 2xx, False for 422, the body)
Case = tuple[str, bool, dict[str, Any]]
REGISTRATIONS: list[Case] = [
    ("RegistrationInput", True, {"email": "r1@example.org"}),
    ("RegistrationInput", True, {"email": " r2@Example.ORG ", "language": "en", "phone": None}),
    ("RegistrationInput", False, {}),
    ("RegistrationInput", False, {"email": None}),
    ("RegistrationInput", False, {"email": "r3@example.org", "language": "de"}),
    ("RegistrationInput", False, {"email": "no-at-sign.example.org"}),
    ("RegistrationInput", False, {"email": 42}),
]
CONTACTS: list[Case] = [
    ("ContactInput", True, {"email": "c1@example.org"}),
    ("ContactInput", True, {"email": "c2@example.org", "push": None}),
    ("ContactInput", False, {}),
    ("ContactInput", False, {"email": "c3@example.org", "phone": "06 12 34 56 78"}),
    ("ContactInput", False, {"push": {"endpoint": "ftp://push.example"}}),
]
SUBSCRIPTIONS: list[Case] = [
    ("SubscriptionInput", True, {"area": "75105"}),
    (
        "SubscriptionInput",
        True,
        {
            "area": "7510501",
            "categories": ["water", "waste"],
            "min_severity": "SEVERE",
            "channels": ["email"],
        },
    ),
    (
        "SubscriptionInput",
        True,
        {"point": {"lon": 2.347, "lat": 48.8462}, "radius_m": 50, "area": None},
    ),
    ("SubscriptionInput", True, {"polygon": SQUARE}),
    ("SubscriptionInput", True, {"request": "14-00684314", "channels": []}),
    ("SubscriptionInput", False, {}),
    (
        "SubscriptionInput",
        False,
        {"area": "75105", "point": {"lon": 2.347, "lat": 48.8462}, "radius_m": 300},
    ),
    ("SubscriptionInput", False, {"point": {"lon": 2.347, "lat": 48.8462}}),
    ("SubscriptionInput", False, {"point": {"lon": 2.347, "lat": 48.8462}, "radius_m": 10}),
    ("SubscriptionInput", False, {"point": {"lon": 2.347, "lat": 48.8462}, "radius_m": 5001}),
    ("SubscriptionInput", False, {"point": {"lon": 2.347, "lat": 91}, "radius_m": 300}),
    ("SubscriptionInput", False, {"polygon": {**SQUARE, "type": "MultiPolygon"}}),
    (
        "SubscriptionInput",
        False,
        {"polygon": {**SQUARE, "coordinates": [SQUARE["coordinates"][0][:3]]}},
    ),
    (
        "SubscriptionInput",
        False,
        {"polygon": {**SQUARE, "coordinates": [[[*p, 0] for p in SQUARE["coordinates"][0]]]}},
    ),
    ("SubscriptionInput", False, {"request": "14-00684314", "categories": ["water"]}),
    ("SubscriptionInput", False, {"request": "-14"}),
    ("SubscriptionInput", False, {"area": "75105", "channels": []}),
    ("SubscriptionInput", False, {"area": "75105", "channels": ["fax"]}),
    ("SubscriptionInput", False, {"area": "75105", "categories": "water"}),
    ("SubscriptionInput", False, {"area": "75105", "min_severity": None}),
]
PREFERENCES: list[Case] = [
    ("PreferencesInput", True, {}),
    ("PreferencesInput", True, {"language": "en", "timezone": "Europe/Paris"}),
    ("PreferencesInput", True, {"quiet_hours": {"start": "23:30", "end": "06:00"}}),
    ("PreferencesInput", True, {"quiet_hours": None}),
    ("PreferencesInput", False, {"colour": "blue"}),
    ("PreferencesInput", False, {"language": None}),
    ("PreferencesInput", False, {"timezone": 1}),
    ("PreferencesInput", False, {"quiet_hours": {"start": "7:00", "end": "08:00"}}),
    ("PreferencesInput", False, {"quiet_hours": "22:00-07:00"}),
]
CIRCLE = {"lon": 2.3464, "lat": 48.8462, "radius_m": 150}
FR = {"title": "Travaux", "body": "Rue fermée."}
ANNOUNCEMENTS: list[Case] = [
    ("AnnouncementInput", True, ANNOUNCEMENT),
    ("AnnouncementInput", True, {**ANNOUNCEMENT, "target": {"circles": [CIRCLE], "areas": []}}),
    (
        "AnnouncementInput",
        True,
        {**ANNOUNCEMENT, "target": {"polygons": [SQUARE]}, "severity": "Extreme"},
    ),
    (
        "AnnouncementInput",
        True,
        {
            **ANNOUNCEMENT,
            "expires_at": SOON,
            "content": {
                "fr": {**FR, "link": "https://paris.fr/x", "instructions": "Contournez."},
                "en": {**FR, "link": ""},
            },
        },
    ),
    ("AnnouncementInput", False, {k: v for k, v in ANNOUNCEMENT.items() if k != "target"}),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "target": {}}),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "target": {"areas": []}}),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "target": {"areas": ["75105"] * 201}}),
    (
        "AnnouncementInput",
        False,
        {**ANNOUNCEMENT, "target": {"circles": [{**CIRCLE, "radius_m": 0}]}},
    ),
    (
        "AnnouncementInput",
        False,
        {**ANNOUNCEMENT, "target": {"circles": [{**CIRCLE, "radius_m": 100_001}]}},
    ),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "content": {}}),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "content": {"de": FR}}),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "content": {"fr": {**FR, "title": "  "}}}),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "content": {"fr": {**FR, "title": "x" * 201}}}),
    (
        "AnnouncementInput",
        False,
        {**ANNOUNCEMENT, "content": {"fr": {**FR, "link": "ftp://paris.fr"}}},
    ),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "category": "gossip"}),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "severity": "apocalyptic"}),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "expires_at": "tomorrow"}),
]
CANCELS: list[Case] = [  # the valid one last: it cancels
    ("CancelInput", False, {"notify": "yes"}),
    ("CancelInput", False, {"reason": None}),
    ("CancelInput", False, {"reason": "x" * 501}),
    ("CancelInput", True, {"notify": False, "reason": "Reporté"}),
]
REQUESTS: list[Case] = [
    ("RequestInput", True, {"service_code": "pothole"}),
    (
        "RequestInput",
        True,
        {
            "service_code": "x",
            "service_request_id": "14-00684314",
            "status": "acknowledged",
            "lat": 48.85,
            "long": 2.35,
            "email": "req@example.org",
            "language": "en",
        },
    ),
    (
        "RequestInput",
        True,
        {"service_code": "x", "lat": "48.85", "long": "2.35", "email": "", "phone": None},
    ),
    ("RequestInput", False, {}),
    ("RequestInput", False, {"service_code": ""}),
    ("RequestInput", False, {"service_code": "x" * 101}),
    ("RequestInput", False, {"service_code": "x", "status": "bogus"}),
    ("RequestInput", False, {"service_code": "x", "lat": 100, "long": 2.35}),
    ("RequestInput", False, {"service_code": "x", "service_request_id": "-x"}),
    ("RequestInput", False, {"service_code": "x", "language": "de"}),
    ("RequestInput", False, {"service_code": "x", "updated_datetime": "yesterday"}),
]
STATUS_CHANGES: list[Case] = [  # on 14-00684314, filed above; the valid one last
    ("StatusChangeInput", False, {}),
    ("StatusChangeInput", False, {"status": "bogus"}),
    ("StatusChangeInput", False, {"status": "closed", "service_request_id": "-x"}),
    (
        "StatusChangeInput",
        True,
        {"status": "closed", "status_notes": "Fait.", "updated_datetime": LATER},
    ),
]
MAGIC_LINKS: list[Case] = [
    ("MagicLinkInput", True, {"email": "nobody@example.org"}),
    ("MagicLinkInput", False, {}),
    ("MagicLinkInput", False, {"email": "nobody"}),
]
# what the schemas cannot say: the API refuses these (422) and the schemas let them through
BEYOND_SCHEMAS: list[Case] = [
    ("SubscriptionInput", False, {"area": "75199"}),  # not in the catalogue
    ("SubscriptionInput", False, {"point": {"lon": 4.83, "lat": 45.76}, "radius_m": 300}),  # Lyon
    (
        "SubscriptionInput",
        False,
        {"polygon": {**SQUARE, "coordinates": [SQUARE["coordinates"][0][:-1] + [[2.344, 48.846]]]}},
    ),  # not closed
    ("SubscriptionInput", False, {"area": "75105", "channels": ["sms"]}),  # not offered here
    ("PreferencesInput", False, {"timezone": "Mars/Olympus"}),
    ("PreferencesInput", False, {"quiet_hours": {"start": "22:00", "end": "22:00"}}),
    ("AnnouncementInput", False, {**ANNOUNCEMENT, "expires_at": "2020-01-01T00:00:00Z"}),
    ("RequestInput", False, {"service_code": "x", "lat": 48.85}),  # no long
]


async def test_request_schemas_accept_what_the_api_accepts_and_refuse_what_it_refuses(
    client: Client, redis: Redis
) -> None:
    c = client
    alice = await (
        await c.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})
    ).json()
    me, h = f"/v1/cities/paris/citizens/{alice['citizen']['id']}", auth(alice["token"])
    key = auth(await create_department_key(redis, "paris", "voirie"))
    event = await (
        await c.post("/v1/cities/paris/announcements", json=ANNOUNCEMENT, headers=key)
    ).json()
    where = [
        ("post", "/v1/cities/paris/citizens", {}, REGISTRATIONS),
        ("post", me + "/contacts", h, CONTACTS),
        ("post", me + "/subscriptions", h, SUBSCRIPTIONS),
        ("patch", me, h, PREFERENCES),
        ("post", "/v1/cities/paris/announcements/preview", key, ANNOUNCEMENTS),
        ("post", event["href"] + "/cancel", key, CANCELS),
        ("post", "/v1/cities/paris/requests", key, REQUESTS),
        ("post", "/v1/cities/paris/requests/14-00684314/status", key, STATUS_CHANGES),
        ("post", "/v1/cities/paris/magic-link", {}, MAGIC_LINKS),
    ]
    wrong = []
    for method, path, headers, cases in where:
        for schema, accepted, body in cases:
            r = await c.request(method, path, json=body, headers=headers)
            assert r.status < 300 or r.status == 422, (path, body, r.status, await r.text())
            if (r.status < 300, schema_accepts(schema, body)) != (accepted, accepted):
                wrong.append((schema, body, r.status, await r.text()))
    for schema, _, body in BEYOND_SCHEMAS:
        path, headers = {
            "SubscriptionInput": (me + "/subscriptions", h),
            "PreferencesInput": (me, h),
            "AnnouncementInput": ("/v1/cities/paris/announcements/preview", key),
            "RequestInput": ("/v1/cities/paris/requests", key),
        }[schema]
        r = await c.request("patch" if path == me else "post", path, json=body, headers=headers)
        if (r.status, schema_accepts(schema, body)) != (422, True):
            wrong.append((schema, body, r.status, await r.text()))
    assert wrong == []
