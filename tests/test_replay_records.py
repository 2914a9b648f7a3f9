"""Records already on the topics or in the scheduler, as the code before the text rules of
issue #18 wrote them, still decode and are delivered: the rules apply where text enters, not
where a record is read. Each record here is written out by hand, field by field, as that code
wrote it (a title with a line break, a tab, NUL and other controls, which its API took), and
fed to the worker's handlers; real Redis and the real providers (``tests/properties/stage``)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from streams.handlers import release_scheduled
from streams.ledger import notification_id
from streams.records import iso
from tests.properties.messages import one_on_each_channel
from tests.properties.stage import CHANNELS, Stage, stage

__all__ = ["stage"]  # the fixture

TITLE = "Crue de la Seine\r\nniveau\trouge\x00"  # as the API took it before (stripped only)
BODY = "Évacuez les quais.\x07\r\nNe descendez pas\x1b sur les berges."


def wire(record: dict[str, Any]) -> bytes:
    """As ``streams.records.dumps`` wrote records: compact JSON, UTF-8, not ASCII-escaped."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def announcement_record(eid: str) -> bytes:
    now = time.time()
    return wire(
        {
            "type": "AnnouncementPublished/1",
            "id": eid,
            "version": 1,
            "city": "paris",
            "department": "voirie",
            "category": "roadworks",
            "severity": "minor",
            "target": {"areas": ["75105"]},
            "content": {"fr": {"title": TITLE, "body": BODY, "link": "", "instructions": ""}},
            "published_at": iso(now),
            "expires_at": iso(now + 3600),
        }
    )


def test_an_announcement_on_city_events_decodes_and_is_delivered(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        raw = announcement_record("evt_replayed")
        # in the event store as the API left it (the outbox), and on city-events
        await stage.redis.hset(
            "n:paris:event:evt_replayed",
            mapping={
                "id": "evt_replayed",
                "department": "voirie",
                "status": "published",
                "version": "1",
                "record": raw.decode(),
                "outbox": raw.decode(),
                "accepted_at": str(time.time()),
            },
        )
        await stage.publish(stage.deps.topics.city_events, b"evt_replayed", raw)
        await stage.work()
        m = one_on_each_channel(stage.received())
        assert m.subject == "Crue de la Seine niveau rouge"  # a Subject is one line
        assert m.push["title"] == TITLE.strip()  # as written: no rule is applied on decode
        assert "Crue de la Seine" in m.sms and "Évacuez les quais." in m.text
        assert stage.dead_letters == []

    stage.run(replay())


def batch_record(channel: str, eid: str, nid: str, contact: str, to: str) -> bytes:
    variants = {
        "email": {
            "subject": TITLE,
            "text": f"{TITLE}\n\n{BODY}\n\nSe désabonner : @@UNSUBSCRIBE_URL@@\n",
            "html": f'<p>{BODY}</p><a href="@@UNSUBSCRIBE_URL@@">Se désabonner</a>',
        },
        "sms": {"text": f"Paris : {TITLE}. {BODY} Répondez STOP pour ne plus recevoir"},
        "push": {"title": TITLE, "body": BODY, "url": "https://alerts.example"},
    }[channel]
    unsubscribe = "https://alerts.example/v1/unsubscribe/t0k3n" if channel == "email" else ""
    return wire(
        {
            "type": "DeliveryBatchQueued/1",
            "channel": channel,
            "severity": "minor",
            "origin_at": time.time(),
            "city": "paris",
            "event": eid,
            "kind": "announcement",
            "variants": {"fr": variants},
            "recipients": [
                {
                    "id": nid,
                    "citizen": "",  # filled below
                    "contact": contact,
                    "to": to,
                    "language": "fr",
                    "unsubscribe_url": unsubscribe,
                }
            ],
            "expires_at": None,
            "version": 1,
        }
    )


async def _queued_batches(stage: Stage, eid: str) -> list[tuple[str, bytes]]:
    """One batch per channel, its notification queued in the ledger (as expand left it)."""
    await stage.redis.hset(f"n:paris:event:{eid}", mapping={"status": "published", "version": "1"})
    out = []
    for channel in CHANNELS:
        cp = stage.contacts[channel]
        nid = notification_id("paris", eid, stage.citizen, channel)
        await stage.deps.ledger.enqueue("paris", eid, channel, [(nid, stage.citizen, cp.id)])
        raw = batch_record(channel, eid, nid, cp.id, cp.address)
        raw = raw.replace(b'"citizen":""', f'"citizen":"{stage.citizen}"'.encode())
        out.append((stage.deps.topics.deliveries(channel), raw))
    return out


def test_delivery_batches_on_the_topics_decode_and_are_delivered(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        for topic, raw in await _queued_batches(stage, "evt_batches"):
            await stage.publish(topic, b"evt_batches", raw)
        await stage.work()
        m = one_on_each_channel(stage.received())
        assert m.subject == "Crue de la Seine niveau rouge"
        assert "https://alerts.example/v1/unsubscribe/t0k3n" in m.text  # the usual mark filled
        assert m.sms.startswith("Paris : Crue de la Seine") and m.push["title"] == TITLE
        assert stage.dead_letters == []

    stage.run(replay())


def test_delivery_batches_held_in_the_scheduler_are_delivered_when_due(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        for topic, raw in await _queued_batches(stage, "evt_later"):
            await stage.deps.scheduler.later("paris", time.time() - 1, topic, b"evt_later", raw)
        assert await release_scheduled(stage.deps) == 3
        await stage.work()
        one_on_each_channel(stage.received())
        assert stage.dead_letters == []

    stage.run(replay())


def test_a_status_change_on_request_status_decodes_and_is_delivered(stage: Stage) -> None:
    async def replay() -> None:
        key = await stage.reset()
        await stage.follow("req-9")
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        filed = {"service_request_id": "req-9", "service_code": "voirie-01", "status": "open"}
        filed["updated_datetime"] = "2026-01-05T08:00:00+01:00"
        r = await stage.api.post("/v1/cities/paris/requests", json=filed, headers=headers)
        assert r.status == 201, await r.text()
        record = {
            "type": "RequestStatusChanged/1",
            "city": "paris",
            "department": "voirie",
            "service_request_id": "req-9",
            "status": "scheduled",
            "status_notes": "Intervention\x00 prévue\r\nle 3 mars.",
            "updated_datetime": datetime.now(UTC).isoformat(),
            "service_name": "Nids\nde poule",
        }
        await stage.publish(stage.deps.topics.request_status, b"req-9", wire(record))
        await stage.work()
        m = one_on_each_channel(stage.received())
        assert "(Nids de poule)" in m.subject
        assert "Intervention prévue\nle 3 mars." in m.text
        assert m.push["body"] == "Intervention prévue le 3 mars."
        assert stage.dead_letters == []

    stage.run(replay())
