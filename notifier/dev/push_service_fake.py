"""A local web push service (RFC 8030) for tests and the embedded dev stack.

``POST /push/{token}`` checks what a browser vendor's push service checks: the VAPID
``Authorization: vapid t=<JWT>, k=<public key>`` header (RFC 8292: ES256 signed with ``k``,
``aud`` the origin of the endpoint, ``exp`` in the future and at most 24 h ahead, ``sub``
present), the ``TTL`` header, ``Content-Encoding: aes128gcm``, ``Urgency`` and ``Topic``
when present, and a body of at most 4,096 bytes. It then decrypts the payload (RFC 8291)
with the subscription's private key, which the test registered, and keeps it with the
request headers. Unknown tokens get 404, tokens marked gone 410; failures can be scripted.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from channels.push import (
    TOPIC,
    URGENCIES,
    PushSubscription,
    application_server_key,
    b64url_decode,
    b64url_encode,
)

MAX_BODY = 4096
MAX_EXP_AHEAD = 24 * 3600


class VapidError(ValueError):
    """The Authorization header is not a valid RFC 8292 VAPID token for this service."""


@dataclasses.dataclass
class Subscriber:
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str | None = None  # when set, the VAPID k must be this key
    gone: bool = False


@dataclasses.dataclass
class ReceivedPush:
    token: str
    message_id: str
    payload: bytes  # decrypted
    body: bytes  # as received
    headers: dict[str, str]
    jwt: str
    claims: dict[str, Any]

    def json(self) -> Any:
        return json.loads(self.payload)


class PushServiceFake:
    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.received: list[ReceivedPush] = []
        self.refused: list[tuple[int, str]] = []  # (status, reason) of every refused request
        self._failures: list[tuple[int, str | None]] = []

    def register(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        auth_secret: bytes,
        token: str | None = None,
        server_key: str | None = None,
    ) -> str:
        """``server_key``: the applicationServerKey the browser subscribed with, if checked."""
        token = token or secrets.token_urlsafe(24)
        self.subscribers[token] = Subscriber(private_key, auth_secret, server_key)
        return token

    def subscribe(
        self, base_url: str, server_key: str | None = None
    ) -> tuple[PushSubscription, ec.EllipticCurvePrivateKey]:
        """A fresh browser-side key pair and auth secret, registered; as ``PushManager``."""
        key, auth = ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16)
        token = self.register(key, auth, server_key=server_key)
        sub = PushSubscription(
            endpoint=f"{base_url.rstrip('/')}/push/{token}",
            p256dh=application_server_key(key),  # same encoding as a VAPID key
            auth=b64url_encode(auth),
        )
        return sub, key

    def mark_gone(self, token: str) -> None:
        self.subscribers[token].gone = True

    def fail_next(self, count: int = 1, status: int = 500, retry_after: str | None = None) -> None:
        self._failures.extend([(status, retry_after)] * count)

    def to(self, token: str) -> list[ReceivedPush]:
        return [p for p in self.received if p.token == token]


FAKE = web.AppKey("push_service_fake", PushServiceFake)


def decrypt(body: bytes, private_key: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> bytes:
    """RFC 8291: the user agent's side of aes128gcm with the subscription's keys."""
    if len(body) < 86 or body[20] != 65:
        raise ValueError("the aes128gcm header must carry the 65-octet sender key as keyid")
    if len(body) - 86 > int.from_bytes(body[16:20], "big"):
        raise ValueError("a push message is a single record")
    return bytes(
        http_ece.decrypt(
            body, private_key=private_key, auth_secret=auth_secret, version="aes128gcm"
        )
    )


def verify_vapid(
    header: str, origin: str, now: float | None = None
) -> tuple[str, str, dict[str, Any]]:
    """Check an RFC 8292 ``Authorization`` header; returns (jwt, k, claims)."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError("Authorization scheme is not vapid")
    params = dict(p.strip().partition("=")[::2] for p in rest.split(","))
    jwt, k = params.get("t", ""), params.get("k", "")
    try:
        head_b64, claims_b64, sig_b64 = jwt.split(".")
        head = json.loads(b64url_decode(head_b64))
        claims = json.loads(b64url_decode(claims_b64))
        sig = b64url_decode(sig_b64)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(k))
    except ValueError as e:
        raise VapidError(f"malformed VAPID token: {e}") from None
    if head.get("alg") != "ES256" or len(sig) != 64:
        raise VapidError("the VAPID JWT is not ES256")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VapidError("bad VAPID signature") from None
    now = time.time() if now is None else now
    if claims.get("aud") != origin:
        raise VapidError("aud is not this push service's origin")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + MAX_EXP_AHEAD:
        raise VapidError("exp must be in the future and at most 24 hours ahead")
    if not claims.get("sub"):
        raise VapidError("sub is missing")
    return jwt, k, claims


async def push(request: web.Request) -> web.Response:
    fake = request.app[FAKE]

    def refuse(status: int, reason: str) -> web.Response:
        fake.refused.append((status, reason))
        return web.json_response({"code": status, "errno": 0, "message": reason}, status=status)

    sub = fake.subscribers.get(request.match_info["token"])
    if sub is None:
        return refuse(404, "no such subscription")
    if sub.gone:
        return refuse(410, "subscription expired or unsubscribed")
    origin = f"{request.scheme}://{request.host}"
    try:
        jwt, k, claims = verify_vapid(request.headers.get("Authorization", ""), origin)
    except VapidError as e:
        return refuse(401, str(e))
    if sub.application_server_key is not None and k != sub.application_server_key:
        return refuse(403, "VAPID key does not match the subscription's applicationServerKey")
    if fake._failures:
        status, retry_after = fake._failures.pop(0)
        resp = refuse(status, "scripted failure")
        if retry_after is not None:
            resp.headers["Retry-After"] = retry_after
        return resp
    ttl = request.headers.get("TTL", "")
    if not ttl.isdigit():
        return refuse(400, "TTL header missing or not a number")
    urgency, topic = request.headers.get("Urgency"), request.headers.get("Topic")
    if urgency is not None and urgency not in URGENCIES:
        return refuse(400, "Urgency must be very-low, low, normal or high")
    if topic is not None and not TOPIC.match(topic):
        return refuse(400, "Topic: at most 32 characters of the URL-safe base64 alphabet")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return refuse(413, "payload too large")
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return refuse(413, "payload too large")
    if body:
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return refuse(415, "Content-Encoding must be aes128gcm")
        try:
            payload = decrypt(body, sub.private_key, sub.auth_secret)
        except (ValueError, http_ece.ECEException):
            return refuse(400, "payload cannot be decrypted")
    else:
        payload = b""
    message_id = secrets.token_urlsafe(12)
    headers = {h: request.headers[h] for h in ("TTL", "Urgency", "Topic") if h in request.headers}
    fake.received.append(
        ReceivedPush(request.match_info["token"], message_id, payload, body, headers, jwt, claims)
    )
    location = f"{origin}/message/{message_id}"
    return web.Response(status=201, headers={"Location": location, "TTL": ttl})


def create_app(fake: PushServiceFake) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[FAKE] = fake
    app.router.add_post("/push/{token}", push)
    return app
