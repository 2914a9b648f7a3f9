"""Hostile input: schemathesis against the OpenAPI document the real API serves, then the
attacks a city's service meets, one by one; each is refused with a clear 4xx JSON error and
changes nothing.

The fuzzing runs ``notifier api`` as its own process (aiohttp has no ASGI/WSGI entry point for
schemathesis to call in process), with a real Redis and Kafka from the session fixtures.
Already covered elsewhere, and not repeated here: a body over 64 KiB and a body that is not
JSON (``test_api.py``), the CAP XXE fixture through the API (``test_cap_import.py``) and the
DOCTYPE/entity refusals of the parser (``test_cap.py``), forged or tampered tokens
(``test_tokens.py``), a tampered confirmation link (``test_api.py``), forged Twilio signatures
on an inbound STOP (``test_e2e_channels.py``, ``test_twilio_webhooks.py``), another department's
key on GET/PUT/cancel (``test_api.py``), another citizen's token on GET, subscribe and erase
(``test_api.py``, ``test_manage.py``), template expressions in the renderer
(``test_templates.py``).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from redis.asyncio import Redis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from channels.twilio_webhooks import compute_signature
from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.api.http import MAX_DOCUMENT
from notifier.api.openapi import document as openapi
from notifier.settings import Secret, Settings
from notifier.wiring import build_services
from subscriptions import tokens
from tests.cap_documents import BILLION_LAUGHS, XML, paris_alert
from tests.hostile_stage import (
    ANNOUNCEMENT,
    DERANDOMIZE,
    EXAMPLES,
    SECRET,
    TIMEOUT,
    TWILIO_TOKEN,
    Served,
    World,
)

CHECKS = [
    not_a_server_error,  # no 5xx
    status_code_conformance,  # every status documented for its operation
    content_type_conformance,
    response_schema_conformance,  # the body as its schema says (errors: {"error": …})
    response_headers_conformance,
    negative_data_rejection,  # what the schema refuses, the API refuses with a 4xx
    ignored_auth,  # a secured operation without its key or token: 401
    missing_required_header,
    unsupported_method,  # a method the path does not have: 405
]
OPERATIONS = [
    f"{method.upper()} {path}"
    for path, item in openapi.document()["paths"].items()
    for method in item
    if method in openapi.METHODS
]


def _strategy(served: Served, world: World, label: str, mode: GenerationMode) -> Any:
    """Cases with whatever schemathesis makes up, and cases that carry real ids and a valid
    key or token, so that the bodies reach the handlers behind the doors."""
    method, path = label.split(" ", 1)
    op = served.schema[path][method]
    schemes = {name for req in op.definition.raw.get("security", []) for name in req}
    headers = {}
    if "citizenToken" in schemes:
        headers["Authorization"] = f"Bearer {world.citizen}"
    if "departmentKey" in schemes:
        headers["Authorization"] = f"Bearer {world.department}"
    names = [p for p in world.path if "{" + p + "}" in path]
    if path.startswith("/v1/confirm/"):
        fixed = {"token": tokens.sign(SECRET, "confirm", "paris", world.path["pid"])}
    else:
        fixed = {n: world.path[n] for n in names}
    free = op.as_strategy(mode)
    behind_the_doors = op.as_strategy(mode, path_parameters=fixed, headers=headers or None)
    return st.one_of(free, behind_the_doors)


def _sign(served: Served, case: Any) -> None:
    """A Twilio webhook body of text fields gets Twilio's signature (else it stays forged)."""
    if not case.path.endswith(("/twilio/status", "/twilio/inbound")):
        return
    body = case.body if isinstance(case.body, dict) else None
    if body is None or not all(isinstance(v, str) for v in body.values()):
        return
    url = served.settings.public_url + case.formatted_path
    case.headers["X-Twilio-Signature"] = compute_signature(TWILIO_TOKEN, url, body)


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("label", OPERATIONS)
def test_no_server_error_and_every_answer_as_documented(
    served: Served, world: World, label: str
) -> None:
    failures: list[str] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        try:
            _fuzz(served, _strategy(served, world, label, mode), mode.value, failures)
        except Unsatisfiable:
            # nothing to break in this operation's input (no body, free-form strings only)
            assert mode is GenerationMode.NEGATIVE, f"{label}: no positive case could be made"
    assert not failures, "\n\n".join(dict.fromkeys(failures))


def _fuzz(served: Served, strategy: Any, mode: str, failures: list[str]) -> None:
    """Send each case and check its answer; every failure is kept, not only the first."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=DERANDOMIZE,  # in `make test`, the same cases on every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        _sign(served, case)
        try:
            case.call_and_validate(base_url=served.url, checks=CHECKS, timeout=30)
        except (AssertionError, BaseExceptionGroup) as e:
            failures.append(f"{mode}: {e}")

    run()


# --- the attacks one by one, against the real app in process (nothing is sent: ``published``
# records what the API hands to Kafka) ---

Client = TestClient[Any, Any]
JSON = {"Content-Type": "application/json"}
PHONE = "+33612345678"


@dataclasses.dataclass
class App:
    client: Client
    published: list[tuple[str, bytes, bytes]]
    settings: Settings


@pytest.fixture
async def app(redis_url: str, redis: Redis) -> AsyncIterator[App]:
    s = Settings(
        redis_url=redis_url,
        secret_key=Secret(SECRET),
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=Secret(TWILIO_TOKEN),
        twilio_from="+33700000001",
        public_url="http://testserver",
    )
    published: list[tuple[str, bytes, bytes]] = []

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        published.append((topic, key, value))

    async with TestClient(TestServer(create_api(s, build_services(s, redis, publish)))) as c:
        yield App(c, published, s)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def error_of(r: Any) -> tuple[int, str | None, str]:
    assert r.content_type == "application/json", (r.status, await r.text())
    body = await r.json()
    return r.status, body["error"]["field"], body["error"]["reason"]


async def citizen(app: App, redis: Redis, email: str, phone: str | None = None) -> dict[str, Any]:
    """A registered citizen, its contact points confirmed, subscribed to the 5th."""
    body = {"email": email, **({"phone": phone} if phone else {})}
    c = dict(await (await app.client.post("/v1/cities/paris/citizens", json=body)).json())
    for cp in c["contacts"]:
        await redis.hset(f"n:{{paris}}:contact:{cp['id']}", "status", "confirmed")
    r = await app.client.post(
        f"/v1/cities/paris/citizens/{c['citizen']['id']}/subscriptions",
        json={"area": "75105"},
        headers=auth(c["token"]),
    )
    c["subscription"] = (await r.json())["id"]
    return c


async def held(app: App, c: dict[str, Any]) -> dict[str, Any]:
    r = await app.client.get(
        f"/v1/cities/paris/citizens/{c['citizen']['id']}", headers=auth(c["token"])
    )
    assert r.status == 200
    return dict(await r.json())


async def test_deeply_nested_or_undecodable_json_is_a_400_naming_the_body(
    app: App, redis: Redis
) -> None:
    c = await citizen(app, redis, "a@example.org")
    path = f"/v1/cities/paris/citizens/{c['citizen']['id']}/subscriptions"
    h = {**auth(c["token"]), **JSON}
    deep_for_the_parser = "[" * 50_000 + "]" * 50_000  # 100 KB: over the size limit first
    r = await app.client.post(path, data=deep_for_the_parser, headers=h)
    assert (await error_of(r))[:2] == (413, "body")
    deep_for_the_parser = "[" * 30_000 + "]" * 30_000  # under 64 KiB, past Python's recursion
    r = await app.client.post(path, data=deep_for_the_parser, headers=h)
    assert await error_of(r) == (400, "body", "nested deeper than 32 levels")
    deep = '{"area": "75105", "categories": ' + "[" * 40 + "]" * 40 + "}"
    r = await app.client.post(path, data=deep, headers=h)
    assert await error_of(r) == (400, "body", "nested deeper than 32 levels")
    r = await app.client.post(path, data=b'{"area": "\xff\xfe75105"}', headers=h)
    assert await error_of(r) == (400, "body", "not text in utf-8")
    r = await app.client.post(
        path,
        data=b'{"area": "75105"}',
        headers={**h, "Content-Type": "application/json; charset=x-nope"},
    )
    assert await error_of(r) == (400, "body", "not text in x-nope")
    assert [s["area"] for s in (await held(app, c))["subscriptions"]] == ["75105"]  # unchanged
    # a GeoJSON polygon nests 5 levels deep in a subscription: well within the limit
    square = [[[2.344, 48.845], [2.35, 48.845], [2.35, 48.848], [2.344, 48.848], [2.344, 48.845]]]
    r = await app.client.post(
        path, json={"polygon": {"type": "Polygon", "coordinates": square}}, headers=auth(c["token"])
    )
    assert r.status == 201, await r.text()


async def test_documents_over_a_mebibyte_are_refused_with_413(app: App, redis: Redis) -> None:
    key = await create_department_key(redis, "paris", "voirie")
    big = b"<alert>" + b"x" * (MAX_DOCUMENT + 1) + b"</alert>"
    r = await app.client.post(
        "/v1/cities/paris/cap",
        data=io.BytesIO(big),
        headers={**auth(key), "Content-Type": "application/cap+xml"},
    )
    assert (await error_of(r))[:2] == (413, "body")
    form = b"MessageSid=SM1&MessageStatus=delivered&x=" + b"y" * MAX_DOCUMENT
    r = await app.client.post(
        "/v1/cities/paris/twilio/status",
        data=io.BytesIO(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (await error_of(r))[:2] == (413, "body")
    assert app.published == []


INJECTIONS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ 7*7 }} {{ config }} {{ self.__init__.__globals__ }}",
    "{% for i in range(99999999) %}x{% endfor %}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
]


async def test_template_syntax_in_an_announcement_is_shown_as_text_not_run(
    app: App, redis: Redis
) -> None:
    key = await create_department_key(redis, "paris", "voirie")
    await citizen(app, redis, "a@example.org", PHONE)
    app.published.clear()  # the confirmation requests
    for text in INJECTIONS:
        body = {**ANNOUNCEMENT, "content": {"fr": {"title": text[:200], "body": text}}}
        r = await app.client.post(
            "/v1/cities/paris/announcements/preview", json=body, headers=auth(key)
        )
        assert r.status == 200, await r.text()
        messages = (await r.json())["messages"]
        email, sms = messages["email"]["fr"], messages["sms"]["fr"]
        assert text in email["text"] and text in sms["text"], "the text, as written"
        assert email["subject"] == text[:200]
        if "<script>" in text:  # escaped in the HTML part: no tag reaches a mail client
            assert "&lt;script&gt;" in email["html"]
            assert "<script" not in email["html"] and "<img src=x" not in email["html"]
        for rendered in (email["text"], email["html"], sms["text"]):
            assert "49" not in rendered.replace(text, "")  # {{ 7*7 }} was not evaluated
            assert "<class" not in rendered and "uid=" not in rendered and "xxxx" not in rendered
    assert app.published == []  # a preview sends nothing


async def test_hostile_cap_documents_get_a_clear_422_and_publish_nothing(
    app: App, redis: Redis, tmp_path: Path
) -> None:
    key = await create_department_key(redis, "paris", "prefecture")
    h = {**auth(key), "Content-Type": "application/cap+xml"}
    secret = tmp_path / "secret.txt"
    secret.write_text("the-city-s-secret")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>'
    ).encode()
    for doc in (BILLION_LAUGHS, xxe):
        r = await app.client.post("/v1/cities/paris/cap", data=doc, headers=h)
        status, field, reason = await error_of(r)
        assert (status, field) == (422, "xml") and "DOCTYPE declarations are refused" in reason
        assert "lollol" not in reason and "secret" not in await r.text()
    nested = b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' + b"<a>" * 100_000
    nested += b"</a>" * 100_000 + b"</alert>"  # 700 KB of nesting, under the size limit
    r = await app.client.post("/v1/cities/paris/cap", data=nested, headers=h)
    assert (await error_of(r))[0] == 422
    assert app.published == []


async def test_forged_unsubscribe_and_management_tokens_are_refused_and_change_nothing(
    app: App, redis: Redis
) -> None:
    alice = await citizen(app, redis, "alice@example.org")
    cp = alice["contacts"][0]["id"]
    good = tokens.sign(SECRET, "unsubscribe", "paris", cp)
    body, mac = good.split(".")
    other_cp = tokens.sign(SECRET, "unsubscribe", "paris", "cp_0000000000000000").split(".")[0]
    forged_links = {
        "another key": tokens.sign("not the city's secret" * 3, "unsubscribe", "paris", cp),
        "a confirmation token": tokens.sign(SECRET, "confirm", "paris", cp),
        "a management token": tokens.sign(SECRET, "manage", "paris", alice["citizen"]["id"]),
        "another subject, the same MAC": f"{other_cp}.{mac}",
        "no MAC": body,
        "expired": tokens.sign(SECRET, "unsubscribe", "paris", cp, now=0),
    }
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for what, token in forged_links.items():
        for method in ("GET", "POST"):
            r = await app.client.request(
                method, f"/v1/unsubscribe/{token}", data="List-Unsubscribe=One-Click", headers=form
            )
            status, field, reason = await error_of(r)
            assert (status, field) == (422, "token"), (what, method, reason)
    me = f"/v1/cities/paris/citizens/{alice['citizen']['id']}"
    forged_keys = {
        "another key": tokens.sign(
            "not the city's secret" * 3, "manage", "paris", alice["citizen"]["id"]
        ),
        "an unsubscribe token": good,
        "expired": tokens.sign(SECRET, "manage", "paris", alice["citizen"]["id"], now=0),
        "another city": tokens.sign(SECRET, "manage", "lyon", alice["citizen"]["id"]),
        "garbage": "a.b",
    }
    for what, token in forged_keys.items():
        for method, path in (("GET", me), ("GET", me + "/export"), ("DELETE", me)):
            r = await app.client.request(method, path, headers=auth(token))
            assert (await error_of(r))[:2] == (401, "Authorization"), (what, method, path)
            assert r.headers["WWW-Authenticate"] == "Bearer"
    shown = await held(app, alice)
    assert shown["contacts"][0]["status"] == "confirmed" and len(shown["subscriptions"]) == 1
    r = await app.client.post(f"/v1/unsubscribe/{good}", headers=form)  # the real link works
    assert (await r.json())["contact"]["status"] == "unsubscribed"


async def test_a_token_with_non_ascii_characters_is_refused(app: App, redis: Redis) -> None:
    alice = await citizen(app, redis, "alice@example.org")
    r = await app.client.post("/v1/unsubscribe/abc.d%C3%A9f")
    assert (await error_of(r))[:2] == (422, "token")
    r = await app.client.get(
        f"/v1/cities/paris/citizens/{alice['citizen']['id']}",
        headers={"Authorization": "Bearer a.é"},
    )
    assert (await error_of(r))[:2] == (401, "Authorization")


async def test_forged_twilio_callbacks_are_refused_and_publish_nothing(app: App) -> None:
    path = "/v1/cities/paris/twilio/status"
    url = "http://testserver" + path
    params = {
        "MessageSid": "SM" + "a" * 32,
        "MessageStatus": "delivered",
        "AccountSid": "AC" + "1" * 32,
    }
    forgeries = {
        "no signature": {},
        "another token": {"X-Twilio-Signature": compute_signature("f" * 31 + "0", url, params)},
        "signed for another URL": {
            "X-Twilio-Signature": compute_signature(
                TWILIO_TOKEN, url.replace("paris", "lyon"), params
            )
        },
        "signed for other values": {
            "X-Twilio-Signature": compute_signature(
                TWILIO_TOKEN, url, {**params, "MessageStatus": "failed"}
            )
        },
        "signed without a parameter": {
            "X-Twilio-Signature": compute_signature(
                TWILIO_TOKEN, url, {k: v for k, v in params.items() if k != "AccountSid"}
            )
        },
    }
    for what, headers in forgeries.items():
        r = await app.client.post(path, data=params, headers=headers)
        assert await error_of(r) == (
            403,
            "X-Twilio-Signature",
            "the signature does not match this URL and body",
        ), what
    assert app.published == []
    signed = {"X-Twilio-Signature": compute_signature(TWILIO_TOKEN, url, params)}
    r = await app.client.post(path, data=params, headers=signed)
    assert r.status == 204 and [t for t, _, _ in app.published] == ["receipts"]


async def test_a_department_cannot_touch_another_departments_alert_through_cap(
    app: App, redis: Redis
) -> None:
    police = await create_department_key(redis, "paris", "prefecture")
    roads = await create_department_key(redis, "paris", "voirie")
    cap = "/v1/cities/paris/cap"
    r = await app.client.post(cap, data=paris_alert("crue-1"), headers={**auth(police), **XML})
    [first] = (await r.json())["alerts"]
    ref = f"crue@paris.example,crue-1,{datetime.now(UTC).isoformat(timespec='seconds')}"
    for doc in (
        paris_alert("crue-2", "Update", ref, "Extreme"),
        paris_alert("crue-3", "Cancel", ref),
    ):
        r = await app.client.post(cap, data=doc, headers={**auth(roads), **XML})
        [result] = (await r.json())["alerts"]
        assert r.status == 202 and result["delivered"] is False
        assert result["reason"] == f"no event {first['id']}", result
    shown = await (await app.client.get(first["href"], headers=auth(police))).json()
    assert (shown["status"], shown["version"], shown["severity"]) == ("published", 1, "severe")
    assert (await error_of(await app.client.get(first["href"], headers=auth(roads))))[0] == 404


async def test_a_citizens_token_reaches_nothing_of_another_citizen(app: App, redis: Redis) -> None:
    alice = await citizen(app, redis, "alice@example.org")
    bob = await citizen(app, redis, "bob@example.org", PHONE)
    a, b = alice["citizen"]["id"], bob["citizen"]["id"]
    h = auth(alice["token"])
    bobs = f"/v1/cities/paris/citizens/{b}"
    phone = next(cp["id"] for cp in bob["contacts"] if cp["channel"] == "sms")
    for method, path, body in (
        ("PATCH", bobs, {"language": "en"}),
        ("GET", bobs + "/export", None),
        ("POST", bobs + "/contacts", {"email": "evil@example.org"}),
        ("POST", f"{bobs}/contacts/{phone}/confirm", {"code": "123456"}),
        ("DELETE", f"{bobs}/subscriptions/{bob['subscription']}", None),
    ):
        r = await app.client.request(method, path, json=body, headers=h)
        assert await error_of(r) == (403, "Authorization", "this token is for another citizen")
    # Alice's own path with Bob's ids in it
    r = await app.client.delete(
        f"/v1/cities/paris/citizens/{a}/subscriptions/{bob['subscription']}", headers=h
    )
    assert (await error_of(r))[0] == 404
    r = await app.client.post(
        f"/v1/cities/paris/citizens/{a}/contacts/{phone}/confirm",
        json={"code": "123456"},
        headers=h,
    )
    assert await error_of(r) == (422, "contact", "not a phone number of this citizen")
    shown = await held(app, bob)
    assert shown["citizen"]["language"] == "fr" and len(shown["subscriptions"]) == 1
    assert sorted(cp["address"] for cp in shown["contacts"]) == [PHONE, "bob@example.org"]
