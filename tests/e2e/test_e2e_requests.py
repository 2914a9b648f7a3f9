"""A service request end to end: HTTP -> Kafka -> the real worker process -> SMTP server."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from notifier.api.auth import create_department_key
from notifier.settings import Settings
from streams.request_records import StatusChange
from streams.state import dead_letters
from streams.topics import TopicNames
from tests.stage import SmtpSink, eventually

RID = "PAR-2024-000123"
HREF = f"/v1/cities/paris/requests/{RID}"


@pytest.fixture
def client(api: TestClient[Any, Any]) -> TestClient[Any, Any]:
    """The API of tests/conftest.py (real Redis, real Kafka producer)."""
    return api


async def test_the_requester_follows_the_request_filed_and_hears_of_each_change_once(
    client: TestClient[Any, Any],
    worker: Any,
    smtp: tuple[SmtpSink, str],
    redis: Redis,
    settings: Settings,
) -> None:
    sink, _ = smtp
    key = await create_department_key(redis, "paris", "voirie")
    auth = {"Authorization": f"Bearer {key}"}
    r = await client.post(
        "/v1/cities/paris/requests",
        headers=auth,
        json={
            "service_request_id": RID,
            "service_code": "voirie-nid-de-poule",
            "service_name": "Nid-de-poule",
            "requested_datetime": "2024-11-02T09:15:00+01:00",
            "updated_datetime": "2024-11-02T09:15:00+01:00",
            "address": "12 rue Monge, 75005 Paris",
            "lat": 48.8462,
            "long": 2.347,
            "email": "usager@example.org",
            "language": "fr",
        },
    )
    assert r.status == 201, await r.text()
    assert (await r.json())["requester"]["contacts"] == [{"channel": "email", "status": "pending"}]

    # double opt-in: the address is new
    [mail] = await eventually(lambda: sink.to("usager@example.org"), what="the confirmation")
    link = re.search(r"/v1/confirm/(\S+)", mail.get_body(("plain",)).get_content()).group(1)
    r = await client.post(f"/v1/confirm/{link}")
    assert (await r.json())["contact"]["status"] == "confirmed"

    topics = TopicNames.with_prefix(settings.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.request_status, b"{not json", key=RID.encode())
        change = {
            "status": "in_progress",
            "status_notes": "Équipe sur place.",
            "updated_datetime": "2024-11-03T08:00:00+01:00",
        }
        r = await client.post(f"{HREF}/status", headers=auth, json=change)
        assert r.status == 202, await r.text()

        def told(status: str) -> list[Any]:
            return [m for m in sink.to("usager@example.org") if status in m["Subject"]]

        [mail] = await eventually(lambda: told("en cours"), what="the status change")
        assert mail["Subject"].strip() == (
            f"Votre demande n° {RID} (Nid-de-poule) : en cours de traitement"
        )
        text = mail.get_body(("plain",)).get_content()
        assert "Note du service : Équipe sur place." in text
        assert "Mise à jour du 03/11/2024 à 08:00." in text
        assert f"{settings.base_url}/v1/unsubscribe/" in text

        # the same change again, straight onto the topic (a replay), then the next one
        replay = StatusChange.from_open311(
            change, city="paris", department="voirie", request_id=RID
        ).to_wire()
        await producer.send_and_wait(topics.request_status, replay, key=RID.encode())
        r = await client.post(f"{HREF}/status", headers=auth, json=change)
        assert r.status == 200  # the API knows it is applied: nothing to publish
        closed = {"status": "closed", "updated_datetime": "2024-11-04T16:30:00+01:00"}
        r = await client.post(f"{HREF}/status", headers=auth, json=closed)
        assert r.status == 202
        await eventually(lambda: told("clôturée"), what="the closing")
    finally:
        await producer.stop()
    assert len(told("en cours")) == 1  # the replay was ignored (same partition, before)

    async def delivered() -> dict[str, Any] | None:
        body = await (await client.get(HREF, headers=auth)).json()
        return body if body["deliveries"] == {"email": {"sent": 2}} else None

    report = await eventually(delivered, what="the figures of both changes")
    assert [(h["status"], h["deliveries"]) for h in report["history"]] == [
        ("open", {}),
        ("in_progress", {"email": {"sent": 1}}),
        ("closed", {"email": {"sent": 1}}),
    ]
    [(_, letter)] = await dead_letters.listing(redis)
    assert letter["topic"] == topics.request_status and letter["raw"] == "{not json"
    assert letter["reason"].startswith("invalid record: not JSON")
