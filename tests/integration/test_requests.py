"""Service request status changes through the worker's handlers, without a broker: real Redis,
a real SMTP server, publish collected in a list. The 50 real Chicago request histories
(``tests/data/open311``) are replayed as status changes."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from channels.email import SmtpConfig, SmtpEmailChannel
from notifier.actions.request_filing import Requester, file_request
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps
from streams import handlers
from streams.delivery.requests import handle_request_status
from streams.delivery.send import send_batch
from streams.deps import Deps
from streams.records import DeliveryBatch
from streams.request_records import StatusChange
from streams.state.request_store import RequestStore
from subscriptions.areas import load_catalogue
from subscriptions.store import new_id
from subscriptions.subscription import parse_subscription
from tests.integration.chicago_notes import changes_from_notes
from tests.stage import SmtpSink

DATA = Path(__file__).parents[1] / "data" / "open311"
CHICAGO: list[dict[str, Any]] = json.loads(
    (DATA / "real_chicago_requests_extensions_notes_2014.json").read_text()
)
# how the English templates word the statuses the Chicago notes map to
EN = {
    "submitted": "received",
    "open": "registered",
    "in_progress": "in progress",
    "referred": "referred to another service",
    "closed": "closed",
    "duplicate": "closed (a duplicate of another request)",
}
Published = list[tuple[str, bytes, bytes]]


@dataclasses.dataclass
class World:
    deps: Deps
    published: Published
    sink: SmtpSink
    sent: int = 0  # how many of ``published`` have been handed to the senders

    async def deliver(self) -> None:
        """Hand every delivery batch published since the last call to the sender, in order."""
        while self.sent < len(self.published):
            topic, _, raw = self.published[self.sent]
            self.sent += 1
            if topic.startswith("deliveries."):
                await send_batch(raw, self.deps)

    def request_mails(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sink.to(address) if "request" in m["Subject"]]


@pytest.fixture
async def world(redis: Redis, smtp: tuple[SmtpSink, str]) -> AsyncIterator[World]:
    published: Published = []

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        published.append((topic, key, value))

    settings = Settings(secret_key=Secret("k" * 48), public_url="https://alerts.example")
    channel = SmtpEmailChannel(SmtpConfig.from_url(smtp[1]), settings.mail_from, pool_size=4)
    yield World(build_deps(settings, redis, publish, {"email": channel}), published, smtp[0])
    await channel.close()


def history(r: dict[str, Any]) -> list[StatusChange]:
    return changes_from_notes(r, city="paris", department="voirie")


async def file_with_requester(w: World, first: StatusChange, email: str, lang: str = "en") -> str:
    """File a request with its first change, the requester's address new, then confirmed."""
    [cp] = await file_request(w.deps, first, Requester((("email", email),), lang))
    assert cp.status == "pending"
    await w.deps.store.set_contact_status("paris", cp.id, "confirmed", "test")
    return cp.citizen


def told(changes: list[StatusChange], after: StatusChange) -> list[StatusChange]:
    """The changes that must reach the requester when ``changes`` arrive in this order after
    ``after`` was applied: each newer than all before it, and not a mere repeat of the state."""
    out, last = [], after
    for c in changes:
        if c.updated_ms > last.updated_ms:
            if (c.status, c.status_notes) != (last.status, last.status_notes):
                out.append(c)
            last = c
    return out


def summary(m: EmailMessage) -> tuple[str, str]:
    """(status wording, notes) as a mail says them."""
    text = m.get_body(("plain",)).get_content()
    notes = text.split("Note from the service: ", 1)[1].splitlines()[0] if "Note" in text else ""
    return m["Subject"].rsplit(": ", 1)[1].strip(), notes


def expected(changes: list[StatusChange]) -> list[tuple[str, str]]:
    return [(EN[c.status], c.status_notes) for c in changes]


async def test_chicago_note_types_map_to_statuses() -> None:
    by_id = {r["service_request_id"]: r for r in CHICAGO}
    dup = history(by_id["14-02155558"])  # "Street Light Out", closed as "Duplicate"
    assert [(c.status, c.status_notes) for c in dup] == [("open", ""), ("duplicate", "")]
    survey = history(by_id["14-01751347"])  # two activities at the same minute: one change
    assert [c.status for c in survey] == [
        "open",
        "in_progress",
        "referred",
        "in_progress",
        "closed",
    ]
    assert survey[1].status_notes == (
        "WM Water Management General Investigation Transfer Outcome"
        " / Survey Completed - No Citation Issued"
    )
    assert survey[2].status_notes.startswith("Water Management - General Investigation #14-0176")
    assert survey[0].info.service_name == "Pavement Cave-In Survey"
    assert survey[0].info.lat == pytest.approx(by_id["14-01751347"]["lat"])
    submitted = history(by_id["14-00242798"])
    assert [c.status for c in submitted[:2]] == ["submitted", "open"]
    changes = [c for r in CHICAGO for c in history(r)]
    assert len(changes) == 276 - 3  # 276 notes, three pairs of them at one instant
    for r in CHICAGO:
        times = [c.updated_ms for c in history(r)]
        assert times == sorted(set(times))  # in time order, one change per instant
        last = history(r)[-1].status
        assert (last in ("closed", "duplicate")) == (r["status"] == "closed")  # one is still open


async def test_chicago_histories_notify_the_requester_once_per_change_in_order(
    world: World,
) -> None:
    w = world
    histories = {r["service_request_id"]: history(r) for r in CHICAGO}
    addresses = {rid: f"requester-{rid}@example.org" for rid in histories}
    for rid, changes in histories.items():
        await file_with_requester(w, changes[0], addresses[rid])
    await w.deliver()  # the confirmation requests
    confirmations = len(w.sink.messages)
    assert confirmations == 50

    for replay in range(2):  # the whole history, twice
        for changes in histories.values():
            for c in changes:
                queued = await handle_request_status(c.to_wire(), w.deps)
                assert replay == 0 or queued == 0
        await w.deliver()
    shuffled = [c for changes in histories.values() for c in changes]
    random.Random(311).shuffle(shuffled)  # and out of order
    for c in shuffled:
        assert await handle_request_status(c.to_wire(), w.deps) == 0
    await w.deliver()

    total = 0
    for rid, changes in histories.items():
        mails = w.request_mails(addresses[rid])
        assert [summary(m) for m in mails] == expected(told(changes[1:], changes[0])), rid
        # (strip: the email channel folds some long subjects right after "Subject:")
        assert all(m["Subject"].strip().startswith(f"Your request {rid} (") for m in mails)
        total += len(mails)
    assert total == 273 - 50  # every change but the one each request was filed with
    ids = [m["Message-ID"] for m in w.sink.messages]
    assert len(ids) == len(set(ids)) == confirmations + total
    counts = await w.deps.ledger.counts("paris", histories["14-02155558"][1].event)
    assert counts == {"email": {"sent": 1}}


async def test_changes_arriving_out_of_order_are_told_only_when_newer(world: World) -> None:
    w = world
    rng = random.Random(2014)
    arrivals = {}
    for r in CHICAGO[:20]:
        changes = history(r)
        rest = changes[1:]
        rng.shuffle(rest)
        arrivals[r["service_request_id"]] = (changes[0], rest)
        await file_with_requester(w, changes[0], f"{r['service_request_id']}@example.org", "en")
    for _, rest in arrivals.values():
        for c in rest + rest:  # shuffled, then the same again
            await handle_request_status(c.to_wire(), w.deps)
    await w.deliver()
    told_somewhere = 0
    for rid, (first, rest) in arrivals.items():
        mails = w.request_mails(f"{rid}@example.org")
        want = told(rest, first)
        assert [summary(m) for m in mails] == expected(want)
        assert [c.updated_ms for c in want] == sorted(c.updated_ms for c in want)  # in order
        told_somewhere += len(want)
        h = await RequestStore(w.deps.store.redis).get("paris", rid)
        assert int(h["updated_ms"]) == max(c.updated_ms for c in [first, *rest])
    assert told_somewhere >= 20


async def test_followers_are_told_on_their_confirmed_channels(world: World) -> None:
    w = world
    [_, change] = history(next(r for r in CHICAGO if r["service_request_id"] == "14-02155558"))
    s = w.deps.store
    catalogue = load_catalogue("paris")

    async def follower(email: str, confirmed: bool = True, **body: object) -> str:
        c = await s.create_citizen("paris", "fr")
        await s.add_contact(
            "paris", c.id, "email", email, "confirmed" if confirmed else "pending", "t"
        )
        sub, index = parse_subscription(
            {"request": change.request_id, **body},
            sid=new_id("sub"),
            citizen=c.id,
            catalogue=catalogue,
        )
        await s.add_subscription("paris", sub, index)
        return c.id

    await follower("early@example.org")  # before the request exists
    first = dataclasses.replace(change, status="open", updated_ms=change.updated_ms - 1000)
    await file_with_requester(w, first, "requester@example.org", "fr")
    await follower("pending@example.org", confirmed=False)
    await follower("sms-only@example.org", channels=["sms"])  # sms is not enabled here
    await follower("twice@example.org")
    await w.deliver()
    w.sink.messages.clear()
    assert await handle_request_status(change.to_wire(), w.deps) == 3
    await w.deliver()
    subjects = sorted((m["To"], m["Subject"].strip()) for m in w.sink.messages)
    assert subjects == [
        (
            "early@example.org",
            "La demande que vous suivez n° 14-02155558 (Street Light Out) : "
            "clôturée (doublon d’une autre demande)",
        ),
        (
            "requester@example.org",
            "Votre demande n° 14-02155558 (Street Light Out) : "
            "clôturée (doublon d’une autre demande)",
        ),
        (
            "twice@example.org",
            "La demande que vous suivez n° 14-02155558 (Street Light Out) : "
            "clôturée (doublon d’une autre demande)",
        ),
    ]
    text = w.sink.to("requester@example.org")[0].get_body(("plain",)).get_content()
    assert "Votre demande n° 14-02155558 (Street Light Out)" in text
    assert "https://alerts.example/v1/unsubscribe/" in text


async def test_a_change_applied_but_not_queued_is_resumed_once(world: World) -> None:
    w = world
    [first, second, *_] = history(CHICAGO[0])
    await file_with_requester(w, first, "a@example.org")
    store = RequestStore(w.deps.store.redis)
    assert await store.apply(second) == "applied"  # the worker stopped here
    assert await handle_request_status(second.to_wire(), w.deps) == 1  # redelivered: resumed
    assert await handle_request_status(second.to_wire(), w.deps) == 0  # now a mere repeat
    await w.deliver()
    assert len(w.request_mails("a@example.org")) == 1


async def test_a_newer_record_with_the_same_status_and_notes_is_not_a_change(world: World) -> None:
    w = world
    [first, second, *_] = history(CHICAGO[0])
    await file_with_requester(w, first, "a@example.org")
    again = dataclasses.replace(
        second, updated_ms=second.updated_ms + 60_000, updated_datetime="2014-07-29T14:12:00-05:00"
    )
    assert await handle_request_status(second.to_wire(), w.deps) == 1
    assert await handle_request_status(again.to_wire(), w.deps) == 0
    assert await handle_request_status(second.to_wire(), w.deps) == 0  # older than the last now
    history_ = await RequestStore(w.deps.store.redis).history("paris", first.request_id)
    assert [h["status"] for h in history_] == ["open", "in_progress"]


def wire(**fields: object) -> bytes:
    record = {
        "type": "RequestStatusChanged/1",
        "city": "paris",
        "department": "voirie",
        "service_request_id": "14-00684314",
        "status": "in_progress",
        "updated_datetime": "2014-07-29T14:11:00-05:00",
    }
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid record: not JSON"),
        (wire(type="RequestStatusChanged/9"), "invalid type: expected 'RequestStatusChanged/1'"),
        (wire(status="fixed"), "invalid status: must be one of submitted, open, acknowledged"),
        (wire(updated_datetime=None), "invalid updated_datetime: required"),
        (wire(updated_datetime="2014-07-29 14:11"), "invalid updated_datetime: must include a UTC"),
        (wire(updated_datetime="2999-01-01T00:00:00Z"), "invalid updated_datetime: is more than"),
        (wire(city="lyon"), "invalid city: unknown city 'lyon'"),
        (wire(department=None), "invalid department: required"),
        (wire(service_request_id="a b"), "invalid service_request_id: a service request id"),
        (wire(lat=41.7), "invalid long: give both lat and long"),
        (wire(lat=100, long=2), "invalid lat: must be a number from -90 to 90"),
        (wire(status_notes=["x"]), "invalid status_notes: a string of at most 1000"),
        (wire(department="proprete"), "invalid department: request 14-00684314 belongs to another"),
    ],
)
async def test_a_malformed_status_record_goes_to_dead_letters(
    world: World, raw: bytes, reason: str
) -> None:
    w = world
    await file_request(w.deps, history(CHICAGO[0])[0], None)  # filed by voirie
    await handlers.guarded("request-status", raw, w.deps, handle_request_status, 1, 7)
    [(topic, _, letter)] = w.published
    d = json.loads(letter)
    assert topic == "dead-letters" and d["reason"].startswith(reason), d["reason"]
    assert (d["topic"], d["partition"], d["offset"], d["raw"]) == (
        "request-status",
        1,
        7,
        raw.decode(errors="replace"),
    )
    assert [
        h["status"] for h in await RequestStore(w.deps.store.redis).history("paris", "14-00684314")
    ] == ["open"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"request": "a/b"}, "request"),
        ({"request": "14-1", "categories": ["water"]}, "categories"),
        ({"request": "14-1", "channels": ["fax"]}, "channels"),
        ({"request": "14-1", "area": "75105"}, "area"),
    ],
)
def test_a_malformed_follow_names_the_field(body: dict[str, Any], field: str) -> None:
    from subscriptions.errors import InvalidInput

    with pytest.raises(InvalidInput) as e:
        parse_subscription(body, sid="s", citizen="c", catalogue=load_catalogue("paris"))
    assert e.value.field == field


def test_a_follow_is_indexed_under_its_request() -> None:
    sub, index = parse_subscription(
        {"request": "14-00684314"}, sid="s", citizen="c", catalogue=load_catalogue("paris")
    )
    assert index == [("request", "14-00684314")]
    assert sub.public() == {
        "id": "s",
        "kind": "request",
        "categories": [],
        "min_severity": "unknown",
        "channels": [],
        "cadence": {"period": "immediate"},
        "request": "14-00684314",
    }
    assert type(sub).from_hash(sub.to_hash()) == sub


async def test_delivery_batches_of_a_change_are_request_status_batches(world: World) -> None:
    w = world
    [first, second, *_] = history(CHICAGO[0])
    await file_with_requester(w, first, "a@example.org")
    w.published.clear()
    await handle_request_status(second.to_wire(), w.deps)
    [(topic, key, raw)] = w.published
    batch = DeliveryBatch.from_wire(raw)
    assert (topic, key, batch.kind, batch.event) == (
        "deliveries.email",
        second.event.encode(),
        "request_status",
        "request:14-00684314@1406661060000",
    )
