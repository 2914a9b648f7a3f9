"""Giving an address, answered the same whether it is new or already someone's.

A new address becomes a pending contact point and is asked to confirm (a push subscription,
made by the browser holding the citizen's token, is confirmed at once). An email address or
phone number another contact point holds does not move: the one who gave it gets a pending
contact point that holds nothing and can never be confirmed (``subscriptions.contact_life``),
and the holder, if confirmed, is sent their management link with a word that someone tried to
register their address again. So the answer tells the person typing nothing, and the owner of
the address learns what to do next. The limits on sending (``notifier.api.abuse``) are checked
before anything is written, by the caller.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from notifier.actions.confirmations import Confirming, send_confirmation, send_magic_link
from subscriptions import contact_life
from subscriptions.contacts import ContactPoint
from subscriptions.store import AddressHeld

Parsed = tuple[str, str, str, str]  # channel, address, p256dh, auth


class ContactAdding(Confirming, Protocol):
    enabled: tuple[str, ...]  # a holder is told on the channels this deployment sends on


async def give_contact(
    deps: ContactAdding, city: str, cid: str, language: str, parsed: Parsed, how: str
) -> ContactPoint:
    channel, address, p256dh, auth = parsed
    if channel == "push":  # a capability URL: whoever holds it is that browser
        status, how = "confirmed", "browser subscription"
        return await deps.store.add_contact(city, cid, channel, address, status, how, p256dh, auth)
    try:
        contact = await deps.store.add_contact(city, cid, channel, address, "pending", how)
    except AddressHeld:
        holder = await deps.store.contact_by_address(city, channel, address)
        if holder is not None and holder.citizen == cid:
            return holder  # given again by its own citizen
        if holder is not None and holder.status == "confirmed":
            await tell_holder(deps, city, holder)
        unheld = await contact_life.add_unheld(deps.store, city, cid, channel, address, how)
        await set_unsent_code(deps, city, unheld)
        return unheld
    await send_confirmation(deps, city, contact, language)
    return contact


async def set_unsent_code(deps: ContactAdding, city: str, contact: ContactPoint) -> None:
    """A phone number that holds nothing is given a code all the same, sent to nobody: a
    wrong guess answers as it would for any pending number."""
    if contact.channel == "sms":
        await deps.store.set_code(city, contact.id, f"{secrets.randbelow(10**6):06d}")


async def tell_holder(deps: ContactAdding, city: str, holder: ContactPoint) -> None:
    """Someone gave this confirmed address again: its citizen's management link goes to it."""
    if holder.channel in deps.enabled:
        citizen = await deps.store.citizen(city, holder.citizen)
        await send_magic_link(deps, city, holder, citizen.language, already_registered=True)
