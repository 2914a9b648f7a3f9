"""The web push channel (pywebpush) against the local push service, which checks VAPID and
decrypts what it receives; RFC 8291's Appendix A as a known-answer test of that decryption."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import http_ece
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from py_vapid.jwt import sign as sign_jwt

from channels.base import PermanentChannelError, TransientChannelError
from channels.outbound import OutboundPolicy
from channels.push import (
    MAX_PAYLOAD,
    Push,
    PushSubscription,
    SubscriptionGoneError,
    WebPushChannel,
    application_server_key,
    b64url_decode,
    b64url_encode,
    encode,
    generate_vapid_keys,
    load_vapid_private_key,
)
from notifier.dev.embedded import free_port
from notifier.dev.push_service_fake import (
    PushServiceFake,
    VapidError,
    create_app,
    decrypt,
    verify_vapid,
)

DATA = Path(__file__).parents[1] / "data" / "webpush"
VECTOR: dict[str, Any] = json.loads((DATA / "rfc8291_appendix_a_test_vector.json").read_text())
SUBJECT = "mailto:notifications@ville.example"
LOCAL = OutboundPolicy(loopback=True)  # the fake push service listens on loopback
PAYLOAD = {
    "title": "Travaux rue de Rivoli",
    "body": "Circulation alternée demain de 8 h à 17 h 🚧",
    "url": "https://ville.example/annonces/42",
    "tag": "announcement-42",
    "icon": "/static/icon-192.png",
}


def p256(raw_b64url: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64url_decode(raw_b64url), "big"), ec.SECP256R1())


async def serve(fake: PushServiceFake) -> tuple[TestServer, str]:
    server = TestServer(create_app(fake), host="127.0.0.1", port=free_port())
    await server.start_server()
    return server, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def service() -> AsyncIterator[tuple[PushServiceFake, str]]:
    fake = PushServiceFake()
    server, url = await serve(fake)
    yield fake, url
    await server.close()


@pytest.fixture
async def channel() -> AsyncIterator[WebPushChannel]:
    ch = WebPushChannel(generate_vapid_keys().private_key_pem, SUBJECT, outbound=LOCAL)
    yield ch
    await ch.close()


def subscribe(
    fake: PushServiceFake, url: str, server_key: str | None = None
) -> tuple[PushSubscription, ec.EllipticCurvePrivateKey, bytes]:
    """The browser's side: a P-256 key pair and an auth secret this test holds."""
    key, auth = ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16)
    token = fake.register(key, auth, server_key=server_key)
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    sub = PushSubscription(f"{url}/push/{token}", b64url_encode(public), b64url_encode(auth))
    return sub, key, auth


def push(sub: PushSubscription, **kw: Any) -> Push:
    return Push(subscription=sub, payload=PAYLOAD, notification_id="n-1", **kw)


# -- RFC 8291 Appendix A ------------------------------------------------------------------


def test_rfc8291_appendix_a_decrypts_to_its_plaintext() -> None:
    i = VECTOR["inputs"]
    body = b64url_decode(VECTOR["output"]["body"])
    assert len(body) == VECTOR["output"]["body_length_octets"] == 144
    assert body[:86] == b64url_decode(VECTOR["intermediate"]["header_86_octets"])
    plaintext = decrypt(body, p256(i["ua_private"]), b64url_decode(i["auth_secret"]))
    assert plaintext == i["plaintext_utf8"].encode() == b64url_decode(i["plaintext"])
    assert application_server_key(p256(i["ua_private"])) == i["ua_public"]
    with pytest.raises(Exception):  # noqa: B017 - any failure will do, success would not
        decrypt(body, p256(i["ua_private"]), secrets.token_bytes(16))


async def test_rfc8291_example_request_through_the_push_service(
    service: tuple[PushServiceFake, str], channel: WebPushChannel
) -> None:
    fake, url = service
    i = VECTOR["inputs"]
    token = "JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV"  # the RFC's endpoint
    fake.register(p256(i["ua_private"]), b64url_decode(i["auth_secret"]), token=token)
    headers = {
        "Authorization": channel.authorization(url),
        "TTL": "10",
        "Content-Encoding": "aes128gcm",
    }
    async with aiohttp.ClientSession() as http:
        body = b64url_decode(VECTOR["output"]["body"])
        async with http.post(f"{url}/push/{token}", data=body, headers=headers) as resp:
            assert resp.status == 201
            assert resp.headers["Location"].startswith(f"{url}/message/")
    (got,) = fake.received
    assert got.payload == i["plaintext_utf8"].encode()
    assert got.headers == {"TTL": "10"}


# -- the channel end to end ---------------------------------------------------------------


async def test_a_push_end_to_end(
    service: tuple[PushServiceFake, str], channel: WebPushChannel
) -> None:
    fake, url = service
    sub, key, auth = subscribe(fake, url, server_key=channel.public_key)
    message = push(sub, ttl=3600, urgency="high", topic="roadworks-rivoli_42")
    before = time.time()
    sent = await channel.send("n-1", message)

    (got,) = fake.received
    assert got.json() == PAYLOAD
    assert got.headers == {"TTL": "3600", "Urgency": "high", "Topic": "roadworks-rivoli_42"}
    assert sent.provider_id == f"{url}/message/{got.message_id}"
    assert got.claims["aud"] == url and got.claims["sub"] == SUBJECT
    assert before + 11 * 3600 < got.claims["exp"] <= time.time() + 12 * 3600
    assert str(sub) == "PushSubscription()"  # the endpoint is a capability: not in reprs

    # one aes128gcm record (RFC 8291): salt, rs 4096, the sender's 65-octet key; and the key
    # this test holds opens it
    data = json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(got.body) == 86 + len(data) + 1 + 16
    assert got.body[16:21] == b"\x00\x00\x10\x00\x41"
    opened = http_ece.decrypt(got.body, private_key=key, auth_secret=auth, version="aes128gcm")
    assert opened == data


async def test_defaults_and_the_fake_subscribe_helper(
    service: tuple[PushServiceFake, str], channel: WebPushChannel
) -> None:
    fake, url = service
    sub, _ = fake.subscribe(url)
    await channel.send("n-1", Push(sub, {"title": "x"}, "n-1"))
    # the recipients of an event share its payload, encoded once (``streams.delivery.send``)
    await channel.send("n-2", Push(sub, encode({"title": "y"}), "n-2"))
    first, second = fake.received
    assert first.headers == {"TTL": "86400", "Urgency": "normal"}
    assert first.json() == {"title": "x"} and second.json() == {"title": "y"}


async def test_the_vapid_header_is_signed_once_per_origin(
    service: tuple[PushServiceFake, str],
) -> None:
    fake, url = service
    other_fake = PushServiceFake()
    other_server, other_url = await serve(other_fake)
    now = [time.time()]
    ch = WebPushChannel(
        generate_vapid_keys().private_key, SUBJECT, outbound=LOCAL, clock=lambda: now[0]
    )
    try:
        a, b = subscribe(fake, url)[0], subscribe(fake, url)[0]
        c = subscribe(other_fake, other_url)[0]
        for sub in (a, b, a, c):
            await ch.send("n", push(sub))
        jwts = [r.jwt for r in fake.received]
        assert len(set(jwts)) == 1  # ECDSA signatures are randomised: equal means reused
        (other,) = other_fake.received
        assert other.jwt != jwts[0] and other.claims["aud"] == other_url

        now[0] += 11 * 3600 + 1  # less than an hour left on the JWT: signed afresh
        await ch.send("n", push(a))
        assert fake.received[-1].jwt != jwts[0]
        assert fake.received[-1].claims["exp"] > fake.received[0].claims["exp"]
    finally:
        await ch.close()
        await other_server.close()


async def test_a_vapid_key_the_subscription_was_not_made_with_is_refused(
    service: tuple[PushServiceFake, str], channel: WebPushChannel
) -> None:
    fake, url = service
    sub = subscribe(fake, url, server_key=generate_vapid_keys().public_key)[0]
    first = channel.authorization(url)
    with pytest.raises(PermanentChannelError) as e:
        await channel.send("n-1", push(sub))
    assert e.value.reason == "push service HTTP 403"
    assert channel.authorization(url) != first  # the cached header was dropped


# -- errors -------------------------------------------------------------------------------


async def test_gone_and_unknown_subscriptions(
    service: tuple[PushServiceFake, str], channel: WebPushChannel
) -> None:
    fake, url = service
    sub = subscribe(fake, url)[0]
    fake.mark_gone(sub.endpoint.rsplit("/", 1)[1])
    with pytest.raises(SubscriptionGoneError) as e:
        await channel.send("n-1", push(sub))
    assert e.value.reason == "push service HTTP 410"
    unknown = PushSubscription(f"{url}/push/nobody", sub.p256dh, sub.auth)
    with pytest.raises(SubscriptionGoneError) as e:
        await channel.send("n-1", push(unknown))
    assert e.value.reason == "push service HTTP 404"
    assert isinstance(e.value, PermanentChannelError)


async def test_413_is_permanent(
    service: tuple[PushServiceFake, str], channel: WebPushChannel
) -> None:
    fake, url = service
    sub = subscribe(fake, url)[0]
    fake.fail_next(1, status=413)
    with pytest.raises(PermanentChannelError) as e:
        await channel.send("n-1", push(sub))
    assert not isinstance(e.value, SubscriptionGoneError)
    assert e.value.reason == "push service HTTP 413"


async def test_a_payload_too_large_for_one_record_is_refused_before_sending(
    service: tuple[PushServiceFake, str], channel: WebPushChannel
) -> None:
    fake, url = service
    sub = subscribe(fake, url)[0]
    fits = Push(sub, {"b": "x" * (MAX_PAYLOAD - 8)}, "n")  # {"b":"..."} is 8 bytes more
    assert len(fits.data()) == MAX_PAYLOAD
    await channel.send("n", fits)
    assert len(fake.received[0].payload) == MAX_PAYLOAD
    with pytest.raises(PermanentChannelError):
        await channel.send("n", Push(sub, {"b": "x" * (MAX_PAYLOAD - 7)}, "n"))
    assert len(fake.received) == 1 and fake.refused == []


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"), [(429, "30", 30.0), (503, None, None)]
)
async def test_429_and_5xx_are_transient(
    service: tuple[PushServiceFake, str],
    channel: WebPushChannel,
    status: int,
    retry_after: str | None,
    expected: float | None,
) -> None:
    fake, url = service
    sub = subscribe(fake, url)[0]
    fake.fail_next(1, status=status, retry_after=retry_after)
    with pytest.raises(TransientChannelError) as e:
        await channel.send("n-1", push(sub))
    assert e.value.retry_after == expected
    await channel.send("n-1", push(sub))  # the retry goes through
    assert len(fake.received) == 1


async def test_retry_after_as_an_http_date(
    service: tuple[PushServiceFake, str], channel: WebPushChannel
) -> None:
    fake, url = service
    sub = subscribe(fake, url)[0]
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 120))
    fake.fail_next(1, status=429, retry_after=when)
    with pytest.raises(TransientChannelError) as e:
        await channel.send("n-1", push(sub))
    assert e.value.retry_after is not None and 60 < e.value.retry_after <= 120


async def test_nothing_listening_is_transient(channel: WebPushChannel) -> None:
    sub = PushSubscription(f"http://127.0.0.1:{free_port()}/push/x", *_keys())
    with pytest.raises(TransientChannelError):
        await channel.send("n-1", push(sub))


def _keys() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return application_server_key(key), b64url_encode(secrets.token_bytes(16))


@pytest.mark.parametrize(
    ("p256dh", "auth"),
    [("AAAA", _keys()[1]), (_keys()[0], "AAAA"), ("B" + "A" * 86, _keys()[1]), ("!!", "??")],
)
async def test_broken_subscription_keys_are_permanent(
    channel: WebPushChannel, p256dh: str, auth: str
) -> None:
    with pytest.raises(PermanentChannelError) as e:
        await channel.send("n-1", push(PushSubscription("http://127.0.0.1:9/push/x", p256dh, auth)))
    assert e.value.reason == "invalid subscription keys"


def test_push_values_are_checked() -> None:
    sub = PushSubscription("https://push.example/x", *_keys())
    for bad in ({"urgency": "urgent"}, {"topic": "a" * 33}, {"topic": "a+b"}, {"ttl": -1}):
        with pytest.raises(ValueError):
            push(sub, **bad)
    assert push(sub, topic="A" * 32, urgency="very-low", ttl=0).topic == "A" * 32
    same = PushSubscription.from_json(sub.to_json())
    assert same == sub and sub.origin == "https://push.example"


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b", "https://fcm.googleapis.com"),
        (
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
            "https://updates.push.services.mozilla.com",
        ),
        ("HTTP://127.0.0.1:8080/push/x?y=1", "http://127.0.0.1:8080"),
        ("https://[::1]:8443#frag", "https://[::1]:8443"),
        ("https://web.push.apple.com?token=x", "https://web.push.apple.com"),
    ],
)
def test_the_vapid_audience_is_the_endpoints_origin(endpoint: str, origin: str) -> None:
    assert PushSubscription(endpoint, *_keys()).origin == origin


async def test_no_vapid_key_and_no_endpoint_reach_the_logs(
    service: tuple[PushServiceFake, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = service
    keys = generate_vapid_keys()
    ch = WebPushChannel(keys.private_key, SUBJECT, outbound=LOCAL)
    sub = subscribe(fake, url)[0]
    with caplog.at_level(logging.DEBUG):
        try:
            await ch.send("n-1", push(sub))
        finally:
            await ch.close()
    # the push service's own access log is not ours: it knows the endpoint anyway
    ours = [r for r in caplog.records if r.name != "aiohttp.access"]
    logged = "\n".join(r.getMessage() for r in ours)
    assert "outcome=sent" in logged
    for secret in (keys.private_key, sub.endpoint.rsplit("/", 1)[1], sub.auth):
        assert secret not in logged


# -- VAPID keys ---------------------------------------------------------------------------


def test_generated_vapid_keys_load_in_every_form() -> None:
    keys = generate_vapid_keys()
    point = b64url_decode(keys.public_key)
    assert len(point) == 65 and point[0] == 4  # what applicationServerKey takes
    der = load_vapid_private_key(keys.private_key_pem).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for form in (keys.private_key_pem, keys.private_key, b64url_encode(der)):
        assert application_server_key(load_vapid_private_key(form)) == keys.public_key
        assert WebPushChannel(form, SUBJECT).public_key == keys.public_key
    assert keys.private_key not in repr(keys)
    # py_vapid, pywebpush's own library, verifies what the channel signs
    header = WebPushChannel(keys.private_key, SUBJECT).authorization("https://push.example")
    assert Vapid.verify(header)
    with pytest.raises(ValueError):
        load_vapid_private_key(b64url_encode(b"not a key"))
    with pytest.raises(ValueError):
        WebPushChannel(keys.private_key, "ops@ville.example")  # not a mailto: URL


# -- the fake push service's own checks ---------------------------------------------------


def _header(key: ec.EllipticCurvePrivateKey, claims: dict[str, Any], k: str | None = None) -> str:
    return f"vapid t={sign_jwt(claims, key)}, k={k or application_server_key(key)}"


def test_the_fake_checks_the_vapid_jwt() -> None:
    key, now, origin = ec.generate_private_key(ec.SECP256R1()), time.time(), "http://127.0.0.1:8"
    good = {"aud": origin, "exp": int(now) + 3600, "sub": SUBJECT}
    jwt, k, claims = verify_vapid(_header(key, good), origin, now)
    assert claims == good and k == application_server_key(key)
    stranger = application_server_key(ec.generate_private_key(ec.SECP256R1()))
    bad_headers = [
        _header(key, {**good, "aud": "http://127.0.0.1:9"}),
        _header(key, {**good, "exp": int(now) - 1}),
        _header(key, {**good, "exp": int(now) + 24 * 3600 + 60}),
        _header(key, {"aud": origin, "exp": int(now) + 60}),
        _header(key, good, k=stranger),
        f"WebPush {sign_jwt(good, key)}",
        "vapid t=abc, k=def",
        "",
    ]
    for header in bad_headers:
        with pytest.raises(VapidError):
            verify_vapid(header, origin, now)


async def test_the_fake_checks_the_push_request(
    service: tuple[PushServiceFake, str], channel: WebPushChannel
) -> None:
    fake, url = service
    endpoint = subscribe(fake, url)[0].endpoint
    ok = {"Authorization": channel.authorization(url), "TTL": "60", "Content-Encoding": "aes128gcm"}
    body = b64url_decode(VECTOR["output"]["body"])  # encrypted to another key: 400 if read
    cases: list[tuple[dict[str, str], bytes, int]] = [
        ({k: v for k, v in ok.items() if k != "TTL"}, body, 400),
        ({**ok, "TTL": "soon"}, body, 400),
        ({**ok, "Content-Encoding": "aesgcm"}, body, 415),
        ({**ok, "Urgency": "urgent"}, body, 400),
        ({**ok, "Topic": "not/base64url"}, body, 400),
        ({**ok, "Topic": "t" * 33}, body, 400),
        (ok, b"\0" * 4097, 413),
        (ok, body, 400),  # cannot be decrypted with this subscription's key
        ({k: v for k, v in ok.items() if k != "Authorization"}, body, 401),
    ]
    async with aiohttp.ClientSession() as http:
        for headers, data, status in cases:
            async with http.post(endpoint, data=data, headers=headers) as resp:
                assert resp.status == status, (headers, status, await resp.text())
    assert fake.received == [] and len(fake.refused) == len(cases)
