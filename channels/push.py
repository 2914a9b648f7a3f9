"""Web push (RFC 8030) with pywebpush: payloads encrypted aes128gcm (RFC 8291), VAPID
(RFC 8292) with one signed JWT per push-service origin, reused until shortly before it
expires, and one shared aiohttp session.

Responses: 201/202 -> sent (the provider id is the ``Location`` the push service gives,
else the notification id); 404/410 -> ``SubscriptionGoneError`` (the caller prunes the
subscription); 413 and other 4xx -> ``PermanentChannelError``; 429, 5xx, connection errors
and timeouts -> ``TransientChannelError`` with ``Retry-After`` honoured.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from channels.base import (
    Channel,
    Deadlines,
    PermanentChannelError,
    Sent,
    TransientChannelError,
    parse_retry_after,
)

URGENCIES = ("very-low", "low", "normal", "high")
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # RFC 8030 5.4: URL-safe base64 alphabet
# One aes128gcm record in the 4096-byte body push services accept: 86 octets of header,
# 16 of tag, 1 of padding delimiter.
MAX_PAYLOAD = 4096 - 86 - 16 - 1
VAPID_LIFETIME = 12 * 3600  # the JWT's exp; push services refuse more than 24 h
VAPID_REFRESH_BEFORE = 3600  # sign a new one when the cached one has less than this left
_NO_LIMIT = aiohttp.ClientTimeout()  # aiohttp's: the channel's ``Deadlines`` keep the time
_compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class SubscriptionGoneError(PermanentChannelError):
    """The push service no longer knows the subscription (404/410): prune it."""


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url_encode(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")


@dataclasses.dataclass(frozen=True)
class PushSubscription:
    """What the browser's ``PushSubscription.toJSON()`` gives (base64url keys)."""

    endpoint: str = dataclasses.field(repr=False)  # a capability URL: keep it out of logs
    p256dh: str = dataclasses.field(repr=False)
    auth: str = dataclasses.field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PushSubscription:
        keys = data.get("keys") or {}
        return cls(endpoint=data["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"])

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the endpoint, the VAPID audience."""
        scheme, sep, rest = self.endpoint.partition("://")
        if not sep:  # not an absolute URL (the API refuses those): as urlsplit reads it
            u = urlsplit(self.endpoint)
            return f"{u.scheme}://{u.netloc}"
        return f"{scheme.lower()}://{rest.split('/', 1)[0].split('?', 1)[0].split('#', 1)[0]}"


@dataclasses.dataclass(frozen=True)
class Push:
    subscription: PushSubscription
    # title, body, url, tag, icon: sent as JSON; or that JSON already encoded (``encode``),
    # as the recipients of one event in one language share it
    payload: Mapping[str, Any] | bytes
    notification_id: str
    ttl: int = 24 * 3600  # seconds the push service keeps it for an offline browser
    urgency: str = "normal"  # very-low | low | normal | high
    topic: str | None = None  # a later push with the same topic replaces a queued one

    def __post_init__(self) -> None:
        if self.ttl < 0:
            raise ValueError("ttl must be >= 0")
        if self.urgency not in URGENCIES:
            raise ValueError(f"urgency must be one of {', '.join(URGENCIES)}")
        if self.topic is not None and not TOPIC.match(self.topic):
            raise ValueError("topic: at most 32 characters of A-Z a-z 0-9 - _")

    def data(self) -> bytes:
        return self.payload if isinstance(self.payload, bytes) else encode(self.payload)


def encode(payload: Mapping[str, Any]) -> bytes:
    """A push's payload as the JSON the service worker reads."""
    return _compact_json(dict(payload)).encode()


@dataclasses.dataclass(frozen=True)
class VapidKeys:
    private_key_pem: str = dataclasses.field(repr=False)  # PKCS#8 PEM
    private_key: str = dataclasses.field(repr=False)  # base64url of the 32-byte scalar
    public_key: str  # base64url uncompressed point: the browser's applicationServerKey


def load_vapid_private_key(value: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key as PEM, base64url raw (32 bytes) or base64url DER."""
    if "-----BEGIN" in value:
        key = serialization.load_pem_private_key(value.encode(), password=None)
    else:
        raw = b64url_decode("".join(value.split()))
        if len(raw) == 32:
            return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("a VAPID key is an EC P-256 private key")
    return key


def application_server_key(private_key: ec.EllipticCurvePrivateKey) -> str:
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(point)


def generate_vapid_keys() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    return VapidKeys(pem, b64url_encode(raw), application_server_key(key))


class _Fresh(dict[str, Any]):
    """A subscription's JSON made for one push: ``WebPusher`` deep-copies what it is given
    (4 µs a push), and nothing else holds this one."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Fresh:
        return self


class WebPushChannel(Channel[Push]):
    name = "push"
    provider = "webpush"

    def __init__(
        self,
        vapid_private_key: str,
        vapid_subject: str,
        *,
        timeout: float = 10.0,
        max_connections: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not vapid_subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject is a mailto: or https: URL")
        self._vapid = Vapid(private_key=load_vapid_private_key(vapid_private_key))
        self.subject = vapid_subject
        self.public_key = application_server_key(self._vapid.private_key)
        self.timeout = timeout
        self.deadlines = Deadlines(timeout)  # the time limit (none of aiohttp's: ``_NO_LIMIT``)
        self.max_connections = max_connections
        self._clock = clock
        self._headers: dict[str, tuple[str, float]] = {}  # origin -> (Authorization, renew at)
        self._session: aiohttp.ClientSession | None = None

    def authorization(self, origin: str) -> str:
        """The VAPID ``Authorization`` header for a push service, signed once per origin."""
        now = self._clock()
        cached = self._headers.get(origin)
        if cached is not None and now < cached[1]:
            return cached[0]
        exp = int(now) + VAPID_LIFETIME
        claims = {"aud": origin, "exp": exp, "sub": self.subject}
        header = str(self._vapid.sign(claims)["Authorization"])
        self._headers[origin] = (header, exp - VAPID_REFRESH_BEFORE)
        return header

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=_NO_LIMIT,
            )
        return self._session

    async def _send(self, message: Push) -> Sent:
        sub = message.subscription
        try:  # pywebpush decodes the keys (once: no check of ours before it decodes them again)
            pusher = WebPusher(_Fresh(sub.to_json()), aiohttp_session=self._http())
        except (ValueError, IndexError, WebPushException):  # not base64, empty, not 65 bytes
            raise PermanentChannelError("invalid subscription keys") from None
        point, auth = pusher.receiver_key, pusher.auth_key
        if point is None or auth is None:  # a pywebpush that decodes them elsewhere
            try:
                point, auth = b64url_decode(sub.p256dh), b64url_decode(sub.auth)
            except ValueError:
                raise PermanentChannelError("invalid subscription keys") from None
        # an uncompressed point and a 16-byte secret; whether the point is on the curve is
        # found out when the payload is encrypted for it (below)
        if len(point) != 65 or point[0] != 4 or len(auth) != 16:
            raise PermanentChannelError("invalid subscription keys")
        data = message.data()
        if len(data) > MAX_PAYLOAD:
            raise PermanentChannelError(f"payload of {len(data)} bytes > {MAX_PAYLOAD}")
        origin = sub.origin
        headers = {"Authorization": self.authorization(origin), "Urgency": message.urgency}
        if message.topic:
            headers["Topic"] = message.topic
        try:
            resp = await pusher.send_async(
                data,
                headers,
                ttl=message.ttl,
                content_encoding="aes128gcm",
                timeout=_NO_LIMIT,
            )
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransientChannelError(f"push connection: {type(e).__name__}") from None
        except ValueError:  # the receiver's key is not a point of P-256: nothing to encrypt to
            raise PermanentChannelError("invalid subscription keys") from None
        assert isinstance(resp, aiohttp.ClientResponse)  # a str only when curl=True
        status = resp.status
        if status in (200, 201, 202):
            return Sent(provider_id=resp.headers.get("Location") or message.notification_id)
        reason = f"push service HTTP {status}"
        if status in (404, 410):
            raise SubscriptionGoneError(reason)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            raise TransientChannelError(reason, retry_after=retry_after)
        if status in (401, 403):
            self._headers.pop(origin, None)  # sign afresh next time
        raise PermanentChannelError(reason)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
