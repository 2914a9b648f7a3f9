"""A citizen moves to another city and keeps their account.

What comes along: the contact points (same ids, same status: a confirmed address stays
confirmed), the consent ledger (with a ``moved`` entry in both cities), language (the new
city's default if it does not offer theirs) and preferences. What becomes of the subscriptions:

- area, point and polygon subscriptions: with a new ``home``, each becomes a radius
  subscription around it, with its categories (those the new city has), minimum severity,
  channels and cadence; without one they are listed to be chosen again;
- department subscriptions are listed to be chosen again (departments are the city's own);
- request follows stay in the old city until the request closes (``end_follows``): the old
  city keeps the citizen and their contact points for them, and nothing else; a week after
  the last one closes, that goes too.

The old city's other subscriptions are removed at once, so none of its events reaches the
citizen afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from subscriptions.areas import AreaCatalogue
from subscriptions.cities import City
from subscriptions.contacts import FIELDS, ContactPoint
from subscriptions.errors import Conflict, InvalidInput, NotFound
from subscriptions.store import Citizen, SubscriptionStore, address_key, key, new_id
from subscriptions.subscription import Subscription, parse_subscription

DEFAULT_RADIUS_M = 500.0
LEFTOVER_SECONDS = 7 * 86400


@dataclasses.dataclass(frozen=True)
class Moved:
    citizen: str
    subscriptions: list[Subscription]  # made in the new city
    to_choose_again: list[dict[str, Any]]  # the old ones that could not be carried
    following: list[str]  # service requests still followed in the old city


async def move(
    store: SubscriptionStore,
    old: str,
    cid: str,
    new: City,
    catalogue: AreaCatalogue,
    home: dict[str, Any] | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
) -> Moved:
    """Move citizen ``cid`` from city ``old`` to city ``new`` (its area ``catalogue``)."""
    if new.id == old:
        raise InvalidInput("to", "is the city the citizen is in")
    redis = store.redis
    raw = await redis.hgetall(key(old, "citizen", cid))
    if not raw:
        raise NotFound(f"no citizen {cid}", "no_citizen")
    citizen = Citizen.from_hash(raw)
    contacts = await store.contacts_of(old, cid)
    subs = await store.subscriptions_of(old, cid)
    follows = [s for s in subs if s.kind == "request"]
    carried, again = _carry(subs, cid, new, catalogue, home, radius_m)
    holds = [await redis.get(address_key(old, c.channel, c.address)) == c.id for c in contacts]
    made = [await redis.hget(key(old, "contact", c.id), "created_at") for c in contacts]
    await _claim_addresses(store, new.id, [c for c, h in zip(contacts, holds, strict=True) if h])
    moved_at = int(time.time())
    language = citizen.language if citizen.language in new.languages else new.default_language
    consent = await redis.lrange(key(old, "citizen", cid, "consent"), 0, -1)
    entry = {"change": "moved", "from": old, "to": new.id, "how": "citizen", "at": moved_at}
    async with redis.pipeline(transaction=True) as p:
        p.hset(
            key(new.id, "citizen", cid),
            mapping={**raw, "language": language, "moved_from": old},
        )
        for cp, at in zip(contacts, made, strict=True):  # a pending one keeps its time
            kept = {"created_at": at} if at else {}
            p.hset(key(new.id, "contact", cp.id), mapping={**cp.to_hash(), **kept})
            p.sadd(key(new.id, "citizen", cid, "contacts"), cp.id)
        if consent:
            p.rpush(key(new.id, "citizen", cid, "consent"), *consent)
        p.rpush(key(new.id, "citizen", cid, "consent"), json.dumps(entry))
        await p.execute()
    # each city's keys in a transaction of its own (two slots on a Redis Cluster): the new
    # city's first, so that a move cut in between is made again whole by its retry
    async with redis.pipeline(transaction=True) as p:
        p.rpush(key(old, "citizen", cid, "consent"), json.dumps(entry))
        p.hset(key(old, "citizen", cid), "moved_to", new.id)
        await p.execute()
    for sub, index in carried:
        await store.add_subscription(new.id, sub, index)
    for s in subs:
        if s.kind != "request":
            await store.remove_subscription(old, cid, s.id)
    if not follows:
        await store.erase_citizen(old, cid)
    return Moved(cid, [s for s, _ in carried], again, sorted({s.request for s in follows}))


def _carry(
    subs: list[Subscription],
    cid: str,
    new: City,
    catalogue: AreaCatalogue,
    home: dict[str, Any] | None,
    radius_m: float,
) -> tuple[list[tuple[Subscription, list[tuple[str, str]]]], list[dict[str, Any]]]:
    """The new city's subscriptions made from the old ones, and those to choose again."""
    carried: dict[str, tuple[Subscription, list[tuple[str, str]]]] = {}
    again = []
    for s in subs:
        if s.kind == "request":
            continue
        if s.kind == "department" or home is None:
            again.append(s.public())
            continue
        categories = [c for c in s.categories if c in new.categories]
        if s.categories and not categories:
            again.append(s.public())  # none of its categories exists there
            continue
        body = {
            "point": home,
            "radius_m": radius_m,
            "categories": categories,
            "min_severity": s.min_severity,
            "channels": list(s.channels),
            "cadence": s.cadence.to_json(),
        }
        try:
            sub, index = parse_subscription(
                body, sid=new_id("sub"), citizen=cid, catalogue=catalogue
            )
        except InvalidInput as e:  # the home is not in the new city, a radius out of bounds
            raise InvalidInput("home" if e.field == "point" else e.field, e.reason) from None
        same = json.dumps({k: v for k, v in sub.public().items() if k != "id"}, sort_keys=True)
        carried.setdefault(same, (sub, index))  # two old ones alike make one new one
    return list(carried.values()), again


async def _claim_addresses(
    store: SubscriptionStore, city: str, contacts: list[ContactPoint]
) -> None:
    """Each address for this citizen in the new city, or ``Conflict`` and nothing kept. An
    address that is this contact point's already (a move made again) is kept."""
    claimed: list[str] = []
    for cp in contacts:
        k = address_key(city, cp.channel, cp.address)
        if await store.redis.set(k, cp.id, nx=True):
            claimed.append(k)
        elif await store.redis.get(k) != cp.id:
            if claimed:
                await store.redis.delete(*claimed)
            raise Conflict(FIELDS[cp.channel], f"already registered in {city} by another account")


async def left_behind(store: SubscriptionStore, city: str, cid: str) -> str | None:
    """The city a citizen moved from that still holds some of them (their request follows),
    if any: an erasure erases that too."""
    old = await store.redis.hget(key(city, "citizen", cid), "moved_from")
    if old and await store.redis.hget(key(old, "citizen", cid), "moved_to") == city:
        return str(old)
    return None


async def end_follows(store: SubscriptionStore, city: str, rid: str) -> int:
    """A closed request: the follows of citizens who have moved away end. A moved citizen with
    nothing left to follow in the old city is kept there ``LEFTOVER_SECONDS`` more (the closing
    message and its retries need their contact point), then Redis lets it go. The number of
    follows ended."""
    redis = store.redis
    sids = sorted(await redis.smembers(key(city, "idx", "request", rid)))
    ended = 0
    for sub in await store.subscriptions(city, sids):
        cid = sub.citizen
        if not await redis.hexists(key(city, "citizen", cid), "moved_to"):
            continue
        await store.remove_subscription(city, cid, sub.id)
        ended += 1
        if await redis.scard(key(city, "citizen", cid, "subs")):
            continue
        contacts = await store.contacts_of(city, cid)
        keys = [key(city, "citizen", cid, *part) for part in ((), ("contacts",), ("consent",))]
        keys += [key(city, "contact", cp.id) for cp in contacts]
        for cp in contacts:  # those it holds (``subscriptions.contact_life``)
            if await redis.get(address_key(city, cp.channel, cp.address)) == cp.id:
                keys.append(address_key(city, cp.channel, cp.address))
        async with redis.pipeline(transaction=True) as p:
            for k in keys:
                p.expire(k, LEFTOVER_SECONDS)
            await p.execute()
    return ended
