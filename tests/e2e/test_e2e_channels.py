"""SMS and web push end to end: the real worker hands messages to the Twilio-shaped server and
the push service (both checking the protocol), receipts come back signed, STOP is honoured."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from channels.push import generate_vapid_keys
from channels.twilio_webhooks import compute_signature
from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.dev import embedded, twilio_fake
from notifier.dev.push_service_fake import PushServiceFake
from notifier.dev.push_service_fake import create_app as push_app
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_services
from tests.stage import SmtpSink, eventually

FROM = "+33700000001"
PHONE = "+33612345678"
SID, TOKEN = "AC" + "1" * 32, "f" * 32


@dataclasses.dataclass
class World:
    api: TestClient[Any, Any]
    twilio: twilio_fake.TwilioFake
    push: PushServiceFake
    push_url: str
    settings: Settings
    key: str


@pytest.fixture
async def world(
    settings: Settings, redis: Redis, smtp: tuple[SmtpSink, str], logs: Path
) -> AsyncIterator[World]:
    twilio = twilio_fake.TwilioFake(SID, TOKEN, numbers=[FROM])
    twilio_runner, twilio_url = await twilio_fake.start(twilio)
    push = PushServiceFake()
    push_runner = web.AppRunner(push_app(push), access_log=None)
    await push_runner.setup()
    push_port = embedded.free_port()
    await web.TCPSite(push_runner, "127.0.0.1", push_port).start()
    api_port = embedded.free_port()
    s = settings.replace(
        public_url=f"http://127.0.0.1:{api_port}",
        twilio_account_sid=SID,
        twilio_auth_token=Secret(TOKEN),
        twilio_from=FROM,
        twilio_base_url=twilio_url,
        vapid_private_key=Secret(generate_vapid_keys().private_key),
    )
    publisher = KafkaPublisher(s.kafka_bootstrap)
    await publisher.start()
    api = TestClient(
        TestServer(
            create_api(s, build_services(s, redis, publisher.publish)),
            host="127.0.0.1",
            port=api_port,
        )
    )
    await api.start_server()
    with worker(s, logs):
        yield World(
            api,
            twilio,
            push,
            f"http://127.0.0.1:{push_port}",
            s,
            await create_department_key(redis, "paris", "voirie"),
        )
    await api.close()
    await publisher.stop()
    await twilio.idle()
    await twilio_runner.cleanup()
    await push_runner.cleanup()


@contextlib.contextmanager
def worker(s: Settings, logs: Path) -> Iterator[None]:
    """``notifier worker`` as a real process with these settings."""
    proc = embedded.spawn(
        embedded.python_module("notifier", "worker"),
        logs / f"worker-{s.app_id}.log",
        env=embedded.child_env(s.to_env()),
    )
    try:
        yield
    finally:
        embedded.stop(proc)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def citizen_with_phone_and_push(
    w: World, channels: tuple[str, ...] = ("sms", "push")
) -> tuple[dict[str, Any], str]:
    r = await w.api.post("/v1/cities/paris/citizens", json={"phone": "06 12 34 56 78"})
    assert r.status == 201, await r.text()
    c = await r.json()
    cid, [phone] = c["citizen"]["id"], c["contacts"]
    assert (phone["address"], phone["status"]) == (PHONE, "pending")
    [text] = await eventually(lambda: w.twilio.sent_to(PHONE), what="the code by SMS")
    code = re.match(r"(\d{6}) est votre code", text.body).group(1)
    r = await w.api.post(
        f"/v1/cities/paris/citizens/{cid}/contacts/{phone['id']}/confirm",
        json={"code": "000000" if code != "000000" else "111111"},
        headers=auth(c["token"]),
    )
    assert (await r.json())["error"]["reason"] == "wrong code"
    r = await w.api.post(
        f"/v1/cities/paris/citizens/{cid}/contacts/{phone['id']}/confirm",
        json={"code": code},
        headers=auth(c["token"]),
    )
    assert (await r.json())["contact"]["status"] == "confirmed"
    sub, _ = w.push.subscribe(w.push_url)
    r = await w.api.post(
        f"/v1/cities/paris/citizens/{cid}/contacts",
        headers=auth(c["token"]),
        json={"push": sub.to_json()},
    )
    assert r.status == 201 and (await r.json())["status"] == "confirmed"
    r = await w.api.post(
        f"/v1/cities/paris/citizens/{cid}/subscriptions",
        json={"area": "75105", "channels": list(channels)},
        headers=auth(c["token"]),
    )
    assert r.status == 201, await r.text()
    return c, sub.endpoint.rsplit("/", 1)[1]


async def announce(w: World, title: str) -> str:
    r = await w.api.post(
        "/v1/cities/paris/announcements",
        headers=auth(w.key),
        json={
            "category": "water",
            "severity": "severe",
            "target": {"areas": ["7510501"]},
            "content": {
                "fr": {
                    "title": title,
                    "body": "Rue Monge, de 8 h à 12 h.",
                    "link": "https://www.paris.fr/eau",
                }
            },
        },
    )
    assert r.status == 202
    return str((await r.json())["href"])


async def test_sms_and_push_are_delivered_and_receipts_tracked(world: World) -> None:
    w = world
    _, token = await citizen_with_phone_and_push(w)
    href = await announce(w, "Coupure d'eau")
    [sms] = await eventually(
        lambda: [m for m in w.twilio.sent_to(PHONE) if "Coupure" in m.body], what="the SMS"
    )
    assert sms.body.startswith("Paris : Coupure d'eau.")
    assert "https://www.paris.fr/eau" in sms.body and "STOP" in sms.body
    assert sms.status_callback == f"{w.settings.public_url}/v1/cities/paris/twilio/status"
    [push] = await eventually(lambda: w.push.to(token), what="the push")
    assert push.json()["title"] == "Coupure d'eau"
    assert push.json()["url"] == "https://www.paris.fr/eau"
    assert push.headers["Urgency"] == "high" and len(push.headers["Topic"]) <= 32

    async def figures() -> dict[str, Any] | None:
        body = await (await w.api.get(href, headers=auth(w.key))).json()
        return (
            body if body["deliveries"] == {"sms": {"delivered": 1}, "push": {"sent": 1}} else None
        )

    await eventually(figures, what="SMS delivered (by the signed callbacks) and push sent")


async def test_stop_switches_sms_off_and_a_forged_stop_is_refused(world: World) -> None:
    w = world
    c, token = await citizen_with_phone_and_push(w)
    url = f"{w.settings.public_url}/v1/cities/paris/twilio/inbound"
    params = {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": SID,
        "From": PHONE,
        "To": FROM,
        "Body": "Arrêt",
    }
    forged = {"X-Twilio-Signature": compute_signature("not the token", url, params)}
    r = await w.api.post("/v1/cities/paris/twilio/inbound", data=params, headers=forged)
    assert r.status == 403
    held = await (
        await w.api.get(f"/v1/cities/paris/citizens/{c['citizen']['id']}", headers=auth(c["token"]))
    ).json()
    assert {x["channel"]: x["status"] for x in held["contacts"]}["sms"] == "confirmed"

    signed = {"X-Twilio-Signature": compute_signature(TOKEN, url, params)}
    r = await w.api.post("/v1/cities/paris/twilio/inbound", data=params, headers=signed)
    assert r.status == 200 and "<Response" in await r.text()
    held = await (
        await w.api.get(f"/v1/cities/paris/citizens/{c['citizen']['id']}", headers=auth(c["token"]))
    ).json()
    assert {x["channel"]: x["status"] for x in held["contacts"]}["sms"] == "opted_out"
    assert held["consent"][-1]["how"] == "SMS STOP"

    before = len(w.twilio.sent_to(PHONE))
    await announce(w, "Deuxième coupure")
    await eventually(
        lambda: [p for p in w.push.to(token) if p.json()["title"] == "Deuxième coupure"],
        what="the push, which STOP does not touch",
    )
    assert len(w.twilio.sent_to(PHONE)) == before  # no SMS after STOP


async def test_a_push_alert_to_a_gone_subscription_falls_back_to_sms(world: World) -> None:
    """She follows her quartier by web push only and asked for SMS when a push fails: the
    browser dropped the subscription (410), so the alert comes by SMS, and the push contact
    is switched off."""
    w = world
    c, token = await citizen_with_phone_and_push(w, channels=("push",))
    cid = c["citizen"]["id"]
    r = await w.api.patch(
        f"/v1/cities/paris/citizens/{cid}", json={"fallback": ["sms"]}, headers=auth(c["token"])
    )
    assert (await r.json())["citizen"]["fallback"] == ["sms"]
    w.push.mark_gone(token)
    href = await announce(w, "Coupure d'eau")
    [sms] = await eventually(
        lambda: [m for m in w.twilio.sent_to(PHONE) if "Coupure" in m.body], what="the SMS"
    )
    assert sms.body.startswith("Paris : Coupure d'eau.")

    async def figures() -> dict[str, Any] | None:
        body = await (await w.api.get(href, headers=auth(w.key))).json()
        return body if body["deliveries"].get("sms") == {"delivered": 1} else None

    body = await eventually(figures, what="the fallback SMS delivered")
    assert body["deliveries"]["push"] == {"failed": 1}
    held = await (
        await w.api.get(f"/v1/cities/paris/citizens/{cid}", headers=auth(c["token"]))
    ).json()
    assert {x["channel"]: x["status"] for x in held["contacts"]}["push"] == "gone"
