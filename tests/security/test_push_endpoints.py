"""Web push endpoints come from browsers, that is from anyone: the attacks of issue #17's holes 1
and 2, against the real API, the real channel and real servers on loopback.

Nothing here leaves loopback: private, link-local and metadata addresses are tested at the guard's
resolver with a stub DNS (no connection is made), and the end-to-end refusals use names that a
stub DNS maps to 127.0.0.1, with the loopback exception off, where a recording server would see
anything that got through.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from channels.base import PermanentChannelError, TransientChannelError
from channels.outbound import GuardedResolver, OutboundPolicy, RefusedAddressError
from channels.push import (
    REST_AFTER,
    EndpointRefusedError,
    Push,
    PushSubscription,
    WebPushChannel,
    generate_vapid_keys,
)
from notifier.dev.embedded import free_port
from notifier.dev.push_service_fake import PushServiceFake
from notifier.dev.push_service_fake import create_app as push_app
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps
from streams.announcements import Announcement
from streams.delivery.expand import expand_announcement
from streams.delivery.send import send_batch
from streams.records import DeliveryBatch
from streams.state.scheduler import Backoff
from subscriptions import strikes
from subscriptions.areas import load_catalogue
from subscriptions.store import new_id
from subscriptions.subscription import parse_subscription
from tests.stage import api_client

SUBJECT = "mailto:ops@ville.example"
LOCAL = OutboundPolicy(loopback=True)
KEYS = {"p256dh": "B" + "A" * 86, "auth": "A" * 22}


class StubDNS(AbstractResolver):
    """Test names -> addresses, as a DNS server would answer (no packet sent)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        ip = self.names[host]
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return [{"hostname": host, "host": ip, "port": port, "family": fam, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


@dataclasses.dataclass
class Hostile:
    """A push service on loopback that does what a hostile one would, beside a real one
    (``PushServiceFake`` at ``/push/{token}``), and an internal server that records whatever
    reaches it."""

    fake: PushServiceFake
    url: str  # the push service's origin
    internal: str  # the internal server's origin
    reached_internal: list[str]
    hanging: list[str]


def _gzip_bomb(megabytes: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip
    zeros = bytes(1 << 20)
    return b"".join(z.compress(zeros) for _ in range(megabytes)) + z.flush()


BOMB = _gzip_bomb(100)  # ~100 KB that a client that decompresses makes 100 MB of


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    reached: list[str] = []
    hanging: list[str] = []
    over = asyncio.Event()  # the hanging answers end with the test

    async def record(request: web.Request) -> web.Response:
        reached.append(f"{request.method} {request.path}")
        return web.Response(text="internal secrets")

    internal_app = web.Application()
    internal_app.router.add_route("*", "/{tail:.*}", record)
    internal = TestServer(internal_app, host="127.0.0.1", port=free_port())
    await internal.start_server()
    internal_url = str(internal.make_url("")).rstrip("/")

    async def redirect(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        return web.Response(status=status, headers={"Location": f"{internal_url}/latest/meta-data"})

    async def hang(request: web.Request) -> web.Response:
        hanging.append(request.path)
        await over.wait()
        return web.Response(status=201)

    async def bomb(request: web.Request) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Location": "https://push.example/m/1"}
        return web.Response(status=201, body=BOMB, headers=headers)

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=201)
        await resp.prepare(request)
        chunk = b"x" * 65536
        for _ in range(32 * 16):  # 32 MB, unless the client drops the connection
            await resp.write(chunk)
        return resp

    fake = PushServiceFake()
    app = push_app(fake)
    app.router.add_post("/redirect/{status}", redirect)
    app.router.add_post("/hang/{token}", hang)
    app.router.add_post("/bomb", bomb)
    app.router.add_post("/endless", endless)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    yield Hostile(fake, str(server.make_url("")).rstrip("/"), internal_url, reached, hanging)
    over.set()
    await server.close()
    await internal.close()


def subscribed(h: Hostile, path: str = "") -> PushSubscription:
    sub, _ = h.fake.subscribe(h.url)
    if path:  # the same keys at another path of the same push service
        sub = dataclasses.replace(sub, endpoint=sub.endpoint.replace("/push/", path))
    return sub


def message(sub: PushSubscription, nid: str = "n-1") -> Push:
    return Push(sub, {"title": "Alerte", "body": "Crue"}, nid)


# -- where a browser may point us ----------------------------------------------------------

REFUSED_ENDPOINTS = [
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://10.0.0.5/push/x",
    "https://[::ffff:169.254.169.254]/x",
    "https://[fd00::1]/x",
    "https://internal.corp/push/x",  # not a push service
    "https://fcm.googleapis.com.evil.example/fcm/send/x",  # a look-alike
    "https://evilfcm.googleapis.com/fcm/send/x",
    "https://user:pw@fcm.googleapis.com/fcm/send/x",  # userinfo
    "http://fcm.googleapis.com/fcm/send/x",  # not https
    "http://127.0.0.1:6379/",  # loopback: only the tests and the embedded stack allow it
    "http://localhost:8080/dev/outbox",
    "https://127.0.0.1/x",
]


@pytest.fixture
async def public_api(settings: Settings, redis: Redis) -> AsyncIterator[Any]:
    """The API as production runs it: web push on, no loopback exception."""
    s = settings.replace(
        vapid_private_key=Secret(generate_vapid_keys().private_key), push_loopback=False
    )
    async with api_client(s, redis) as client:
        yield client


async def _citizen(client: Any) -> tuple[str, dict[str, str]]:
    r = await client.post("/v1/cities/paris/citizens", json={"email": f"{new_id('a')}@example.org"})
    assert r.status == 201, await r.text()
    body = await r.json()
    return body["citizen"]["id"], {"Authorization": f"Bearer {body['token']}"}


async def test_a_push_endpoint_outside_the_push_services_is_refused_and_kept_nowhere(
    public_api: Any,
) -> None:
    cid, auth = await _citizen(public_api)
    contacts = f"/v1/cities/paris/citizens/{cid}/contacts"
    for endpoint in REFUSED_ENDPOINTS:
        r = await public_api.post(
            contacts, json={"push": {"endpoint": endpoint, "keys": KEYS}}, headers=auth
        )
        assert r.status in (400, 422), (endpoint, r.status)
        assert (await r.json())["error"]["field"] == "push.endpoint", endpoint
    held = await (await public_api.get(f"/v1/cities/paris/citizens/{cid}", headers=auth)).json()
    assert [c for c in held["contacts"] if c["channel"] == "push"] == []
    # the browsers' push services are taken
    for endpoint in (
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABh",
        "https://web.push.apple.com/QGxvbmcgdG9rZW4",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",
    ):
        r = await public_api.post(
            contacts, json={"push": {"endpoint": endpoint, "keys": KEYS}}, headers=auth
        )
        assert r.status == 201, (endpoint, await r.text())


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # metadata
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "127.0.0.2",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd12:3456::1",
        "::ffff:10.0.0.1",  # IPv4 in IPv6: checked as the IPv4 it carries
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "224.0.0.1",
    ],
)
async def test_the_guard_refuses_a_name_that_resolves_to_an_internal_address(address: str) -> None:
    guard = GuardedResolver(OutboundPolicy(), StubDNS({"push.example": address}))
    with pytest.raises(RefusedAddressError) as e:
        await guard.resolve("push.example", 443)
    assert address not in str(e.value)  # the reason never says where it would have gone


async def test_the_guard_lets_a_public_address_through_and_loopback_only_when_asked() -> None:
    dns = StubDNS({"push.example": "93.184.215.14", "local.test": "127.0.0.1"})
    [found] = await GuardedResolver(OutboundPolicy(), dns).resolve("push.example", 443)
    assert found["host"] == "93.184.215.14"
    with pytest.raises(RefusedAddressError):
        await GuardedResolver(OutboundPolicy(), dns).resolve("local.test", 443)
    assert await GuardedResolver(LOCAL, dns).resolve("local.test", 443)


async def test_a_name_that_resolves_to_an_internal_address_at_send_time_is_refused(
    hostile: Hostile,
) -> None:
    """DNS rebinding: the name passed the check when it was given; where it leads is checked
    where the connection is made, each time."""
    port = hostile.url.rsplit(":", 1)[1]
    sub = subscribed(hostile)
    rebound = dataclasses.replace(
        sub, endpoint=sub.endpoint.replace(f"http://127.0.0.1:{port}", f"https://push.test:{port}")
    )
    dns = StubDNS({"push.test": "127.0.0.1"})
    policy = OutboundPolicy(hosts=("push.test",))
    assert policy.refusal(rebound.endpoint) is None  # as given, the endpoint is fine
    channel = WebPushChannel(
        generate_vapid_keys().private_key, SUBJECT, outbound=policy, resolver=dns, timeout=5
    )
    try:
        with pytest.raises(EndpointRefusedError) as e:
            await channel.send("n-1", message(rebound))
        assert "127.0.0.1" not in e.value.reason
    finally:
        await channel.close()
    assert dns.asked == ["push.test"]  # the connection asked, and was refused
    assert hostile.fake.received == [] and hostile.fake.refused == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_from_a_push_service_is_never_followed(
    hostile: Hostile, status: int
) -> None:
    channel = WebPushChannel(generate_vapid_keys().private_key, SUBJECT, outbound=LOCAL)
    try:
        with pytest.raises(PermanentChannelError) as e:
            await channel.send("n-1", message(subscribed(hostile, f"/redirect/{status}?")))
    finally:
        await channel.close()
    assert hostile.reached_internal == []
    assert e.value.reason == f"push service HTTP {status}"


async def test_a_gzip_bomb_answer_costs_a_few_kilobytes(hostile: Hostile) -> None:
    channel = WebPushChannel(generate_vapid_keys().private_key, SUBJECT, outbound=LOCAL)
    sub = subscribed(hostile, "/bomb?")
    try:
        await channel.send("warm-up", message(subscribed(hostile)))  # the session, its imports
        tracemalloc.start()
        sent = await channel.send("n-1", message(sub))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await channel.close()
    assert sent.provider_id == "https://push.example/m/1"
    assert peak < 4 * 1024 * 1024, f"{peak / 1e6:.1f} MB for one push"


async def test_an_endless_answer_is_cut_after_a_few_kilobytes(hostile: Hostile) -> None:
    channel = WebPushChannel(generate_vapid_keys().private_key, SUBJECT, outbound=LOCAL)
    try:
        sent = await asyncio.wait_for(
            channel.send("n-1", message(subscribed(hostile, "/endless?"))), 5
        )
    finally:
        await channel.close()
    assert sent.provider_id == "n-1"  # taken; no Location


async def test_a_push_service_that_does_not_answer_rests_instead_of_holding_send_slots(
    hostile: Hostile,
) -> None:
    channel = WebPushChannel(
        generate_vapid_keys().private_key, SUBJECT, outbound=LOCAL, timeout=0.2
    )
    try:
        for i in range(REST_AFTER):
            with pytest.raises(TransientChannelError) as e:
                await channel.send(f"n-{i}", message(subscribed(hostile, "/hang/")))
            assert "timeout" in e.value.reason
        started = time.monotonic()
        with pytest.raises(TransientChannelError) as e:
            await channel.send("n-next", message(subscribed(hostile, "/hang/")))
        assert time.monotonic() - started < 0.2  # not held until the time limit
        assert "resting" in e.value.reason and e.value.retry_after
    finally:
        await channel.close()
    assert len(hostile.hanging) == REST_AFTER  # the one after them never reached it


async def test_an_endpoint_that_keeps_hanging_while_its_service_answers_is_suspended(
    hostile: Hostile, redis: Redis
) -> None:
    """Through the real hand-off: the hanging endpoint's contact point is suspended after
    ``strikes.STRIKES`` of its own failures, as a 410 would prune it; the other citizen on the
    same push service is served every time."""
    published: list[tuple[str, bytes, bytes]] = []

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        published.append((topic, key, value))

    settings = Settings(
        secret_key=Secret("k" * 48),
        public_url="https://alerts.example",
        vapid_private_key=Secret(generate_vapid_keys().private_key),
        push_loopback=True,
    )
    channel = WebPushChannel(str(settings.vapid_private_key), SUBJECT, outbound=LOCAL, timeout=0.3)
    d = build_deps(settings, redis, publish, {"push": channel})
    d.enabled = ("email", "push")
    d.scheduler.retry = Backoff(first=0.01)
    paris = load_catalogue("paris")
    store = d.store
    contacts = {}
    for name, sub in (("good", subscribed(hostile)), ("hangs", subscribed(hostile, "/hang/"))):
        c = await store.create_citizen("paris", "fr")
        contacts[name] = await store.add_contact(
            "paris", c.id, "push", sub.endpoint, "confirmed", "test", sub.p256dh, sub.auth
        )
        s, index = parse_subscription(
            {"area": "75105", "channels": ["push"]},
            sid=new_id("sub"),
            citizen=c.id,
            catalogue=paris,
        )
        await store.add_subscription("paris", s, index)
    try:
        for n in range(strikes.STRIKES):
            body = {
                "category": "roadworks",
                "target": {"areas": ["75105"]},
                "content": {"fr": {"title": f"Travaux {n}", "body": "Rue fermée."}},
            }
            a = Announcement.from_input(
                body, id=f"evt_{n}", city="paris", department="voirie", catalogue=paris
            )
            await d.events.accept(a)
            published.clear()
            await expand_announcement(a, d)
            [batch] = [DeliveryBatch.from_wire(v) for t, _, v in published if t.endswith("push")]
            outcomes = await send_batch(batch.to_wire(), d)
            expected = "failed" if n == strikes.STRIKES - 1 else "retrying"
            assert outcomes == {"sent": 1, expected: 1}, n
    finally:
        await channel.close()
    assert len(hostile.fake.received) == strikes.STRIKES  # the good one, every time
    hangs = await store.contact("paris", contacts["hangs"].id)
    assert hangs.status == "suspended"
    assert (await store.contact("paris", contacts["good"].id)).status == "confirmed"
    [last] = [
        c for c in await store.consent_log("paris", hangs.citizen) if c["change"] == "suspended"
    ]
    assert "failed" in last["how"]
