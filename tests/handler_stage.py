"""The handlers' stage for tests without a broker: Paris's catalogue, citizens with a confirmed
email and a subscription, an announcement accepted as the API leaves it. The stage itself is the
``deps`` fixture (``tests/conftest.py``): real Redis, real SMTP server, publish kept in a list."""

from __future__ import annotations

from typing import NamedTuple

from streams.announcements import Announcement
from streams.deps import Deps
from streams.records import DeliveryBatch
from subscriptions.areas import load_catalogue
from subscriptions.store import SubscriptionStore, new_id
from subscriptions.subscription import parse_subscription

Published = list[tuple[str, bytes, bytes]]
PARIS = load_catalogue("paris")


class HandlerStage(NamedTuple):
    """What the ``deps`` fixture yields: the handlers' dependencies and what they published (a
    tuple still, so ``d, published = deps`` reads as before)."""

    deps: Deps
    published: Published


async def subscribe(store: SubscriptionStore, cid: str, **body: object) -> None:
    sub, index = parse_subscription(body, sid=new_id("sub"), citizen=cid, catalogue=PARIS)
    await store.add_subscription("paris", sub, index)


async def citizen(
    store: SubscriptionStore,
    email: str,
    area: str | None = None,
    language: str = "fr",
    confirmed: bool = True,
    **sub: object,
) -> str:
    c = await store.create_citizen("paris", language)
    status = "confirmed" if confirmed else "pending"
    await store.add_contact("paris", c.id, "email", email, status, "test")
    if area is not None:
        sub["area"] = area
    await subscribe(store, c.id, **sub)
    return c.id


def announcement(
    areas: list[str], category: str = "roadworks", severity: str = "minor"
) -> Announcement:
    body = {
        "category": category,
        "severity": severity,
        "target": {"areas": areas},
        "content": {
            "fr": {"title": "Travaux", "body": "Rue fermée."},
            "en": {"title": "Works", "body": "Street closed."},
        },
    }
    return Announcement.from_input(
        body, id="evt_1", city="paris", department="voirie", catalogue=PARIS
    )


async def accepted(d: Deps, areas: list[str], **kw: str) -> Announcement:
    """An announcement as the API leaves it: in the event store (the outbox)."""
    a = announcement(areas, **kw)
    await d.events.accept(a)
    return a


def batches(published: Published, topic: str = "deliveries.email") -> list[DeliveryBatch]:
    return [DeliveryBatch.from_wire(v) for t, _, v in published if t == topic]
