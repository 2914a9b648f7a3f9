"""The handlers without a broker: real Redis, real SMTP server, publish collected in a list."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streams import handlers
from streams.announcements import Cancellation, Content
from streams.delivery import send as send_module
from streams.delivery.expand import expand_announcement
from streams.delivery.fallback import FallbackDue, release_fallback
from streams.delivery.lanes import SMALL
from streams.delivery.send import CHUNK_PER_SENDER, send_batch, unrecorded_at_most
from streams.deps import Deps
from streams.handlers import (
    handle_city_event,
    release_digest_due,
    release_scheduled,
    sweep_outbox,
)
from streams.records import DeliveryBatch
from streams.state import dead_letters
from streams.state.ledger import LEASE_SECONDS
from streams.state.ratelimit import RateLimiter
from streams.state.scheduler import Backoff
from streams.watch import backlogs
from subscriptions.cadence import parse_cadence
from subscriptions.errors import InvalidInput
from subscriptions.preferences import parse_quiet_hours
from tests.handler_stage import (
    Published,
    accepted,
    announcement,
    batches,
    citizen,
    subscribe,
)
from tests.stage import SmtpSink, eventually


async def test_expansion_dedupes_filters_and_batches(deps: tuple[Deps, Published]) -> None:
    d, published = deps
    s = d.store
    both = await citizen(s, "both@example.org", "75105", "en")
    await subscribe(d.store, both, area="7510501")
    quartier = await citizen(s, "q@example.org", "7510501")
    await citizen(s, "pending@example.org", "75105", confirmed=False)
    await citizen(s, "water-only@example.org", "75105", categories=["water"])
    await citizen(s, "severe-only@example.org", "75105", min_severity="severe")
    await citizen(s, "elsewhere@example.org", "75112")
    await expand_announcement(await accepted(d, ["7510501"]), d)
    # a batch for each place its readers subscribed to (their messages name it)
    both_batch, batch = sorted(batches(published), key=lambda b: b.recipients[0].to)
    assert sorted((r.to, r.language) for b in (both_batch, batch) for r in b.recipients) == [
        ("both@example.org", "en"),
        ("q@example.org", "fr"),
    ]
    assert (
        both_batch.variants["en"]["subject"] == "Works"
        and batch.variants["fr"]["subject"] == "Travaux"
    )
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"queued": 2}}
    stored = await d.events.redis.hgetall("n:{paris}:event:evt_1")
    assert (stored["status"], stored["matched"], stored["queued"]) == (
        "processed",
        "3",
        "2",
    )  # pending has no confirmed address
    assert quartier in {r.citizen for r in batch.recipients}


async def test_a_severe_alert_reaches_the_severe_only_subscriber(
    deps: tuple[Deps, Published],
) -> None:
    d, published = deps
    await citizen(d.store, "severe-only@example.org", "75105", min_severity="severe")
    await expand_announcement(await accepted(d, ["75105"], severity="extreme"), d)
    assert [r.to for r in batches(published)[0].recipients] == ["severe-only@example.org"]


async def test_expanding_twice_queues_once(deps: tuple[Deps, Published]) -> None:
    d, published = deps
    await citizen(d.store, "a@example.org", "75105")
    a = await accepted(d, ["75105"])
    await expand_announcement(a, d)
    await send_batch(published[0][2], d)
    await expand_announcement(a, d)  # a redelivered record
    assert len(batches(published)) == 1  # nothing left to send the second time
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"sent": 1}}


async def test_send_hands_each_message_over_once(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    raw = published[0][2]
    assert await send_batch(raw, d) == {"sent": 1}
    assert await send_batch(raw, d) == {"already claimed": 1}
    [msg] = sink.messages
    assert msg["To"] == "a@example.org" and msg["Subject"] == "Travaux"
    unsubscribe = msg["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("https://alerts.example/v1/unsubscribe/")
    assert unsubscribe in msg.get_body(("plain",)).get_content()
    assert unsubscribe in msg.get_body(("html",)).get_content()
    [nid] = [r.id for r in DeliveryBatch.from_wire(raw).recipients]
    record = await d.ledger.get("paris", nid)
    assert record["status"] == "sent" and record["provider_id"] == msg["Message-ID"]


async def test_nothing_goes_to_an_address_unsubscribed_after_expansion(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    batch = DeliveryBatch.from_wire(published[0][2])
    await d.store.set_contact_status("paris", batch.recipients[0].contact, "unsubscribed", "test")
    assert await send_batch(published[0][2], d) == {"skipped": 1}
    assert smtp[0].messages == []
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"skipped": 1}}


async def test_an_expired_event_is_not_sent(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    batch = DeliveryBatch.from_wire(published[0][2])
    expired = DeliveryBatch(
        batch.city, batch.event, batch.kind, batch.variants, batch.recipients, expires_at=1.0
    )
    assert await send_batch(expired.to_wire(), d) == {"expired": 1}
    assert smtp[0].messages == []


async def test_items_scheduled_together_are_each_released_once_when_due(
    deps: tuple[Deps, Published],
) -> None:
    d, published = deps
    now, topic = time.time(), d.topics.city_events
    records = [(now + 60 * (i % 2), topic, f"k{i}".encode(), f"v{i}".encode()) for i in range(2100)]
    ids = await d.scheduler.later_many("paris", records)  # more than one transaction's worth
    assert len(set(ids)) == 2100 and await d.scheduler.pending("paris") == 2100
    published.clear()
    while await release_scheduled(d, now=now + 30):  # the first 1,050 are due
        pass
    assert sorted(v for t, _, v in published) == sorted(f"v{i}".encode() for i in range(0, 2100, 2))
    assert await d.scheduler.pending("paris") == 1050


@pytest.mark.parametrize(
    ("lane", "topic"), [("small", "deliveries.email"), ("bulk", "deliveries.email.bulk")]
)
async def test_a_transient_refusal_is_retried_and_delivered_once(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str], lane: str, topic: str
) -> None:
    """In its batch's lane: a city-wide alert's retries do not come back as small batches,
    which would hold every large lane back while they go."""
    d, published = deps
    sink, _ = smtp
    sink.replies = ["421 4.3.2 try again later"]
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    refused_at = time.time()  # the retry is due after its backoff, counted from the refusal
    assert await send_batch(published[0][2], d, lane=lane) == {"retrying": 1}
    [nid] = [r.id for r in DeliveryBatch.from_wire(published[0][2]).recipients]
    record = await d.ledger.get("paris", nid)
    assert (record["status"], record["error"]) == ("queued", "SMTP 421: 4.3.2 try again later")
    assert await d.scheduler.pending("paris") == 1
    assert await release_scheduled(d, now=refused_at) == 0  # not due yet
    assert await release_scheduled(d, now=time.time() + 3600) == 1
    assert await release_scheduled(d, now=time.time() + 3600) == 0  # released once
    retry_topic, _, retry = published[-1]
    assert retry_topic == topic
    assert [r.id for r in DeliveryBatch.from_wire(retry).recipients] == [nid]
    assert await send_batch(retry, d, lane=lane) == {"sent": 1}
    assert await send_batch(retry, d, lane=lane) == {"already claimed": 1}
    assert len(sink.messages) == 1
    assert (await d.ledger.get("paris", nid))["attempts"] == "2"
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"sent": 1}}


async def test_transient_refusals_are_retried_until_the_backoff_gives_up(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    sink.replies = ["451 4.3.0 local error"] * 20
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    [nid] = [r.id for r in DeliveryBatch.from_wire(published[0][2]).recipients]
    outcomes = [await send_batch(published[0][2], d)]
    since = (await d.ledger.get("paris", nid))["failing_since"]
    while len(outcomes) < 8 and await release_scheduled(d, now=time.time() + 3600):
        outcomes.append(await send_batch(published[-1][2], d))
    assert outcomes == [{"retrying": 1}] * 8  # tries are not counted: an outage is ridden out
    assert (await d.ledger.get("paris", nid))["failing_since"] == since  # the first refusal
    # the backoff's time is up (hours, by default): the message has been failing longer than that
    ago = float(since) - d.scheduler.retry.give_up_after - 1
    await d.store.redis.hset(f"n:{{paris}}:notif:{nid}", "failing_since", ago)
    assert await release_scheduled(d, now=time.time() + 3600) == 1
    assert await send_batch(published[-1][2], d) == {"failed": 1}
    letter = json.loads(published[-1][2])
    assert letter["reason"] == "delivery failed: SMTP 451: 4.3.0 local error (after 9 attempts)"
    assert sink.messages == []
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"failed": 1}}
    assert await release_scheduled(d, now=time.time() + 3600) == 0  # nothing more planned


async def test_no_retry_is_planned_past_the_expiry(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    smtp[0].replies = ["421 busy"]
    await citizen(d.store, "a@example.org", "75105")
    d.scheduler.retry = Backoff(first=600.0)  # the next try would come minutes later…
    a = dataclasses.replace(announcement(["75105"]), expires_at=time.time() + 100)  # …too late
    await d.events.accept(a)
    await expand_announcement(a, d)
    assert await send_batch(published[0][2], d) == {"failed": 1}


async def test_the_rate_limit_holds_a_burst_to_the_configured_rate(redis: Redis) -> None:
    limiter = RateLimiter(redis, {"sms": 20})
    start = time.monotonic()
    await asyncio.gather(*(limiter.wait("paris", "sms") for _ in range(60)))
    # 20 tokens to start with (one second of burst), then 40 more at 20/s: never sooner than 2 s
    # (a loaded machine may take longer, and then waits less: only the floor is the rate's)
    assert time.monotonic() - start >= 40 / 20 - 0.1
    assert limiter.waited > 0
    other = RateLimiter(redis, {"sms": 20})
    await other.wait("lyon", "sms")  # another city has its own bucket
    assert other.waited == 0
    await RateLimiter(redis, {}).wait("paris", "email")  # no limit set: no wait, no Redis


async def test_a_permanent_refusal_fails_and_is_dead_lettered(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    sink.replies = ["550 5.1.1 mailbox unavailable"]
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    assert await send_batch(published[0][2], d) == {"failed": 1}
    assert sink.messages == []
    [(topic, _, raw)] = [p for p in published if p[0] == "dead-letters"]
    letter = json.loads(raw)
    assert letter["reason"].startswith("delivery failed: SMTP 550")
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"failed": 1}}


async def test_guarded_dead_letters_what_a_handler_cannot_take(
    deps: tuple[Deps, Published],
) -> None:
    d, published = deps
    await handlers.guarded(
        "city-events",
        b'{"type": "AnnouncementPublished/1"}',
        d,
        handlers.handle_city_event,
        partition=0,
        offset=3,
    )
    [(topic, _, raw)] = published
    letter = json.loads(raw)
    assert topic == "dead-letters"
    assert letter["reason"] == "invalid id: required, a non-empty string"
    assert (letter["topic"], letter["offset"]) == ("city-events", 3)


async def test_guarded_holds_a_record_while_the_store_is_away(
    deps: tuple[Deps, Published], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler, or the dead letter of a bad record, that meets Redis away is run again until
    it is back: nothing dropped, one line in the log when it goes and one when it is back."""
    d, published = deps
    monkeypatch.setattr(handlers, "STORE_WAIT_FIRST", 0.0)
    away = ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    tries: list[bytes] = []

    async def flaky(raw: bytes, _: Deps) -> None:
        tries.append(raw)
        if len(tries) <= 3:
            raise away

    with caplog.at_level("INFO", logger="notifier.streams"):
        await handlers.guarded("deliveries.email", b"{}", d, flaky)
    assert len(tries) == 4 and published == []  # held, run again, done: no dead letter
    said = [r.getMessage() for r in caplog.records if r.name == "notifier.streams"]
    assert len(said) == 2, said
    assert said[0].startswith("the store is away (ConnectionError: Error 111")
    assert said[1].startswith("the store is back")

    put, puts = dead_letters.put, 0

    async def put_when_back(*args: Any) -> None:
        nonlocal puts
        puts += 1
        if puts <= 2:
            raise RedisTimeoutError("Timeout reading from 127.0.0.1:6379")
        await put(*args)

    monkeypatch.setattr(dead_letters, "put", put_when_back)
    await handlers.guarded("city-events", b"{", d, handlers.handle_city_event)
    [(topic, _, raw)] = published  # bad in itself: its dead letter, once the store is back
    assert topic == "dead-letters" and json.loads(raw)["reason"].startswith("invalid")
    assert puts == 3 and len(await dead_letters.listing(d.store.redis)) == 1


async def test_the_store_going_away_mid_batch_stops_the_hand_off_and_loses_nothing(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis goes away while a batch is going out: no more messages are handed over, at most a
    chunk's worth and what was in flight (``(CHUNK_PER_SENDER + 1) * send_concurrency``) are
    taken by the provider and not written, the record is held and run again once Redis is back;
    that run takes back what the first had claimed, at once, and sends the rest once."""
    d, published = deps
    sink, _ = smtp
    monkeypatch.setattr(handlers, "STORE_WAIT_FIRST", 0.0)
    d.send_concurrency = 4
    for i in range(40):
        await citizen(d.store, f"c{i}@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    [raw] = [v for t, _, v in published if t == "deliveries.email"]
    advance, written, runs = d.ledger.advance_many, 0, 0
    after_first: dict[str, int] = {}

    async def advance_until_away(*args: Any, **kw: Any) -> list[bool]:
        nonlocal written
        if runs == 1 and written >= 1:  # the first run: Redis goes away after a chunk's write
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        written += 1
        return await advance(*args, **kw)

    async def send(raw: bytes, d: Deps) -> dict[str, int]:
        nonlocal runs
        runs += 1
        if runs == 2:  # the store is back: what the first run left
            after_first.update((await d.ledger.counts("paris", "evt_1"))["email"])
            after_first["taken"] = len(sink.messages)
        return await send_batch(raw, d)

    monkeypatch.setattr(d.ledger, "advance_many", advance_until_away)
    await handlers.guarded("deliveries.email", raw, d, send)
    assert runs == 2
    assert [t for t, _, _ in published].count("dead-letters") == 0
    chunk = CHUNK_PER_SENDER * d.send_concurrency
    # written in chunks of 16: the first was, the second was not
    taken_not_written = after_first["taken"] - after_first["sent"]
    assert after_first["sent"] == chunk
    assert chunk <= taken_not_written <= unrecorded_at_most(d.send_concurrency)
    assert taken_not_written <= after_first["sending"]
    # the second run took back its own claims without waiting for their lease: all are sent,
    # nothing is left for later
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"sent": 40}}
    assert await d.scheduler.pending("paris") == 0
    to = [m["To"] for m in sink.messages]
    assert set(to) == {f"c{i}@example.org" for i in range(40)}
    assert len(to) - 40 == taken_not_written  # the only duplicates: taken, not written


async def test_a_claim_is_taken_back_at_once_by_its_holder_only(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    """The batch's run in this worker may take back its own claims; another worker (another
    ``Deps.instance``) or another batch waits for the lease."""
    d, published = deps
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    [raw] = [v for t, _, v in published if t == "deliveries.email"]
    [r] = DeliveryBatch.from_wire(raw).recipients
    mine = send_module._holder(raw, d)
    assert await d.ledger.claim_many([("paris", "evt_1", r.id)], mine) == [1]  # then cut off
    other = dataclasses.replace(d, instance="other-worker")
    assert await send_batch(raw, other) == {"in flight": 1}  # looked at again after the lease
    assert await d.ledger.claim_many([("paris", "evt_1", r.id)], "another batch") == [0]
    assert await send_batch(raw, d) == {"sent": 1}
    assert (await d.ledger.get("paris", r.id))["attempts"] == "2"


async def test_an_update_supersedes_what_is_unsent_and_reaches_the_same_people(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    await citizen(d.store, "early@example.org", "75105")
    v1 = await accepted(d, ["75105"])
    await expand_announcement(v1, d)
    await send_batch(published[-1][2], d)  # early@ got version 1
    await citizen(d.store, "late@example.org", "75105")
    await expand_announcement(v1, d)  # redelivered: late@ is now matched too, not yet sent
    v1_late = published[-1][2]
    # version 2 moves the target to the 12th: late@ no longer matches; early@ was told before
    v2 = dataclasses.replace(announcement(["75112"]), version=2)
    await d.events.update(v2)
    await expand_announcement(v2, d)
    assert await send_batch(v1_late, d) == {"superseded": 1}
    assert await send_batch(published[-1][2], d) == {"sent": 1}
    assert [(m["To"], m["Subject"]) for m in sink.messages] == [
        ("early@example.org", "Travaux"),
        ("early@example.org", "Mise à jour : Travaux"),
    ]
    assert await expand_announcement(v1, d) == 0  # a stale version is not expanded again
    counts = await d.ledger.counts("paris", "evt_1")
    assert counts == {"email": {"sent": 2, "superseded": 1}}


async def test_a_cancel_stops_what_is_unsent_and_tells_those_told(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    await citizen(d.store, "told@example.org", "75105")
    a = await accepted(d, ["75105"])
    await expand_announcement(a, d)
    await send_batch(published[-1][2], d)
    await citizen(d.store, "untold@example.org", "75105", language="en")
    await expand_announcement(a, d)
    unsent = published[-1][2]
    c = Cancellation("evt_1", "paris", "voirie", 1, True, "Reporté.", 1_800_000_000)
    await d.events.cancel(c)
    assert await send_batch(unsent, d) == {"cancelled": 1}
    await handle_city_event(c.to_wire(), d)
    assert await send_batch(published[-1][2], d) == {"sent": 1}
    assert [(m["To"], m["Subject"]) for m in sink.messages] == [
        ("told@example.org", "Travaux"),
        ("told@example.org", "Annulé : Travaux"),
    ]
    assert "Reporté." in sink.messages[-1].get_body(("plain",)).get_content()
    status, _ = await d.events.state("paris", "evt_1")
    assert status == "cancelled"


async def test_the_sweep_republishes_what_the_worker_has_not_processed(
    deps: tuple[Deps, Published],
) -> None:
    d, published = deps
    a = await accepted(d, ["75105"])  # accepted, but the broker never got it
    assert await sweep_outbox(d, now=time.time()) == 0  # too recent: maybe still in flight
    assert await sweep_outbox(d, now=time.time() + 60) == 1
    [(topic, key_, raw)] = published
    assert (topic, key_, raw) == ("city-events", b"evt_1", a.to_wire())
    assert await sweep_outbox(d, now=time.time() + 60) == 0  # rescheduled, not taken twice
    await handle_city_event(raw, d)
    assert await sweep_outbox(d, now=time.time() + 3600) == 0  # processed: nothing pending


async def test_quiet_hours_defer_sms_and_push_but_a_severe_alert_passes(
    deps: tuple[Deps, Published],
) -> None:
    d, published = deps
    d.enabled = ("email", "sms")
    c = await d.store.create_citizen("paris", "fr")
    await d.store.add_contact("paris", c.id, "sms", "+33612345678", "confirmed", "test")
    await d.store.add_contact("paris", c.id, "email", "a@example.org", "confirmed", "test")
    await subscribe(d.store, c.id, area="75105", channels=["sms", "email"])
    now = datetime.now(ZoneInfo("Europe/Paris"))
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=2)).strftime("%H:%M")  # quiet for two more hours
    await d.store.set_preferences(
        "paris", c.id, quiet_hours=parse_quiet_hours({"start": start, "end": end})
    )
    await expand_announcement(await accepted(d, ["75105"]), d)
    assert {t for t, _, _ in published} == {"deliveries.email"}  # email does not wake anyone
    assert await d.scheduler.pending("paris") == 1
    [(_, topic, _, raw)] = await d.scheduler.due("paris", time.time() + 3 * 3600)
    assert topic == "deliveries.sms"
    assert [r.to for r in DeliveryBatch.from_wire(raw).recipients] == ["+33612345678"]
    severe = dataclasses.replace(announcement(["75105"], severity="severe"), id="evt_2")
    await d.events.accept(severe)
    await expand_announcement(severe, d)
    assert {t for t, _, _ in published} == {"deliveries.email", "deliveries.sms"}


def test_quiet_hours_end_at_the_right_instant_across_dst() -> None:
    quiet = parse_quiet_hours({"start": "22:00", "end": "07:00"})
    assert quiet is not None
    paris = ZoneInfo("Europe/Paris")
    # the night clocks go forward (2026-03-29, 02:00 -> 03:00): 23:30 CET is 22:30 UTC
    before = datetime(2026, 3, 28, 23, 30, tzinfo=paris).timestamp()
    end = datetime.fromtimestamp(quiet.until("Europe/Paris", before), paris)
    assert (end.date().isoformat(), end.hour, end.utcoffset()) == (
        "2026-03-29",
        7,
        timedelta(hours=2),
    )  # 07:00 CEST
    assert (
        quiet.until("Europe/Paris", datetime(2026, 3, 29, 12, 0, tzinfo=paris).timestamp()) is None
    )
    morning = datetime(2026, 10, 25, 6, 30, tzinfo=paris).timestamp()  # clocks went back at 03:00
    assert datetime.fromtimestamp(quiet.until("Europe/Paris", morning), paris).hour == 7


async def test_a_daily_digest_goes_out_once_without_what_was_cancelled(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    await citizen(
        d.store, "digest@example.org", "75105", cadence={"period": "daily", "at": "18:00"}
    )
    await citizen(d.store, "now@example.org", "75105")
    first = await accepted(d, ["75105"])
    await expand_announcement(first, d)
    second = dataclasses.replace(
        announcement(["7510501"]),
        id="evt_2",
        content={"fr": Content("Coupure d'eau", "De 8 h à 12 h.")},
    )
    await d.events.accept(second)
    await expand_announcement(second, d)
    # only the immediate subscriber's batches went out; one digest release is scheduled
    assert [r.to for b in batches(published) for r in b.recipients] == ["now@example.org"] * 2
    assert await d.scheduler.pending("paris") == 1
    assert (await d.ledger.counts("paris", "evt_1"))["email"]["digested"] == 1
    await d.events.cancel(Cancellation("evt_1", "paris", "voirie", 1, False, "", time.time()))
    assert await release_scheduled(d, now=time.time() + 8 * 24 * 3600) == 1
    topic, _, due = published[-1]
    # on a topic of their own: a city's digests all come due at one hour, never ahead of events
    assert topic == d.topics.digests != d.topics.city_events
    assert json.loads(due)["type"] == "DigestDue/1"
    with d.lanes.going(SMALL):  # an event's batch goes out: the digest waits its turn
        release = asyncio.create_task(release_digest_due(due, d))
        await asyncio.sleep(0)
        assert d.lanes.waiting == 1 and not release.done()
    assert await release == 1
    assert await release_digest_due(due, d) == 0  # released twice: sent once
    # digests last: their own lane, behind every event's
    [digest] = [b for b in batches(published, "deliveries.email.digest") if b.kind == "digest"]
    assert await send_batch(digest.to_wire(), d, lane="digest") == {"sent": 1}
    [mail] = [m for m in sink.messages if m["To"] == "digest@example.org"]
    assert mail["Subject"] == "Paris : 1 information du jour"
    text = mail.get_body(("plain",)).get_content()
    assert "Coupure d'eau" in text and "Travaux" not in text  # the cancelled one is left out
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_digest_times_are_local_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    daily = parse_cadence({"period": "daily", "at": "18:00"})
    before = datetime(2026, 3, 28, 19, 0, tzinfo=paris).timestamp()  # after Saturday's 18:00
    nxt = datetime.fromtimestamp(daily.next_due("Europe/Paris", before), paris)
    assert (nxt.isoformat()) == "2026-03-29T18:00:00+02:00"  # Sunday, now summer time
    weekly = parse_cadence({"period": "weekly", "day": "monday", "at": "08:00"})
    nxt = datetime.fromtimestamp(weekly.next_due("Europe/Paris", before), paris)
    assert nxt.isoformat() == "2026-03-30T08:00:00+02:00"
    with pytest.raises(InvalidInput, match="cadence.day"):
        parse_cadence({"period": "weekly", "day": "someday"})


async def test_a_message_held_by_a_crashed_sender_is_sent_after_its_lease(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    await citizen(d.store, "a@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    raw = published[-1][2]
    [r] = DeliveryBatch.from_wire(raw).recipients
    assert await d.ledger.claim("paris", "evt_1", r.id)  # a sender took it, then died
    assert await send_batch(raw, d) == {"in flight": 1}  # the batch, redelivered at once
    assert sink.messages == []
    [(_, _, _, again)] = await d.scheduler.due("paris", time.time() + LEASE_SECONDS + 5)
    await d.store.redis.hset(
        f"n:{{paris}}:notif:{r.id}", "claimed_at", int(time.time()) - LEASE_SECONDS - 5
    )
    assert await send_batch(again, d) == {"sent": 1}  # the lease is over: taken back, sent
    assert len(sink.messages) == 1


async def test_a_push_alert_not_delivered_falls_back_to_email_where_the_citizen_asked(
    deps: tuple[Deps, Published],
) -> None:
    d, published = deps
    d.enabled = ("email", "push")  # and this worker has no push provider: every push fails
    s = d.store
    for name, fallback in (("wants", ("email",)), ("not-asked", ())):
        c = await s.create_citizen("paris", "fr")
        await s.add_contact("paris", c.id, "email", f"{name}@example.org", "confirmed", "test")
        await s.add_contact("paris", c.id, "push", f"https://push.example/{name}", "confirmed", "t")
        await subscribe(s, c.id, area="75105", channels=["push"])
        await s.set_preferences("paris", c.id, fallback=fallback)
    await expand_announcement(await accepted(d, ["7510501"]), d)
    [push] = [DeliveryBatch.from_wire(v) for t, _, v in published if t == "deliveries.push"]
    assert batches(published) == []  # nobody chose email for this
    assert await send_batch(push.to_wire(), d) == {"failed": 2}
    dues = [v for t, _, v in published if t == d.topics.city_events]
    assert len(dues) == 2
    for v in dues:  # nothing for a version other than the event's current one
        assert (
            await release_fallback(d, dataclasses.replace(FallbackDue.from_wire(v), version=2)) == 0
        )
    assert batches(published) == []
    assert sorted([await handle_city_event(v, d) for v in dues]) == [0, 1]
    [fallback] = batches(published)
    assert [r.to for r in fallback.recipients] == ["wants@example.org"]
    assert fallback.kind == "announcement" and "Travaux" in fallback.variants["fr"]["subject"]
    counts = await d.ledger.counts("paris", "evt_1")
    assert counts == {"push": {"failed": 2}, "email": {"queued": 1}}
    # once only: a replayed fallback queues nothing more
    assert [await handle_city_event(v, d) for v in dues] == [0, 0]
    assert len(batches(published)) == 1


async def test_the_fallback_preference_takes_only_sms_and_email(
    deps: tuple[Deps, Published],
) -> None:
    d, _ = deps
    c = await d.store.create_citizen("paris", "fr")
    for wrong in (("push",), ("sms", "sms"), ("fax",)):
        with pytest.raises(InvalidInput, match="fallback"):
            await d.store.set_preferences("paris", c.id, fallback=wrong)
    updated = await d.store.set_preferences("paris", c.id, fallback=("sms", "email"))
    assert updated.fallback == ("sms", "email") and updated.public()["fallback"] == ["sms", "email"]


async def test_a_large_severe_audience_goes_in_the_urgent_lane_ahead_of_the_others(
    deps: tuple[Deps, Published], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Among large ones, the more severe first (``streams.delivery.lanes``): its own topics, whose
    batches the bulk and digest lanes give way to; the watch knows the event's lane."""
    d, published = deps
    monkeypatch.setattr("streams.delivery.expand.SHARD_SIZE", 3)
    monkeypatch.setattr("streams.delivery.fanout.SHARD_SIZE", 3)
    for i in range(5):
        await citizen(d.store, f"c{i}@example.org", "75105")
    severe = await accepted(d, ["75105"], category="safety", severity="severe")
    await expand_announcement(severe, d)
    for raw in [v for t, _, v in published if t == "fanout"]:
        await handlers.expand_shard(raw, d)
    urgent = [v for t, _, v in published if t.startswith("deliveries")]
    assert {t for t, _, _ in published if t.startswith("deliveries")} == {"deliveries.email.urgent"}
    assert sum(len(DeliveryBatch.from_wire(v).recipients) for v in urgent) == 5
    assert (await d.events.get("paris", severe.id))["lane"] == "urgent"
    [backlog] = await backlogs(d.store.redis, "paris")
    assert (backlog.event, backlog.lane, backlog.queued) == (severe.id, "urgent", 5)


async def test_a_shards_expansion_writes_nothing_while_a_small_batch_goes_out(
    deps: tuple[Deps, Published], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small never waits behind large, in the worker too: the expansion takes its turn."""
    d, published = deps
    monkeypatch.setattr("streams.delivery.expand.SHARD_SIZE", 3)
    monkeypatch.setattr("streams.delivery.fanout.SHARD_SIZE", 3)
    for i in range(5):
        await citizen(d.store, f"c{i}@example.org", "75105")
    await expand_announcement(await accepted(d, ["75105"]), d)
    shard = next(v for t, _, v in published if t == "fanout")
    with d.lanes.going(SMALL, "sms"):
        expanding = asyncio.create_task(handlers.expand_shard(shard, d))
        await eventually(lambda: d.lanes.waiting == 1, what="the expansion waiting its turn")
        assert not [t for t, _, _ in published if t.startswith("deliveries")]
    assert await expanding == 3
    assert {t for t, _, _ in published if t.startswith("deliveries")} == {"deliveries.email.bulk"}


async def test_a_large_audience_goes_in_shards_and_its_batches_in_the_bulk_lane(
    deps: tuple[Deps, Published], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker expands a shard; the batches of a city-wide alert do not hold up a
    neighbourhood's (their own topics, their own agents)."""
    d, published = deps
    monkeypatch.setattr("streams.delivery.expand.SHARD_SIZE", 3)
    monkeypatch.setattr("streams.delivery.fanout.SHARD_SIZE", 3)
    everyone = {await citizen(d.store, f"c{i}@example.org", "75105") for i in range(7)}
    await expand_announcement(await accepted(d, ["75105"]), d)
    shards = [v for t, _, v in published if t == "fanout"]
    assert len(shards) == 3 and not [t for t, _, _ in published if t.startswith("deliveries")]
    for raw in shards:
        await handlers.expand_shard(raw, d)
    lanes = {t for t, _, _ in published if t.startswith("deliveries")}
    assert lanes == {"deliveries.email.bulk"}
    reached = {
        r.citizen
        for t, _, v in published
        if t == "deliveries.email.bulk"
        for r in DeliveryBatch.from_wire(v).recipients
    }
    assert reached == everyone
    # a small event, at the same time, goes in the usual lane
    published.clear()
    small = dataclasses.replace(announcement(["75112"]), id="evt_2")
    await d.events.accept(small)
    await citizen(d.store, "q@example.org", "75112")
    await expand_announcement(small, d)
    assert {t for t, _, _ in published} == {"deliveries.email"}
