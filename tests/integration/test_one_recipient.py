"""One recipient's failure is that recipient's (issue #18): whatever goes wrong building or
handing over one message ends that notification ``failed`` with its reason, and the rest of the
batch goes on. Real Redis, real SMTP server."""

from __future__ import annotations

import json

from streams.announcements import Announcement
from streams.delivery.expand import expand_announcement
from streams.delivery.send import send_batch
from streams.deps import Deps
from tests.handler_stage import PARIS, Published, citizen, subscribe
from tests.stage import SmtpSink


def alert(title: str) -> Announcement:
    body = {
        "category": "safety",
        "severity": "severe",
        "target": {"areas": ["75105"]},
        "content": {"fr": {"title": title, "body": "Évacuez les quais."}},
    }
    return Announcement.from_input(
        body, id="evt_1", city="paris", department="voirie", catalogue=PARIS
    )


async def test_a_headline_with_a_line_break_reaches_its_email_subscribers(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    """As a CAP feed's <headline> often holds one: before, the Subject raised ValueError and
    the whole batch went to dead letters, every notification left ``sending``."""
    d, published = deps
    sink, _ = smtp
    for n in range(3):
        await citizen(d.store, f"c{n}@example.org", "75105")
    a = alert("Crue de la Seine\r\n  niveau\trouge")
    await d.events.accept(a)
    await expand_announcement(a, d)
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    assert await send_batch(raw, d) == {"sent": 3}
    assert len(sink.messages) == 3
    assert {m["Subject"] for m in sink.messages} == {"[Alerte] Crue de la Seine niveau rouge"}
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"sent": 3}}


async def test_a_message_that_cannot_be_built_fails_alone_with_its_reason(
    deps: tuple[Deps, Published], smtp: tuple[SmtpSink, str]
) -> None:
    d, published = deps
    sink, _ = smtp
    for n in range(3):
        await citizen(d.store, f"c{n}@example.org", "75105")
    # an address kept by older code, or written by hand, that no header can carry
    bad = await d.store.create_citizen("paris", "fr")
    await d.store.add_contact("paris", bad.id, "email", "x@exa\nmple.org", "confirmed", "old")
    await subscribe(d.store, bad.id, area="75105")
    a = alert("Crue de la Seine")
    await d.events.accept(a)
    await expand_announcement(a, d)
    [(_, _, raw)] = [p for p in published if p[0] == "deliveries.email"]
    assert await send_batch(raw, d) == {"sent": 3, "failed": 1}
    assert len(sink.messages) == 3
    assert await d.ledger.counts("paris", "evt_1") == {"email": {"sent": 3, "failed": 1}}
    [letter] = [json.loads(v) for t, _, v in published if t == "dead-letters"]
    assert letter["reason"].startswith("delivery failed: could not be built or handed over")
