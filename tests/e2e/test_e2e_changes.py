"""Updates and cancellations through the real worker (HTTP -> Kafka -> worker -> SMTP): an update
keeps what it does not change, is told to whom the department chooses (``retell``) and says what
changed in each reader's language; a cancellation gives each reader the reason in their language
and the department's name (issue #20)."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.api.auth import create_department_key
from streams.records import iso
from tests.stage import SmtpSink, eventually

FR = {"title": "Coupure d'eau rue Monge", "body": "L'eau est coupée le 3 mars de 8 h à 12 h."}
EN = {"title": "Water cut on rue Monge", "body": "Water is cut on 3 March from 8 am to noon."}


async def register(
    api: TestClient[Any, Any], smtp: SmtpSink, email: str, language: str, area: str
) -> None:
    """A citizen who registered, confirmed by the emailed link and subscribed to ``area``."""
    r = await api.post("/v1/cities/paris/citizens", json={"email": email, "language": language})
    assert r.status == 201, await r.text()
    citizen = await r.json()
    [mail] = await eventually(lambda: smtp.to(email), what=f"confirmation to {email}")
    link = re.search(r"/v1/confirm/(\S+)", text(mail))
    assert link is not None
    assert (await api.post(f"/v1/confirm/{link.group(1)}")).status == 200
    r = await api.post(
        f"/v1/cities/paris/citizens/{citizen['citizen']['id']}/subscriptions",
        json={"area": area},
        headers={"Authorization": f"Bearer {citizen['token']}"},
    )
    assert r.status == 201, await r.text()


def text(mail: EmailMessage) -> str:
    return str(mail.get_body(("plain",)).get_content())


def about(sink: SmtpSink, address: str, words: str) -> list[EmailMessage]:
    """What ``address`` received whose subject holds ``words``."""
    return [m for m in sink.to(address) if words in m["Subject"]]


async def publish(api: TestClient[Any, Any], key: str, body: dict[str, Any]) -> str:
    r = await api.post("/v1/cities/paris/announcements", json=body, headers=auth(key))
    assert r.status == 202, await r.text()
    return str((await r.json())["href"])


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def settled(
    api: TestClient[Any, Any], key: str, href: str, version: int, sent: int
) -> dict[str, Any]:
    """The announcement once ``version`` is processed and ``sent`` emails of it went out: all
    that version queued (the worker queues before it marks the version processed)."""

    async def read() -> dict[str, Any] | None:
        body: dict[str, Any] = await (await api.get(href, headers=auth(key))).json()
        email = body["deliveries"].get("email", {})
        done = body["version"] == version and body["status"] == "processed"
        return body if done and email.get("sent", 0) == sum(email.values()) == sent else None

    return await eventually(read, what=f"version {version} processed, {sent} emails sent")


async def test_an_update_of_the_french_text_alone_tells_french_readers_what_changed(
    api: TestClient[Any, Any], worker: Any, smtp: tuple[SmtpSink, str], redis: Redis
) -> None:
    sink, _ = smtp
    key = await create_department_key(redis, "paris", "eau")
    await register(api, sink, "alice@example.org", "en", "75105")
    await register(api, sink, "bob@example.org", "fr", "7510501")
    # a circle, an expiry: what an update that does not give them must keep
    circle = {"circles": [{"lon": 2.3541, "lat": 48.8476, "radius_m": 800}]}
    expires = time.time() + 3 * 86400
    href = await publish(
        api,
        key,
        {
            "category": "water",
            "severity": "moderate",
            "target": circle,
            "content": {"fr": FR, "en": EN},
            "expires_at": iso(expires),
        },
    )
    await settled(api, key, href, 1, sent=2)

    fixed = {**FR, "body": "L'eau est coupée le 3 mars de 8 h à 14 h."}
    r = await api.put(href, json={"content": {"fr": fixed}}, headers=auth(key))
    assert r.status == 202, await r.text()
    report = await settled(api, key, href, 2, sent=3)  # one more: bob's

    [update] = about(sink, "bob@example.org", "Mise à jour")
    assert update["Subject"] == "Mise à jour : Coupure d'eau rue Monge"
    assert "Ce qui change : le texte." in text(update)
    assert "de 8 h à 14 h" in text(update)
    assert "Valable jusqu'au" in text(update)  # the expiry kept
    # alice reads English: nothing she reads changed, she is not sent the same text again
    assert [m["Subject"] for m in about(sink, "alice@example.org", "rue Monge")] == [
        "Water cut on rue Monge"
    ]
    assert report["target"]["circles"] == [{"lon": 2.3541, "lat": 48.8476, "radius_m": 800}]
    assert report["expires_at"] == iso(expires)
    assert report["content"]["en"]["body"] == EN["body"]  # kept
    assert report["content"]["fr"]["body"] == fixed["body"]
    assert report["severity"] == "moderate" and report["category"] == "water"


async def test_retell_none_tells_nobody_and_retell_new_only_those_newly_reached(
    api: TestClient[Any, Any], worker: Any, smtp: tuple[SmtpSink, str], redis: Redis
) -> None:
    sink, _ = smtp
    key = await create_department_key(redis, "paris", "voirie")
    await register(api, sink, "bob@example.org", "fr", "7510501")  # Saint-Victor
    await register(api, sink, "carol@example.org", "fr", "7510502")  # Jardin-des-Plantes
    body = {"category": "roadworks", "target": {"areas": ["7510501"]}, "content": {"fr": FR}}
    href = await publish(api, key, body)
    await settled(api, key, href, 1, sent=1)

    # a silent correction of a typo: the record changes, nobody is messaged
    typo = {**FR, "title": "Coupure d’eau rue Monge"}
    r = await api.put(href, json={"content": {"fr": typo}, "retell": "none"}, headers=auth(key))
    assert r.status == 202, await r.text()
    report = await settled(api, key, href, 2, sent=1)
    assert report["content"]["fr"]["title"] == "Coupure d’eau rue Monge"

    # the area widened: carol, newly reached, is told (a first message, not an update); bob not
    wider = {"target": {"areas": ["7510501", "7510502"]}, "retell": "new"}
    r = await api.put(href, json=wider, headers=auth(key))
    assert r.status == 202, await r.text()
    await settled(api, key, href, 3, sent=2)
    assert [m["Subject"] for m in sink.to("carol@example.org") if "rue Monge" in m["Subject"]] == [
        "Coupure d’eau rue Monge"
    ]
    assert [m["Subject"] for m in sink.to("bob@example.org") if "rue Monge" in m["Subject"]] == [
        "Coupure d'eau rue Monge"
    ]

    # retell all (the default): bob is told what changed, in French; carol's text did not change
    # but the severity did, so she is told too
    r = await api.put(href, json={"severity": "severe"}, headers=auth(key))
    assert r.status == 202, await r.text()
    await settled(api, key, href, 4, sent=4)
    for who in ("bob@example.org", "carol@example.org"):
        [update] = about(sink, who, "Mise à jour")
        assert "Ce qui change : la gravité." in text(update)


async def test_a_cancellation_gives_each_reader_the_reason_in_their_language_and_the_department(
    api: TestClient[Any, Any], worker: Any, smtp: tuple[SmtpSink, str], redis: Redis
) -> None:
    sink, _ = smtp
    key = await create_department_key(redis, "paris", "voirie")
    await register(api, sink, "alice@example.org", "en", "75105")
    await register(api, sink, "bob@example.org", "fr", "7510501")
    body = {"category": "roadworks", "target": {"areas": ["7510501"]}}
    first = await publish(api, key, {**body, "content": {"fr": FR, "en": EN}})
    second = await publish(api, key, {**body, "content": {"fr": FR, "en": EN}})
    await settled(api, key, first, 1, sent=2)
    await settled(api, key, second, 1, sent=2)

    reason = {"fr": "Les travaux sont reportés à lundi.", "en": "The works are put off to Monday."}
    r = await api.post(first + "/cancel", json={"reason": reason}, headers=auth(key))
    assert r.status == 202, await r.text()
    [alice] = await eventually(lambda: about(sink, "alice@example.org", "Cancelled"))
    [bob] = await eventually(lambda: about(sink, "bob@example.org", "Annulé"))
    assert "Reason: The works are put off to Monday." in text(alice)
    assert "reportés" not in text(alice)
    assert "Roads and Transport Department has cancelled" in text(alice)
    assert "voirie has" not in text(alice)
    assert "Motif : Les travaux sont reportés à lundi." in text(bob)
    assert "Direction de la voirie et des déplacements annule" in text(bob)

    # a reason in French only: English readers are told which language it is in
    r = await api.post(second + "/cancel", json={"reason": "Reporté."}, headers=auth(key))
    assert r.status == 202, await r.text()
    await eventually(lambda: len(about(sink, "alice@example.org", "Cancelled")) == 2)
    latest = about(sink, "alice@example.org", "Cancelled")[-1]
    assert "Reason (in French): Reporté." in text(latest)
