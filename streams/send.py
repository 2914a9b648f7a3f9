"""Hand each email of a batch to SMTP once, and record the outcome in the ledger.

Before the provider call, in order: consent (the contact point must still be confirmed, or
pending for a confirmation request), staleness (the event cancelled, or a newer version out),
expiry, and the ledger claim that makes the hand-off happen once. Transient refusals are retried
with backoff and jitter; a permanent one, or too many transient ones, ends ``failed`` with its
reason and a dead letter.
"""

from __future__ import annotations

import asyncio
import random
import time
from email.utils import parseaddr

from channels.base import PermanentChannelError, TransientChannelError
from channels.email import Email
from streams.deps import Deps
from streams.records import UNSUBSCRIBE_PLACEHOLDER, EmailBatch, Recipient, dead_letter, dumps

SEND_ATTEMPTS = 3
ALLOWED = {
    "announcement": ("confirmed",),
    "cancellation": ("confirmed",),
    "confirmation": ("pending", "confirmed"),
}


async def send_email_batch(raw: bytes, deps: Deps) -> dict[str, int]:
    """Hand each notification of a batch to SMTP once; the outcome counts of this call."""
    batch = EmailBatch.from_wire(raw)
    stale = await _stale(batch, deps)
    contacts = await deps.store.contacts(batch.city, [r.contact for r in batch.recipients])
    sem = asyncio.Semaphore(deps.send_concurrency)
    outcomes: dict[str, int] = {}

    async def one(r: Recipient, cp_status: str | None, address: str | None) -> None:
        async with sem:
            if stale:
                await deps.ledger.advance(batch.city, batch.event, r.id, stale)
                outcome = stale
            else:
                outcome = await _send_one(batch, r, cp_status, address, deps)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    await asyncio.gather(
        *(
            one(r, cp.status if cp else None, cp.address if cp else None)
            for r, cp in zip(batch.recipients, contacts, strict=True)
        )
    )
    return outcomes


async def _stale(batch: EmailBatch, deps: Deps) -> str | None:
    """``cancelled`` or ``superseded`` when the batch's announcement must not go out."""
    if batch.kind != "announcement":
        return None
    status, version = await deps.events.state(batch.city, batch.event)
    if status == "cancelled":
        return "cancelled"
    if version > batch.version:
        return "superseded"
    return None


async def _send_one(
    batch: EmailBatch, r: Recipient, cp_status: str | None, address: str | None, deps: Deps
) -> str:
    city, ledger = batch.city, deps.ledger
    if cp_status not in ALLOWED[batch.kind] or address is None:
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
    assert deps.email is not None, "send_email_batch runs in a worker, which has a channel"
    email = _email(batch, r, address, deps.mail_from)
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
    letter = dumps({"city": city, "event": batch.event, "notification": r.id})
    await deps.publish(
        deps.topics.dead_letters,
        r.id.encode(),
        dead_letter(deps.topics.email, letter, f"delivery failed: {error}"),
    )
    return "failed"


def _email(batch: EmailBatch, r: Recipient, address: str, mail_from: str) -> Email:
    v = batch.variants[r.language]
    headers: tuple[tuple[str, str], ...] = ()
    if batch.kind != "confirmation" and r.unsubscribe_url:
        headers = (
            ("List-Unsubscribe", f"<{r.unsubscribe_url}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        )
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "notifier.invalid"
    return Email(
        to=address,
        subject=v["subject"],
        text=v["text"].replace(UNSUBSCRIBE_PLACEHOLDER, r.unsubscribe_url),
        html=v["html"].replace(UNSUBSCRIBE_PLACEHOLDER, r.unsubscribe_url),
        message_id=f"<{r.id}@{domain}>",
        headers=headers,
    )
