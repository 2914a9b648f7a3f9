"""Records already on the topics, in the scheduler or in dead letters, as the code before wrote
them, still decode and are delivered: the rules apply where text enters, not where a record is
read, and a record is decoded from its own fields (no catalogue, no geometry: issue #19). Each
record here is written out by hand, field by field, as that code wrote it (a title with a line
break, a tab, NUL and other controls, which its API took), and fed to the worker's handlers;
real Redis and the real providers (``tests/properties/stage``).

Kinds: announcements (published, updated, cancelled; areas and drawn shapes) on ``city-events``,
a ``FallbackDue/1`` there too, a ``FanoutShard/1`` on ``fanout``, delivery batches on the
delivery topics, a status change on ``request-status``; in the scheduler, delivery batches, a
scheduled announcement and a ``DigestDue/1``; a dead letter replayed to its topic."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from streams.handlers import expand_shard, release_scheduled
from streams.records import iso
from streams.state import dead_letters
from streams.state.ledger import notification_id
from subscriptions.live_index import CHANNEL_BIT
from tests.properties.messages import one_on_each_channel
from tests.properties.stage import CHANNELS, Stage

TITLE = "Crue de la Seine\r\nniveau\trouge\x00"  # as the API took it before (stripped only)
BODY = "Évacuez les quais.\x07\r\nNe descendez pas\x1b sur les berges."


def wire(record: dict[str, Any]) -> bytes:
    """As ``streams.records.dumps`` wrote records: compact JSON, UTF-8, not ASCII-escaped."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def announcement_record(
    eid: str, version: int = 1, target: dict[str, Any] | None = None, at: float | None = None
) -> bytes:
    now = time.time() if at is None else at
    return wire(
        {
            "type": "AnnouncementPublished/1" if version == 1 else "AnnouncementUpdated/1",
            "id": eid,
            "version": version,
            "city": "paris",
            "department": "voirie",
            "category": "roadworks",
            "severity": "minor",
            "target": {"areas": ["75105"]} if target is None else target,
            "content": {"fr": {"title": TITLE, "body": BODY, "link": "", "instructions": ""}},
            "published_at": iso(now),
            "expires_at": iso(now + 3600),
        }
    )


async def store_event(
    stage: Stage, eid: str, raw: bytes, status: str = "published", version: int = 1
) -> None:
    """The event in the event store as the API left it (the outbox)."""
    await stage.redis.hset(
        f"n:{{paris}}:event:{eid}",
        mapping={
            "id": eid,
            "department": "voirie",
            "status": status,
            "version": str(version),
            "record": raw.decode(),
            "outbox": raw.decode(),
            "accepted_at": str(time.time()),
        },
    )


def clear(stage: Stage) -> None:
    """Forget what the providers took so far."""
    stage.sink.messages.clear()
    stage.twilio.messages.clear()
    stage.push.received.clear()


def test_an_announcement_on_city_events_decodes_and_is_delivered(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        raw = announcement_record("evt_replayed")
        # in the event store as the API left it (the outbox), and on city-events
        await store_event(stage, "evt_replayed", raw)
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
    published = {"status": "published", "version": "1"}
    await stage.redis.hset(f"n:{{paris}}:event:{eid}", mapping=published)
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


# a square around the Panthéon and a circle on the Jardin des Plantes: both in the 5th
SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[2.344, 48.844], [2.349, 48.844], [2.349, 48.848], [2.344, 48.848], [2.344, 48.844]]
    ],
}
DRAWN = {
    "areas": [],
    "polygons": [SQUARE],
    "circles": [{"lon": 2.359, "lat": 48.843, "radius_m": 200.0}],
}


def test_an_announcement_to_drawn_shapes_is_matched_and_its_areas_named(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        raw = announcement_record("evt_drawn", target=DRAWN)
        await store_event(stage, "evt_drawn", raw)
        await stage.publish(stage.deps.topics.city_events, b"evt_drawn", raw)
        await stage.work()
        m = one_on_each_channel(stage.received())
        assert "informations de : Panthéon." in m.text  # the 5th, crossed: named where rendered
        assert stage.dead_letters == []

    stage.run(replay())


def test_an_update_then_a_cancellation_on_city_events_are_delivered(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        first = announcement_record("evt_life")
        await store_event(stage, "evt_life", first)
        await stage.publish(stage.deps.topics.city_events, b"evt_life", first)
        await stage.work()
        one_on_each_channel(stage.received())
        clear(stage)
        second = announcement_record("evt_life", version=2, target=DRAWN)
        await store_event(stage, "evt_life", second, version=2)
        await stage.publish(stage.deps.topics.city_events, b"evt_life", second)
        await stage.work()
        # the update, to those told: written before ``retell`` and ``changed``, it is read as
        # ``retell: all`` with everything changed (what was done then), so it names no change
        m = one_on_each_channel(stage.received())
        assert m.subject.startswith("Mise à jour") and "Ce qui change" not in m.text
        clear(stage)
        cancelled = {
            "type": "AnnouncementCancelled/1",
            "id": "evt_life",
            "city": "paris",
            "department": "voirie",
            "version": 2,
            "notify": True,
            "reason": "Reporté\x00 à demain,\r\n" + "vraiment. " * 60,  # longer than today's 500
            "cancelled_at": iso(time.time()),
        }
        await store_event(stage, "evt_life", second, status="cancelled", version=2)
        await stage.publish(stage.deps.topics.city_events, b"evt_life", wire(cancelled))
        await stage.work()
        m = one_on_each_channel(stage.received())  # the notice that it is cancelled
        assert "Crue de la Seine" in m.sms
        assert "Reporté" in m.text  # a string reason: the announcement's language, French
        assert stage.dead_letters == []

    stage.run(replay())


def test_a_fanout_shard_decodes_and_its_citizens_are_told(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        raw = announcement_record("evt_shard")
        await store_event(stage, "evt_shard", raw)
        shard = {
            "type": "FanoutShard/1",
            "city": "paris",
            "event": "evt_shard",
            "version": 1,
            "shard": 1,
            "shards": 2,
            "citizens": [stage.citizen],
            "channels": [sum(CHANNEL_BIT[c] for c in CHANNELS)],
            "digests": {},
        }
        assert await expand_shard(wire(shard), stage.deps) == 3
        await stage.work()
        one_on_each_channel(stage.received())
        assert stage.dead_letters == []

    stage.run(replay())


def test_a_scheduled_announcement_and_a_digest_are_released_when_due(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        raw = announcement_record("evt_at_nine")
        await store_event(stage, "evt_at_nine", raw, status="scheduled")
        city_events = stage.deps.topics.city_events
        await stage.deps.scheduler.later("paris", time.time() - 1, city_events, b"evt_at_nine", raw)
        assert await release_scheduled(stage.deps) == 1
        await stage.work()
        one_on_each_channel(stage.received())
        clear(stage)
        slot = float(int(time.time()) - 1)
        due = {
            "type": "DigestDue/1",
            "city": "paris",
            "citizen": stage.citizen,
            "channel": "email",
            "slot": slot,
            "period": "daily",
        }
        await stage.redis.hset(
            f"n:{{paris}}:digest:{stage.citizen}:email:{int(slot)}", "evt_at_nine", "1"
        )
        await stage.deps.scheduler.later(
            "paris", slot, city_events, stage.citizen.encode(), wire(due)
        )
        assert await release_scheduled(stage.deps) == 1
        await stage.work()
        [digest] = stage.received().email
        plain = digest.get_body(("plain",))
        assert plain is not None and "Crue de la Seine" in plain.get_content()
        assert stage.dead_letters == []

    stage.run(replay())


def test_a_fallback_due_sends_the_alert_on_the_citizens_next_channel(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        await stage.deps.store.set_preferences("paris", stage.citizen, fallback=("sms",))
        raw = announcement_record("evt_fallback")
        await store_event(stage, "evt_fallback", raw)
        due = {
            "type": "FallbackDue/1",
            "city": "paris",
            "event": "evt_fallback",
            "version": 1,
            "citizen": stage.citizen,
            "channel": "push",
            "reason": "push service: 410 Gone",
        }
        await stage.publish(stage.deps.topics.city_events, b"evt_fallback", wire(due))
        await stage.work()
        [sms] = stage.received().sms
        assert "Crue de la Seine" in sms.body
        assert stage.dead_letters == []

    stage.run(replay())


def test_a_dead_letter_replayed_to_its_topic_decodes_and_is_delivered(stage: Stage) -> None:
    async def replay() -> None:
        await stage.reset()
        raw = announcement_record("evt_letter")
        await store_event(stage, "evt_letter", raw)
        letter = {
            "type": "DeadLettered/1",
            "topic": stage.deps.topics.city_events,
            "partition": 0,
            "offset": 7,
            "reason": "error RuntimeError: a bug, since fixed",
            "at": iso(time.time()),
            "raw": raw.decode(),
            "raw_base64": None,
        }
        letter_id = await stage.redis.xadd(dead_letters.STREAM, {"record": wire(letter).decode()})
        # what `notifier dead-letters replay ID` does (``notifier.admin.replay_dead_letter``)
        kept = await dead_letters.get(stage.redis, letter_id)
        assert kept is not None and kept["raw"] is not None
        await stage.publish(kept["topic"], b"", kept["raw"].encode())
        await stage.work()
        m = one_on_each_channel(stage.received())
        assert m.push["title"] == TITLE.strip()
        assert stage.dead_letters == []

    stage.run(replay())
