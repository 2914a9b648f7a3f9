"""A subscription changed in place, and a new contact point joining the subscriptions made
before it.

An edit keeps everything it does not name: the body's keys replace the subscription's, and a
body that names another place (``area``, ``point``, ``polygon``, ``department``) replaces the
old place with it. The result is checked as a new subscription is (``parse_subscription``) and
written with its id kept, its index entries swapped, and an ``add`` in the change log (the
processes that match events replace their copy: ``subscriptions.live_index``), in one
transaction.

A contact point confirmed on a channel the citizen had no confirmed contact point on joins
every subscription made before it was given: those could not have chosen that channel (there
was nothing to send to), and a citizen who adds a phone expects the alerts they already follow
to come by SMS too. A subscription made while the contact point was there (pending or not),
or while another confirmed one of its channel was, left that channel out on purpose: it stays
as it is. A follow of a service request with no channels already uses every confirmed one.
"""

from __future__ import annotations

import json
from typing import Any

from subscriptions.areas import AreaCatalogue
from subscriptions.contacts import ContactPoint
from subscriptions.errors import InvalidInput, NotFound
from subscriptions.store import SETS, SubscriptionStore, key, log_changes
from subscriptions.subscription import KINDS, Subscription, parse_subscription

PLACES = ("area", "point", "polygon", "department")  # the places an edit may move a filter to
FILTERS = ("categories", "min_severity", "channels", "cadence")
EDITABLE = (*PLACES, "radius_m", *FILTERS)


def merged(current: Subscription, body: dict[str, Any]) -> dict[str, Any]:
    """The subscription's body with the edit's keys over it (a new place replaces the old)."""
    unknown = sorted(set(body) - set(EDITABLE))
    if unknown:
        reason = "cannot be changed" if unknown[0] in KINDS else "not a field of a subscription"
        raise InvalidInput(unknown[0], f"{reason} (changeable: {', '.join(EDITABLE)})")
    if current.kind == "request":
        raise InvalidInput("request", "a followed request has nothing to change: remove it")
    was = current.public()
    if any(body.get(p) is not None for p in PLACES):
        for name in (*PLACES, "radius_m"):
            was.pop(name, None)
    was.pop("id")
    was.pop("kind")
    return {**was, **{k: v for k, v in body.items() if v is not None}}


async def edit_subscription(
    store: SubscriptionStore,
    city: str,
    cid: str,
    sid: str,
    body: dict[str, Any],
    catalogue: AreaCatalogue,
) -> tuple[Subscription, list[tuple[str, str]]]:
    """The citizen's subscription ``sid`` with ``body`` applied, checked, and its index
    entries; nothing is written (``replace`` writes it)."""
    current = await subscription_of(store, city, cid, sid)
    return parse_subscription(merged(current, body), sid=sid, citizen=cid, catalogue=catalogue)


async def subscription_of(store: SubscriptionStore, city: str, cid: str, sid: str) -> Subscription:
    found = await store.subscriptions(city, [sid])
    if not found or found[0].citizen != cid:
        raise NotFound(f"no subscription {sid}")
    return found[0]


async def replace(
    store: SubscriptionStore, city: str, sub: Subscription, index: list[tuple[str, str]]
) -> Subscription:
    """Write the changed subscription over the old one, its index entries swapped."""
    k = key(city, "sub", sub.id)
    old = json.loads(await store.redis.hget(k, "index") or "[]")
    async with store.redis.pipeline(transaction=True) as p:
        for kind, code in old:
            p.srem(key(city, "idx", kind, code), sub.id)
        for kind, code in index:
            if kind in SETS:
                p.sadd(key(city, "idx", kind, code), sub.id)
        # created_at stays: it says which contact points came after (``join``)
        p.hset(k, mapping={**sub.to_hash(), "index": json.dumps(index)})
        log_changes(p, city, "add", [sub.id])
        await p.execute()
    return sub


async def join(store: SubscriptionStore, city: str, cp: ContactPoint) -> list[str]:
    """A newly confirmed contact point joins the subscriptions made before it (see above);
    the ids of those it joined."""
    others = [
        c
        for c in await store.contacts_of(city, cp.citizen)
        if c.channel == cp.channel and c.status == "confirmed" and c.id != cp.id
    ]
    if others:
        return []
    given = int(await store.redis.hget(key(city, "contact", cp.id), "created_at") or 0)
    sids = sorted(await store.redis.smembers(key(city, "citizen", cp.citizen, "subs")))
    joined = []
    async with store.redis.pipeline(transaction=False) as p:
        for sid in sids:
            p.hmget(key(city, "sub", sid), "channels", "created_at", "kind")
        rows = await p.execute()
    async with store.redis.pipeline(transaction=True) as p:
        for sid, (channels, made, kind) in zip(sids, rows, strict=True):
            wanted = json.loads(channels or "[]")
            if kind is None or cp.channel in wanted or int(made or 0) >= given:
                continue
            if kind == "request" and not wanted:  # every confirmed channel already
                continue
            p.hset(key(city, "sub", sid), "channels", json.dumps(sorted({*wanted, cp.channel})))
            joined.append(sid)
        log_changes(p, city, "add", joined)
        await p.execute()
    return joined
