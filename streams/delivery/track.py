"""Fold providers' receipts into the delivery ledger, monotonically: a late "sent" never
overwrites "delivered". What a receipt means is its channel's to say (``Channel.receipt``):
the ledger's status, and for some (Twilio's 21610, the recipient replied STOP) the contact
point switched off in the consent ledger."""

from __future__ import annotations

import logging

from streams.deps import Tracking
from streams.records import Receipt

log = logging.getLogger("notifier.streams")


async def track_receipt(raw: bytes, deps: Tracking) -> str:
    """Apply one receipt; what became of it (for logs and tests)."""
    r = Receipt.from_wire(raw)
    channel = next((c for c in deps.channels.values() if c.provider == r.provider), None)
    if channel is None:  # a provider this worker has no channel for
        log.warning("receipt from %s, a provider this worker has no channel for", r.provider)
        return "ignored"
    said = channel.receipt(r.status, r.error_code)
    if said is None:
        return "ignored"
    found = await deps.ledger.by_provider_id(r.city, r.provider_id)
    if found is None:
        log.warning("receipt for an unknown %s message %s", r.provider, r.provider_id)
        return "unknown"
    event, nid = found
    moved = await deps.ledger.advance(r.city, event, nid, said.status, error=said.error)
    if said.contact_status is not None:
        record = await deps.ledger.get(r.city, nid)
        await deps.store.set_contact_status(
            r.city, record["contact"], said.contact_status, said.how
        )
    return said.status if moved else "not newer"
