"""From an announcement (or its cancellation) to email notifications queued in the ledger and
written to ``deliveries.email`` in batches.

One message per (event version, citizen, channel): a citizen matched by several subscriptions
is told once; only confirmed contact points are used. An update reaches everyone the new version
matches and everyone an earlier version reached, as an update. A cancellation stops what has not
gone out (the sender checks) and, when asked, tells those already told.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from streams.announcements import Announcement, Cancellation, Content
from streams.deps import Deps
from streams.ledger import notification_id
from streams.records import UNSUBSCRIBE_PLACEHOLDER, EmailBatch, Recipient
from subscriptions import tokens
from subscriptions.matcher import match

log = logging.getLogger("notifier.streams")
BATCH_SIZE = 500


def version_key(event: str, version: int) -> str:
    """What notification ids derive from: the event, and the version after the first."""
    return event if version == 1 else f"{event}#v{version}"


async def expand_announcement(a: Announcement, deps: Deps) -> int:
    """Queue one email per reached citizen with a confirmed address; the number queued."""
    status, current = await deps.events.state(a.city, a.id)
    if status == "cancelled" or current > a.version:
        log.info(
            "event=%s v%d is stale (status %s, v%d): not expanded", a.id, a.version, status, current
        )
        return 0
    catalogue = deps.catalogues[a.city]
    matches = await match(
        deps.store, catalogue, a.city, a.target.resolve(catalogue), a.category, a.severity
    )
    citizens = {m.citizen for m in matches if "email" in m.channels}
    if a.version > 1:
        citizens |= {cit for cit, _ in await deps.ledger.reached(a.city, a.id, "email")}
    recipients = await _recipients(
        a.city, version_key(a.id, a.version), sorted(citizens), deps, pick_language=a.content_for
    )
    pending = await _enqueue(a.city, a.id, recipients, deps)
    variants = {
        lang: render_announcement(a, lang, deps) for lang in sorted({r.language for r in pending})
    }
    for i in range(0, len(pending), BATCH_SIZE):
        batch = EmailBatch(
            a.city,
            a.id,
            "announcement",
            variants,
            tuple(pending[i : i + BATCH_SIZE]),
            a.expires_at,
            a.version,
        )
        await deps.publish(deps.topics.email, a.id.encode(), batch.to_wire())
    await deps.events.processed(
        a.city,
        a.id,
        a.version,
        processed_at=str(time.time()),
        matched=len(matches),
        queued=len(recipients),
    )
    log.info(
        "event=%s v%d city=%s matched=%d queued=%d",
        a.id,
        a.version,
        a.city,
        len(matches),
        len(pending),
    )
    return len(pending)


async def expand_cancellation(c: Cancellation, deps: Deps) -> int:
    """Tell those already told that the announcement is cancelled (when asked to)."""
    queued = 0
    if c.notify:
        stored = await deps.events.get(c.city, c.id)
        a = Announcement.from_wire(stored["record"].encode(), deps.catalogues)
        reached = sorted({cit for cit, _ in await deps.ledger.reached(c.city, c.id, "email")})
        recipients = await _recipients(
            c.city, f"{c.id}#cancel", reached, deps, pick_language=a.content_for
        )
        pending = await _enqueue(c.city, c.id, recipients, deps)
        variants = {
            lang: render_cancellation(a, c, lang, deps)
            for lang in sorted({r.language for r in pending})
        }
        for i in range(0, len(pending), BATCH_SIZE):
            batch = EmailBatch(
                c.city,
                c.id,
                "cancellation",
                variants,
                tuple(pending[i : i + BATCH_SIZE]),
                None,
                c.version,
            )
            await deps.publish(deps.topics.email, c.id.encode(), batch.to_wire())
        queued = len(pending)
    await deps.events.processed(c.city, c.id, c.version)
    log.info("event=%s cancelled city=%s notices=%d", c.id, c.city, queued)
    return queued


async def _recipients(
    city: str,
    id_key: str,
    citizen_ids: list[str],
    deps: Deps,
    pick_language: Callable[[str], tuple[str, Content]],
) -> list[Recipient]:
    citizens = await deps.store.citizens(city, citizen_ids)
    contacts = await deps.store.confirmed_contacts(city, list(citizens), "email")
    out = []
    for cid, citizen in citizens.items():
        cps = contacts.get(cid)
        if not cps:
            continue
        cp = cps[0]  # one message per (event, citizen, channel)
        lang, _ = pick_language(citizen.language)
        token = tokens.sign(deps.secret_key, "unsubscribe", city, cp.id)
        out.append(
            Recipient(
                id=notification_id(city, id_key, cid, "email"),
                citizen=cid,
                contact=cp.id,
                to=cp.address,
                language=lang,
                unsubscribe_url=f"{deps.base_url}/v1/unsubscribe/{token}",
            )
        )
    return out


async def _enqueue(
    city: str, event: str, recipients: list[Recipient], deps: Deps
) -> list[Recipient]:
    """Record them as queued; those still to send (a redelivered record resends only those)."""
    rows = [(r.id, r.citizen, r.contact) for r in recipients]
    statuses = await deps.ledger.enqueue(city, event, "email", rows)
    return [r for r, s in zip(recipients, statuses, strict=True) if s in ("queued", "sending")]


def _context(a: Announcement, lang: str, deps: Deps) -> dict[str, object]:
    _, content = a.content_for(lang)
    return {
        "title": content.title,
        "body": content.body,
        "link": content.link,
        "severity": a.severity,
        "department": a.department,
        "city_name": deps.city_name(a.city),
        "areas": a.target.area_names(deps.catalogues[a.city]),
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        "is_update": a.version > 1,
    }


def render_announcement(a: Announcement, lang: str, deps: Deps) -> dict[str, str]:
    return deps.renderer.render_email("announcement", lang, _context(a, lang, deps))


def render_cancellation(a: Announcement, c: Cancellation, lang: str, deps: Deps) -> dict[str, str]:
    return deps.renderer.render_email(
        "cancellation", lang, {**_context(a, lang, deps), "reason": c.reason}
    )
