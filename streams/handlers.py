"""The plain async handlers the agents call: no Faust here, so they are tested without Kafka.

``expand_announcement``: an announcement -> matching citizens -> one email notification per
citizen (deduplicated, confirmed contacts only), recorded as queued in the ledger and written to
``deliveries.email`` in batches. ``send_email_batch``: each notification of a batch is claimed in
the ledger, handed to the SMTP channel, and its outcome recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from email.utils import parseaddr

from channels.base import Channel, PermanentChannelError, TransientChannelError
from channels.email import Email
from streams.event_store import EventStore
from streams.ledger import Ledger, notification_id
from streams.records import (
    UNSUBSCRIBE_PLACEHOLDER,
    Announcement,
    EmailBatch,
    Recipient,
    dead_letter,
    dumps,
)
from streams.topics import TopicNames
from subscriptions import tokens
from subscriptions.areas import AreaCatalogue
from subscriptions.errors import InvalidInput
from subscriptions.matcher import match
from subscriptions.store import SubscriptionStore
from templates.renderer import Renderer

log = logging.getLogger("notifier.streams")

Publish = Callable[[str, bytes, bytes], Awaitable[None]]
BATCH_SIZE = 500
SEND_ATTEMPTS = 3
CITY_NAMES = {"paris": "Paris"}


@dataclasses.dataclass
class Deps:
    store: SubscriptionStore
    ledger: Ledger
    events: EventStore
    catalogues: dict[str, AreaCatalogue]
    renderer: Renderer
    email: Channel[Email] | None  # None in the API process, which sends nothing itself
    publish: Publish
    topics: TopicNames
    base_url: str
    secret_key: str
    mail_from: str
    send_concurrency: int = 16
    retry_base_delay: float = 0.5


async def guarded(
    topic: str,
    raw: bytes,
    deps: Deps,
    handler: Callable[[bytes, Deps], Awaitable[object]],
    partition: int | None = None,
    offset: int | None = None,
) -> None:
    """Run a handler; a record it cannot take goes to dead letters with the reason.

    An agent that raises has its record acknowledged and lost, so nothing escapes here."""
    try:
        await handler(raw, deps)
    except InvalidInput as e:
        log.warning("dead letter from %s: %s", topic, e)
        await deps.publish(
            deps.topics.dead_letters,
            b"",
            dead_letter(topic, raw, f"invalid {e}", partition=partition, offset=offset),
        )
    except Exception as e:  # a bug or an outage: keep the record, say why, keep flowing
        log.exception("handler failed on a record from %s", topic)
        await deps.publish(
            deps.topics.dead_letters,
            b"",
            dead_letter(
                topic, raw, f"error {type(e).__name__}: {e}", partition=partition, offset=offset
            ),
        )


async def handle_city_event(raw: bytes, deps: Deps) -> int:
    a = Announcement.from_wire(raw, deps.catalogues)
    return await expand_announcement(a, deps)


async def expand_announcement(a: Announcement, deps: Deps) -> int:
    """Queue one email per matched citizen with a confirmed address; the number queued."""
    catalogue = deps.catalogues[a.city]
    target = a.target.resolve(catalogue)
    matches = await match(deps.store, catalogue, a.city, target, a.category, a.severity)
    wanted = [m for m in matches if "email" in m.channels]
    citizens = await deps.store.citizens(a.city, [m.citizen for m in wanted])
    contacts = await deps.store.confirmed_contacts(a.city, list(citizens), "email")
    recipients: list[Recipient] = []
    for cid, citizen in citizens.items():
        cps = contacts.get(cid)
        if not cps:
            continue
        cp = cps[0]  # one message per (event, citizen, channel)
        lang, _ = a.content_for(citizen.language)
        recipients.append(
            Recipient(
                id=notification_id(a.city, a.id, cid, "email"),
                citizen=cid,
                contact=cp.id,
                to=cp.address,
                language=lang,
                unsubscribe_url=f"{deps.base_url}/v1/unsubscribe/"
                f"{tokens.sign(deps.secret_key, 'unsubscribe', a.city, cp.id)}",
            )
        )
    statuses = await deps.ledger.enqueue(
        a.city, a.id, "email", [(r.id, r.citizen, r.contact) for r in recipients]
    )
    pending = [r for r, s in zip(recipients, statuses, strict=True) if s in ("queued", "sending")]
    variants = {
        lang: render_announcement(a, lang, deps) for lang in sorted({r.language for r in pending})
    }
    for i in range(0, len(pending), BATCH_SIZE):
        batch = EmailBatch(
            a.city, a.id, "announcement", variants, tuple(pending[i : i + BATCH_SIZE]), a.expires_at
        )
        await deps.publish(deps.topics.email, a.id.encode(), batch.to_wire())
    await deps.events.mark(
        a.city,
        a.id,
        "processed",
        processed_at=str(time.time()),
        matched=len(matches),
        queued=len(recipients),
    )
    log.info("event=%s city=%s matched=%d queued=%d", a.id, a.city, len(matches), len(pending))
    return len(pending)


def render_announcement(a: Announcement, lang: str, deps: Deps) -> dict[str, str]:
    catalogue = deps.catalogues[a.city]
    _, content = a.content_for(lang)
    return deps.renderer.render_email(
        "announcement",
        lang,
        {
            "title": content.title,
            "body": content.body,
            "link": content.link,
            "severity": a.severity,
            "department": a.department,
            "city_name": CITY_NAMES.get(a.city, a.city.title()),
            "areas": a.target.area_names(catalogue),
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        },
    )


async def send_email_batch(raw: bytes, deps: Deps) -> dict[str, int]:
    """Hand each notification of a batch to SMTP once; the outcome counts of this call."""
    batch = EmailBatch.from_wire(raw)
    contacts = await deps.store.contacts(batch.city, [r.contact for r in batch.recipients])
    sem = asyncio.Semaphore(deps.send_concurrency)
    outcomes: dict[str, int] = {}

    async def one(r: Recipient, cp_status: str | None, address: str | None) -> None:
        async with sem:
            outcome = await _send_one(batch, r, cp_status, address, deps)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    await asyncio.gather(
        *(
            one(r, cp.status if cp else None, cp.address if cp else None)
            for r, cp in zip(batch.recipients, contacts, strict=True)
        )
    )
    return outcomes


async def _send_one(
    batch: EmailBatch, r: Recipient, cp_status: str | None, address: str | None, deps: Deps
) -> str:
    city, ledger = batch.city, deps.ledger
    allowed = {"announcement": ("confirmed",), "confirmation": ("pending", "confirmed")}[batch.kind]
    if cp_status not in allowed or address is None:
        # consent first: the address was unsubscribed, erased or never confirmed
        await ledger.advance(
            city, batch.event, r.id, "skipped", error=f"contact {cp_status or 'gone'}"
        )
        return "skipped"
    if batch.expires_at is not None and batch.expires_at <= time.time():
        await ledger.advance(city, batch.event, r.id, "expired")
        return "expired"
    if not await ledger.claim(city, batch.event, r.id):
        return "already claimed"
    v = batch.variants[r.language]
    headers: tuple[tuple[str, str], ...] = ()
    if batch.kind == "announcement" and r.unsubscribe_url:
        headers = (
            ("List-Unsubscribe", f"<{r.unsubscribe_url}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        )
    domain = parseaddr(deps.mail_from)[1].rpartition("@")[2] or "notifier.invalid"
    email = Email(
        to=address,
        subject=v["subject"],
        text=v["text"].replace(UNSUBSCRIBE_PLACEHOLDER, r.unsubscribe_url),
        html=v["html"].replace(UNSUBSCRIBE_PLACEHOLDER, r.unsubscribe_url),
        message_id=f"<{r.id}@{domain}>",
        headers=headers,
    )
    assert deps.email is not None, "send_email_batch runs in a worker, which has a channel"
    error = ""
    for attempt in range(SEND_ATTEMPTS):
        try:
            sent = await deps.email.send(r.id, email)
        except TransientChannelError as e:
            error = e.reason
            if attempt + 1 < SEND_ATTEMPTS:
                delay = e.retry_after or deps.retry_base_delay * 2**attempt
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            continue
        except PermanentChannelError as e:
            error = e.reason
            break
        await ledger.advance(city, batch.event, r.id, "sent", provider_id=sent.provider_id)
        return "sent"
    await ledger.advance(city, batch.event, r.id, "failed", error=error)
    await deps.publish(
        deps.topics.dead_letters,
        r.id.encode(),
        dead_letter(
            deps.topics.email,
            dumps({"city": city, "event": batch.event, "notification": r.id}),
            f"delivery failed: {error}",
        ),
    )
    return "failed"
