"""Fold providers' receipts into the delivery ledger, monotonically: a late "sent" never
overwrites "delivered". Twilio's error 21610 (the recipient replied STOP) switches the phone
off in the consent ledger."""

from __future__ import annotations

import logging

from streams.deps import Deps
from streams.records import Receipt

log = logging.getLogger("notifier.streams")
# Twilio's message statuses -> ours; the others (accepted, queued, sending) add nothing
TWILIO = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "read": "delivered",
}


async def track_receipt(raw: bytes, deps: Deps) -> str:
    """Apply one receipt; what became of it (for logs and tests)."""
    r = Receipt.from_wire(raw)
    status = TWILIO.get(r.status)
    if status is None:
        return "ignored"
    found = await deps.ledger.by_provider_id(r.city, r.provider_id)
    if found is None:
        log.warning("receipt for an unknown %s message %s", r.provider, r.provider_id)
        return "unknown"
    event, nid = found
    error = f"{r.provider} error {r.error_code}" if r.error_code else None
    moved = await deps.ledger.advance(r.city, event, nid, status, error=error)
    if r.error_code == "21610":
        record = await deps.ledger.get(r.city, nid)
        await deps.store.set_contact_status(
            r.city, record["contact"], "opted_out", "Twilio error 21610 (replied STOP)"
        )
    return status if moved else "not newer"
