"""A contact point's life past its making: pending ones end after ``PENDING_SECONDS`` (their
address may then be registered by anyone), a citizen removes one (its address is freed), and
the contact points that do not hold their address.

A contact point *holds* its address when ``n:{city}:address:{channel}:{addr}`` names it. One
that does not is made when someone gives an address another contact point holds: it looks
like any pending contact point to whoever gave it (so the answer tells nobody the address is
registered), can never be confirmed (no link or code is ever sent for it), and ends as a
pending one does.
"""

from __future__ import annotations

import time

from subscriptions.contacts import ContactPoint
from subscriptions.store import (
    PENDING_SECONDS,
    RELEASE,
    SubscriptionStore,
    _consent,
    address_key,
    key,
    new_id,
)

__all__ = ["PENDING_SECONDS", "add_unheld", "drop_expired", "expired", "holds_address", "remove"]


async def add_unheld(
    store: SubscriptionStore, city: str, cid: str, channel: str, address: str, how: str
) -> ContactPoint:
    """A pending contact point for an address another one holds (it claims nothing)."""
    cp = ContactPoint(new_id("cp"), cid, channel, address, "pending")
    return await store.keep_contact(city, cp, how)


async def holds_address(store: SubscriptionStore, city: str, cp: ContactPoint) -> bool:
    return bool(await store.redis.get(address_key(city, cp.channel, cp.address)) == cp.id)


async def expired(store: SubscriptionStore, city: str, cp: ContactPoint) -> bool:
    """A pending contact point past its time (one made before times were kept has its time
    start when it is first looked at)."""
    if cp.status != "pending":
        return False
    k = key(city, "contact", cp.id)
    made = await store.redis.hget(k, "created_at")
    if made is None:
        await store.redis.hsetnx(k, "created_at", str(int(time.time())))
        return False
    return int(made) + PENDING_SECONDS <= time.time()


async def remove(
    store: SubscriptionStore, city: str, cp: ContactPoint, how: str, change: str = "removed"
) -> None:
    """The contact point goes (its address freed if it held it); the consent log says how."""
    async with store.redis.pipeline(transaction=True) as p:
        p.eval(RELEASE, 1, address_key(city, cp.channel, cp.address), cp.id)
        p.delete(key(city, "contact", cp.id), key(city, "code", cp.id))
        p.srem(key(city, "citizen", cp.citizen, "contacts"), cp.id)
        p.rpush(key(city, "citizen", cp.citizen, "consent"), _consent(cp.id, change, how))
        await p.execute()


async def drop_expired(store: SubscriptionStore, city: str, cid: str) -> list[ContactPoint]:
    """End this citizen's pending contact points past their time; those that are left."""
    left = []
    for cp in await store.contacts_of(city, cid):
        if await expired(store, city, cp):
            await remove(store, city, cp, "not confirmed in time", "expired")
        else:
            left.append(cp)
    return left
