"""Messages to one contact point, outside any event: the double opt-in request (a link by
email, a code by SMS) and the magic link. They go out through the worker like any message
(``deliveries.<channel>``) and are tracked in the ledger under their own event id."""

from __future__ import annotations

import secrets
import time
from typing import Protocol

from streams.deps import Publishes, Rendering
from streams.records import DeliveryBatch, Recipient
from streams.state.ledger import Ledger, notification_id
from streams.topics import TopicNames
from subscriptions import token_versions, tokens
from subscriptions.contacts import ContactPoint
from subscriptions.store import SubscriptionStore


class Confirming(Rendering, Publishes, Protocol):
    """A message to one contact point, queued in the ledger and written to its channel."""

    store: SubscriptionStore
    ledger: Ledger
    topics: TopicNames


async def send_confirmation(
    deps: Confirming, city: str, contact: ContactPoint, language: str
) -> None:
    """Ask a pending contact point to confirm: an email link, or an SMS code (kept hashed)."""
    context: dict[str, object] = {**deps.city_context(city)}
    if contact.channel == "email":
        token = tokens.sign(deps.secret_key, "confirm", city, contact.id)
        context["confirm_url"] = f"{deps.base_url}/v1/confirm/{token}"
    elif contact.channel == "sms":
        code = f"{secrets.randbelow(10**6):06d}"
        await deps.store.set_code(city, contact.id, code)
        context["code"] = code
    else:
        raise ValueError(f"{contact.channel} contact points are confirmed where they are made")
    await send_to_contact(deps, city, contact, "confirmation", language, context)


async def send_magic_link(
    deps: Confirming,
    city: str,
    contact: ContactPoint,
    language: str,
    already_registered: bool = False,
) -> None:
    """A link that opens the citizen's page for 30 days (the token is in the fragment, which
    browsers never send to servers or proxies). ``already_registered``: someone gave this
    address to register again, and the message says so."""
    version = await token_versions.current(deps.store.redis, city, contact.citizen)
    token = tokens.sign(deps.secret_key, "manage", city, contact.citizen, version=version or 0)
    context: dict[str, object] = {
        **deps.city_context(city),
        "manage_url": f"{deps.base_url}/manage#{token}",
        "already_registered": already_registered,
    }
    await send_to_contact(deps, city, contact, "magic_link", language, context)


async def send_to_contact(
    deps: Confirming,
    city: str,
    contact: ContactPoint,
    kind: str,
    language: str,
    context: dict[str, object],
) -> None:
    event = f"{kind}-{contact.id}-{time.time_ns()}"
    nid = notification_id(city, event, contact.citizen, contact.channel)
    lang = deps.renderer.language_for(kind, language)
    variant = deps.renderer.render_parts(kind, contact.channel, lang, context)
    await deps.ledger.enqueue(city, event, contact.channel, [(nid, contact.citizen, contact.id)])
    recipient = Recipient(nid, contact.citizen, contact.id, contact.address, lang)
    batch = DeliveryBatch(
        city,
        event,
        kind,
        {lang: variant},
        (recipient,),
        channel=contact.channel,
        origin_at=time.time(),
    )
    await deps.publish(deps.topics.deliveries(contact.channel), event.encode(), batch.to_wire())
