"""Web push (RFC 8030) with pywebpush: payloads encrypted aes128gcm (RFC 8291), VAPID
(RFC 8292) with one signed JWT per push-service origin, reused until shortly before it
expires, and one shared aiohttp session.

Every push goes through the guarded client (``channels.outbound``): the endpoint came from a
browser, that is from anyone, so only the push services on the allow-list are reached, never an
internal address, no redirect is followed and at most 4 KB of an answer is read, undecompressed.

Responses: 201/202 -> sent (the provider id is the ``Location`` the push service gives, when it
is a plain short URL, else the notification id); 404/410 -> ``SubscriptionGoneError`` (the
caller prunes the subscription); an endpoint the guard refuses -> ``EndpointRefusedError`` (the
caller suspends it); 413, redirects and other 4xx -> ``PermanentChannelError``; 429, 5xx,
connection errors and timeouts -> ``TransientChannelError`` with ``Retry-After`` honoured.

A push service that leaves ``REST_AFTER`` pushes in a row unanswered rests for ``REST`` seconds:
its pushes fail at once meanwhile (to be tried again later), instead of each holding a send slot
until its time limit. A push left unanswered while its service answers others is the endpoint's
own fault (``recipient_fault``): the caller counts those against the contact point.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from channels.base import (
    Address,
    Addressee,
    Batch,
    Channel,
    Deadlines,
    Origin,
    PermanentChannelError,
    Sent,
    TransientChannelError,
    parse_retry_after,
)
from channels.outbound import GuardedClient, OutboundPolicy, RefusedAddressError

URGENCIES = ("very-low", "low", "normal", "high")
URGENCY = {"extreme": "high", "severe": "high", "moderate": "normal"}  # by severity; else low
TTL = 24 * 3600  # seconds a push service keeps a push without an expiry for an offline browser
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # RFC 8030 5.4: URL-safe base64 alphabet
# One aes128gcm record in the 4096-byte body push services accept: 86 octets of header,
# 16 of tag, 1 of padding delimiter.
MAX_PAYLOAD = 4096 - 86 - 16 - 1
VAPID_LIFETIME = 12 * 3600  # the JWT's exp; push services refuse more than 24 h
VAPID_REFRESH_BEFORE = 3600  # sign a new one when the cached one has less than this left
REST_AFTER = 3  # pushes in a row a service left unanswered before it rests
REST = 30.0  # seconds
RECENT = 300.0  # a service that answered within this long is up: what it leaves is the endpoint's
PROVIDER_ID = re.compile(r"^https?://[\x21-\x7e]{1,300}$")  # a Location kept as the provider's id
_compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class SubscriptionGoneError(PermanentChannelError):
    """The push service no longer knows the subscription (404/410): prune it."""

    contact_status = "gone"
    how = "push service 404/410"


class EndpointRefusedError(PermanentChannelError):
    """The guard refuses the endpoint (not an allowed push service, or an internal address):
    suspend the subscription."""

    contact_status = "suspended"
    how = "push endpoint refused by the outbound guard"


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
    ttl: int = TTL  # seconds the push service keeps it for an offline browser
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


def fitted(payload: dict[str, str], site: str) -> bytes:
    """A push's JSON within what a push service takes (``MAX_PAYLOAD`` bytes): a link too long
    for it (a department's may be 2,000 characters) leads to the city's site instead, and a
    body still too long is cut, with "…"."""
    data = encode(payload)
    if len(data) > MAX_PAYLOAD:
        payload = {**payload, "url": site}
        data = encode(payload)
    body = payload["body"]
    while len(data) > MAX_PAYLOAD and body:
        body = body[: len(body) // 2]
        data = encode({**payload, "body": body.rstrip() + "…"})
    return data


def event_topic(event: str) -> str:
    """A push Topic (≤ 32 URL-safe characters): a later version replaces a queued one."""
    return base64.urlsafe_b64encode(hashlib.sha256(event.encode()).digest()).decode()[:32]


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


class _Services:
    """What each push service (origin) did lately, in this process: when it last answered,
    how many pushes in a row it left unanswered, until when it rests."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._answered: dict[str, float] = {}
        self._unanswered: dict[str, int] = {}
        self._rest_until: dict[str, float] = {}

    def resting(self, origin: str) -> float:
        """Seconds the service still rests (0: it does not)."""
        until = self._rest_until.get(origin)
        return 0.0 if until is None else max(0.0, until - self._clock())

    def note(self, origin: str, answered: bool) -> None:
        if answered:
            self._answered[origin] = self._clock()
            self._unanswered.pop(origin, None)
            self._rest_until.pop(origin, None)
            return
        n = self._unanswered[origin] = self._unanswered.get(origin, 0) + 1
        if n >= REST_AFTER:
            self._rest_until[origin] = self._clock() + REST

    def answers_others(self, origin: str) -> bool:
        return self._clock() - self._answered.get(origin, float("-inf")) < RECENT


class WebPushChannel(Channel[Push]):
    name = "push"
    provider = "webpush"

    def __init__(
        self,
        vapid_private_key: str,
        vapid_subject: str,
        *,
        outbound: OutboundPolicy | None = None,  # None: the default push services, no loopback
        timeout: float = 10.0,
        max_connections: int = 64,
        clock: Callable[[], float] = time.time,
        resolver: AbstractResolver | None = None,  # the tests' stub DNS (under the guard)
    ) -> None:
        if not vapid_subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject is a mailto: or https: URL")
        self._vapid = Vapid(private_key=load_vapid_private_key(vapid_private_key))
        self.subject = vapid_subject
        self.public_key = application_server_key(self._vapid.private_key)
        self.timeout = timeout
        self.deadlines = Deadlines(timeout)  # the time limit (none of aiohttp's)
        self.max_connections = max_connections
        self.outbound = outbound or OutboundPolicy()
        self._client = GuardedClient(self.outbound, max_connections, resolver)
        self._clock = clock
        self._headers: dict[str, tuple[str, float]] = {}  # origin -> (Authorization, renew at)
        self._services = _Services(time.monotonic)

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

    def messages(self, batch: Batch, origin: Origin) -> Callable[[Addressee, Address], Push]:
        """Its payload's JSON made once per language (the event's tag, the city's icon; a link
        too long leads to the city's site), urgency by severity, kept until the event expires,
        and a topic per event: a later version replaces a queued one."""
        variants, expires_at = batch.variants, batch.expires_at
        urgency, topic = URGENCY.get(batch.severity, "low"), event_topic(batch.event)
        tag, icon, site = batch.event, origin.icon_url, origin.site
        payloads: dict[str, bytes] = {}  # language -> the push's JSON

        def message(r: Addressee, cp: Address) -> Push:
            ttl = TTL
            if expires_at is not None:
                ttl = max(0, int(expires_at - time.time()))
            subscription = PushSubscription(cp.address, cp.p256dh, cp.auth)
            data = payloads.get(r.language)
            if data is None:
                v = variants[r.language]
                payload = {"title": v["title"], "body": v["body"], "url": v["url"], "tag": tag}
                if icon:
                    payload["icon"] = icon
                data = payloads[r.language] = fitted(payload, site)
            return Push(subscription, data, r.id, ttl, urgency, topic)

        return message

    def recipient_fault(self, message: Push) -> bool:
        """A push cut at its time limit is the endpoint's fault if its service answers others."""
        return self._services.answers_others(message.subscription.origin)

    async def _send(self, message: Push) -> Sent:
        sub = message.subscription  # its endpoint checked by the guarded client's ``post``
        try:  # pywebpush decodes the keys (once: no check of ours before it decodes them again)
            pusher = WebPusher(_Fresh(sub.to_json()))
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
        try:
            body = pusher.encode(data, "aes128gcm")["body"]
        except ValueError:  # the receiver's key is not a point of P-256: nothing to encrypt to
            raise PermanentChannelError("invalid subscription keys") from None
        origin = sub.origin
        resting = self._services.resting(origin)
        if resting:
            reason = "push service not answering: resting"
            raise TransientChannelError(reason, retry_after=resting)
        headers = {
            "Authorization": self.authorization(origin),
            "Urgency": message.urgency,
            "TTL": str(message.ttl),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }
        if message.topic:
            headers["Topic"] = message.topic
        answered: bool | None = False  # None: refused by the guard, which says nothing of it
        try:
            answer = await self._client.post(sub.endpoint, body, headers)
            answered = True
        except (RefusedAddressError, aiohttp.ClientConnectorDNSError) as e:
            refused = e if isinstance(e, RefusedAddressError) else e.os_error
            if isinstance(refused, RefusedAddressError):
                answered = None
                raise EndpointRefusedError(f"push endpoint refused: {refused}") from None
            raise TransientChannelError("push connection: name not resolved") from None
        except (aiohttp.ClientError, TimeoutError) as e:
            fault = self._services.answers_others(origin)
            reason = f"push connection: {type(e).__name__}"
            raise TransientChannelError(reason, recipient_fault=fault) from None
        finally:  # cut at the time limit too: then unanswered
            if answered is not None:
                self._services.note(origin, answered)
        status = answer.status
        if status in (200, 201, 202):
            location = answer.headers.get("location", "")
            ok = PROVIDER_ID.match(location) is not None
            return Sent(provider_id=location if ok else message.notification_id)
        reason = f"push service HTTP {status}"
        if status in (404, 410):
            raise SubscriptionGoneError(reason)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(answer.headers.get("retry-after"))
            raise TransientChannelError(reason, retry_after=retry_after)
        if status in (401, 403):
            self._headers.pop(origin, None)  # sign afresh next time
        raise PermanentChannelError(reason)  # a redirect too: never followed

    async def close(self) -> None:
        await self._client.close()
