"""HTTP -> Kafka -> Faust worker -> SMTP server, on the real components."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis.asyncio import Redis

from notifier.api.auth import create_department_key
from notifier.settings import Settings
from streams.topics import TopicNames
from tests.stage import SmtpSink, eventually

ANNOUNCEMENT = {
    "category": "roadworks",
    "severity": "moderate",
    "target": {"areas": ["7510501"]},  # Saint-Victor, a quartier of the 5th arrondissement
    "content": {
        "fr": {
            "title": "Travaux rue Monge",
            "body": "La rue Monge est fermée du 1er au 5 décembre.",
            "link": "https://www.paris.fr/travaux",
        },
        "en": {"title": "Roadworks on rue Monge", "body": "Rue Monge is closed 1-5 December."},
    },
}


async def register(
    api: TestClient[Any, Any],
    smtp: SmtpSink,
    email: str,
    language: str,
    area: str,
    confirm: bool = True,
) -> dict[str, Any]:
    r = await api.post("/v1/cities/paris/citizens", json={"email": email, "language": language})
    assert r.status == 201, await r.text()
    citizen = await r.json()
    if confirm:
        [mail] = await eventually(lambda: smtp.to(email), what=f"confirmation to {email}")
        link = re.search(r"/v1/confirm/(\S+)", mail.get_body(("plain",)).get_content()).group(1)
        r = await api.post(f"/v1/confirm/{link}")
        assert (await r.json())["contact"]["status"] == "confirmed"
    r = await api.post(
        f"/v1/cities/paris/citizens/{citizen['citizen']['id']}/subscriptions",
        json={"area": area},
        headers={"Authorization": f"Bearer {citizen['token']}"},
    )
    assert r.status == 201, await r.text()
    return citizen


async def test_announcement_reaches_subscribers_mailbox_and_is_tracked(
    api: TestClient[Any, Any],
    worker: Any,
    smtp: tuple[SmtpSink, str],
    redis: Redis,
    settings: Settings,
) -> None:
    sink, _ = smtp
    key = await create_department_key(redis, "paris", "voirie")
    # subscribed to the arrondissement that holds the quartier, in English
    await register(api, sink, "alice@example.org", "en", "75105")
    # subscribed to the quartier itself, in French
    await register(api, sink, "bob@example.org", "fr", "7510501")
    # elsewhere: the 12th arrondissement
    await register(api, sink, "carol@example.org", "fr", "75112")
    # never confirmed her address
    await register(api, sink, "dan@example.org", "fr", "75105", confirm=False)

    r = await api.post(
        "/v1/cities/paris/announcements",
        json=ANNOUNCEMENT,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status == 202, await r.text()
    href = (await r.json())["href"]

    [alice] = await eventually(
        lambda: [m for m in sink.to("alice@example.org") if "rue Monge" in m["Subject"]],
        what="the announcement in alice's mailbox",
    )
    [bob] = await eventually(
        lambda: [m for m in sink.to("bob@example.org") if "rue Monge" in m["Subject"]],
        what="the announcement in bob's mailbox",
    )
    assert alice["Subject"] == "Roadworks on rue Monge"
    assert "Rue Monge is closed 1-5 December." in alice.get_body(("plain",)).get_content()
    assert bob["Subject"] == "Travaux rue Monge"
    text = bob.get_body(("plain",)).get_content()
    assert "La rue Monge est fermée du 1er au 5 décembre." in text
    assert "https://www.paris.fr/travaux" in text
    assert "Saint-Victor" in text  # why bob receives it
    assert bob["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = bob.get_body(("html",)).get_content()
    assert (
        "<h1" in html
        and "Travaux rue Monge" in html
        and 'href="https://www.paris.fr/travaux"' in html
    )

    async def delivered() -> dict[str, Any] | None:
        r = await api.get(href, headers={"Authorization": f"Bearer {key}"})
        body = await r.json()
        return body if body["deliveries"].get("email", {}).get("sent") == 2 else None

    report = await eventually(delivered, what="the API to report 2 sent")
    assert report["deliveries"] == {"email": {"sent": 2}}
    assert report["status"] == "processed"
    assert report["matched_citizens"] == 3  # alice, bob and dan (dan has no confirmed address)
    # carol (12th) and dan (unconfirmed) got only their confirmation request, if anything
    assert [m["Subject"] for m in sink.to("carol@example.org")] == [
        "Confirmez votre adresse pour les alertes de Paris"
    ]
    assert all("rue Monge" not in m["Subject"] for m in sink.to("dan@example.org"))
    # the worker's Prometheus figures say the same, with no personal data in them
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
        text = await (await http.get(url)).text()
    sent = re.search(r'notifier_notifications_total\{channel="email",outcome="sent"\} (\S+)', text)
    assert sent is not None and float(sent.group(1)) >= 2  # and the confirmations
    assert 'notifier_event_to_provider_seconds_count{channel="email"}' in text
    assert 'notifier_events_total{kind="announcement"} 1.0' in text
    assert "@" not in text and "cit_" not in text

    async def lag() -> list[str]:  # read every 5 s, once the consumer has fetched
        async with aiohttp.ClientSession() as http:
            text = await (await http.get(url)).text()
        city_events = f"{settings.topic_prefix}city-events"
        return re.findall(
            rf'notifier_consumer_lag\{{partition="\d+",topic="{city_events}"\}} 0.0', text
        )

    assert await eventually(lag, what="the consumer lag of city-events, all read")


async def test_malformed_record_goes_to_dead_letters_and_the_next_is_delivered(
    api: TestClient[Any, Any],
    worker: Any,
    smtp: tuple[SmtpSink, str],
    redis: Redis,
    settings: Settings,
) -> None:
    sink, _ = smtp
    await register(api, sink, "erin@example.org", "fr", "75105")
    topics = TopicNames.with_prefix(settings.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.city_events, b"{not json")
        await producer.send_and_wait(
            topics.city_events,
            json.dumps(
                {
                    "type": "AnnouncementPublished/1",
                    "id": "evt_bad",
                    "version": 1,
                    "city": "paris",
                    "department": "voirie",
                    "published_at": "2026-01-01T00:00:00Z",
                    "category": "roadworks",
                    "target": {"areas": ["75105"]},
                    "content": {"fr": {"title": "", "body": "x"}},
                }
            ).encode(),
        )
    finally:
        await producer.stop()
    key = await create_department_key(redis, "paris", "voirie")
    r = await api.post(
        "/v1/cities/paris/announcements",
        json=ANNOUNCEMENT,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status == 202
    await eventually(
        lambda: [m for m in sink.to("erin@example.org") if "rue Monge" in m["Subject"]],
        what="the valid announcement after the malformed ones",
    )

    consumer = AIOKafkaConsumer(
        topics.dead_letters,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000, max_records=10)
        letters = [json.loads(m.value) for ms in batch.values() for m in ms]
    finally:
        await consumer.stop()
    reasons = sorted(d["reason"] for d in letters)
    assert len(letters) == 2
    assert reasons[0].startswith("invalid content.fr.title: required")
    assert reasons[1].startswith("invalid record: not JSON")
    assert {d["topic"] for d in letters} == {topics.city_events}
    assert "{not json" in [d["raw"] for d in letters]
