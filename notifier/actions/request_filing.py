"""Filing a service request on behalf of a citizen: the request is kept with its first status,
and the requester (found by address, or created) follows it.

A contact point the service does not know yet is added pending and asked to confirm (double
opt-in), as when a citizen registers: nothing about the request reaches it before that. A known
one is used as it stands: confirmed, it is told of every change; unsubscribed or opted out, it
stays so (filing a request is not consent). An address that belongs to another citizen than the
one found first is left alone.

The filer is a third party: nobody's account changes because of what they typed (DESIGN.md,
invariant 9). A citizen found by a known address follows the request through the contact points
they already have, and nothing is added to their account. The addresses the service does not
know go to a new, separate citizen (pending, asked to confirm) who follows the request too: an
attacker who files a victim's email with their own phone gets their phone on an account of
their own, never on the victim's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from notifier.actions.confirmations import Confirming, send_confirmation
from streams.request_records import StatusChange
from streams.state.request_store import RequestStore
from subscriptions.contacts import ContactPoint, normalise_email, normalise_phone
from subscriptions.errors import Conflict, InvalidInput
from subscriptions.preferences import check_language
from subscriptions.rules import Field, ref
from subscriptions.store import AddressHeld, new_id
from subscriptions.subscription import Subscription


def _requester(address: str) -> Field:
    """An address of the requester: "" or null is none (checked by ``Requester.from_open311``
    with the channels offered)."""
    return Field({"anyOf": [ref(address), {"enum": ["", None]}], "description": "requester"})


# who follows a request filed through the API (``notifier.api.service_requests`` takes these
# besides the request's Open311 fields)
REQUESTER: dict[str, Field] = {
    "email": _requester("Email"),
    "phone": _requester("Phone"),
    "language": Field(ref("Language"), check_language, default="fr"),
}


@dataclasses.dataclass(frozen=True)
class Requester:
    contacts: tuple[tuple[str, str], ...]  # (channel, address), normalised
    language: str

    @classmethod
    def from_open311(cls, body: dict[str, Any], enabled: tuple[str, ...]) -> Requester | None:
        """Open311's ``email`` and ``phone`` (and our ``language``); None when neither."""
        contacts = []
        if body.get("email") not in (None, ""):
            contacts.append(("email", normalise_email(body["email"])))
        if body.get("phone") not in (None, ""):
            if "sms" not in enabled:
                raise InvalidInput("phone", "sms is not offered here")
            contacts.append(("sms", normalise_phone(body["phone"])))
        language = REQUESTER["language"].read(body, "language")
        return cls(tuple(contacts), language) if contacts else None


async def file_request(
    deps: Confirming, change: StatusChange, requester: Requester | None
) -> list[ContactPoint]:
    """Keep the request; subscribe the requester. The requester's contact points, as they
    stand (pending ones have been asked to confirm)."""
    store = RequestStore(deps.store.redis)
    if not await store.file(change):
        raise Conflict("service_request_id", f"{change.request_id} is already filed")
    if requester is None:
        return []
    return await follow_as_requester(deps, store, change.city, change.request_id, requester)


async def follow_as_requester(
    deps: Confirming, store: RequestStore, city: str, rid: str, requester: Requester
) -> list[ContactPoint]:
    known = [await deps.store.contact_by_address(city, ch, a) for ch, a in requester.contacts]
    owner = next((cp.citizen for cp in known if cp is not None), None)
    contacts = [cp for cp in known if cp is not None and cp.citizen == owner]
    unknown = [c for c, cp in zip(requester.contacts, known, strict=True) if cp is None]
    followers = [] if owner is None else [owner]
    if unknown:
        citizen = await deps.store.create_citizen(city, requester.language)
        for channel, address in unknown:
            try:
                cp = await deps.store.add_contact(
                    city, citizen.id, channel, address, "pending", f"service request {rid}"
                )
            except AddressHeld:  # registered meanwhile: left alone
                continue
            await send_confirmation(deps, city, cp, citizen.language)
            contacts.append(cp)
        followers.append(citizen.id)
    for cid in followers:
        follow = Subscription(
            id=new_id("sub"),
            citizen=cid,
            kind="request",
            categories=(),
            min_severity="unknown",
            channels=(),  # every channel the requester has confirmed
            request=rid,
        )
        await deps.store.add_subscription(city, follow, [("request", rid)])
    await store.set_requester(city, rid, followers[0])
    return contacts
