"""Failure drills with real processes: the broker goes away and comes back.

The broker here is Tansu with memory storage, which forgets every topic and offset when it
stops; what must bring the accepted announcement through is our outbox (Redis) and its sweep.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.dev import embedded
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Settings
from notifier.wiring import build_deps
from subscriptions.areas import load_catalogue
from subscriptions.store import SubscriptionStore, new_id
from subscriptions.subscription import parse_subscription
from tests.stage import SmtpSink, eventually


def announcement(title: str) -> dict[str, object]:
    return {
        "category": "roadworks",
        "target": {"areas": ["75105"]},
        "content": {"fr": {"title": title, "body": "Rue fermée."}},
    }


@pytest.mark.timeout(300)
async def test_a_broker_outage_loses_no_accepted_announcement(
    settings: Settings, redis: Redis, smtp: tuple[SmtpSink, str], logs: Path
) -> None:
    sink, _ = smtp
    port = embedded.free_port()  # a broker of this test's own, to stop and start again
    broker = embedded.start_tansu(port, logs / "tansu-drill.log")
    s = settings.replace(kafka_url=f"kafka://127.0.0.1:{port}")
    worker = embedded.spawn(
        embedded.python_module("notifier", "worker"),
        logs / f"worker-{s.app_id}.log",
        env=embedded.child_env(s.to_env()),
    )
    publisher = KafkaPublisher(s.kafka_bootstrap, timeout=3.0)
    await publisher.start()
    api = TestClient(TestServer(create_api(s, build_deps(s, redis, publisher.publish, {}))))
    await api.start_server()
    try:
        store = SubscriptionStore(redis)
        c = await store.create_citizen("paris", "fr")
        await store.add_contact("paris", c.id, "email", "a@example.org", "confirmed", "test")
        sub, index = parse_subscription(
            {"area": "75105"}, sid=new_id("sub"), citizen=c.id, catalogue=load_catalogue("paris")
        )
        await store.add_subscription("paris", sub, index)
        h = {"Authorization": f"Bearer {await create_department_key(redis, 'paris', 'voirie')}"}

        r = await api.post("/v1/cities/paris/announcements", json=announcement("Avant"), headers=h)
        assert (await r.json())["status"] == "published"
        await eventually(
            lambda: [m for m in sink.messages if m["Subject"] == "Avant"],
            within=90,
            what="the first announcement, broker up",
        )

        embedded.stop(broker)  # the broker goes away (and, being memory only, forgets all)
        r = await api.post(
            "/v1/cities/paris/announcements", json=announcement("Pendant"), headers=h
        )
        answer = await r.json()
        assert (r.status, answer["status"]) == (202, "accepted")  # kept in the outbox

        # back, empty. The embedded broker keeps nothing, so it only ever comes back with a
        # restart of `notifier up`, which restarts the worker too: the drill does the same.
        broker = embedded.start_tansu(port, logs / "tansu-drill.log")
        embedded.stop(worker)
        worker = embedded.spawn(
            embedded.python_module("notifier", "worker"),
            logs / f"worker-{s.app_id}-2.log",
            env=embedded.child_env(s.to_env()),
        )
        await eventually(
            lambda: [m for m in sink.messages if m["Subject"] == "Pendant"],
            within=200,
            what="the announcement accepted during the outage",
        )
        assert [m["Subject"] for m in sink.messages].count("Pendant") == 1
    finally:
        await api.close()
        await publisher.stop()
        embedded.stop(worker)
        embedded.stop(broker)
