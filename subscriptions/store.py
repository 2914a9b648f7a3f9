"""Citizens, contact points, subscriptions and the consent ledger in Redis.

Every key starts with ``n:{city}:`` so a city's data never mixes with another's::

    n:{city}:citizen:{cid}              hash   id, language, timezone, created_at
    n:{city}:citizen:{cid}:contacts     set    contact point ids
    n:{city}:citizen:{cid}:subs         set    subscription ids
    n:{city}:citizen:{cid}:consent      list   JSON consent changes (what, when, how)
    n:{city}:contact:{pid}              hash   id, citizen, channel, address, status
    n:{city}:address:{channel}:{addr}   string contact point id (one citizen per address)
    n:{city}:sub:{sid}                  hash   id, citizen, kind, area, categories, channels, ...
    n:{city}:idx:area:{code}            set    area subscriptions on that area
    n:{city}:idx:geo:{quartier}         set    point and polygon subscriptions crossing it

Writes that touch several keys go through one MULTI/EXEC, so a crash never leaves a
subscription half-indexed.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from subscriptions.errors import InvalidInput, NotFound
from subscriptions.subscription import Subscription

LANGUAGES = ("fr", "en")
CONTACT_STATUSES = ("pending", "confirmed", "unsubscribed")


def key(city: str, *parts: str) -> str:
    return ":".join(("n", city, *parts))


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclasses.dataclass(frozen=True)
class ContactPoint:
    id: str
    citizen: str
    channel: str
    address: str
    status: str

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> ContactPoint:
        return cls(h["id"], h["citizen"], h["channel"], h["address"], h["status"])


@dataclasses.dataclass(frozen=True)
class Citizen:
    id: str
    language: str
    timezone: str


def normalise_email(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("email", "must be a string")
    addr = value.strip()
    local, at, domain = addr.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(addr) > 254
        or any(c.isspace() or c in '<>,;"\\' for c in addr)
    ):
        raise InvalidInput("email", "not an email address")
    return f"{local}@{domain.lower()}"


class SubscriptionStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create_citizen(
        self, city: str, email: str, language: str
    ) -> tuple[Citizen, ContactPoint]:
        if language not in LANGUAGES:
            raise InvalidInput("language", f"must be one of {', '.join(LANGUAGES)}")
        email = normalise_email(email)
        cid, pid = new_id("cit"), new_id("cp")
        # one citizen per mailbox: local parts are compared case-insensitively, as providers do
        claimed = await self.redis.set(key(city, "address", "email", email.lower()), pid, nx=True)
        if not claimed:
            raise InvalidInput("email", "already registered; ask for a management link instead")
        now = str(int(time.time()))
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(
                key(city, "citizen", cid),
                mapping={
                    "id": cid,
                    "language": language,
                    "timezone": "Europe/Paris",
                    "created_at": now,
                },
            )
            p.hset(
                key(city, "contact", pid),
                mapping={
                    "id": pid,
                    "citizen": cid,
                    "channel": "email",
                    "address": email,
                    "status": "pending",
                },
            )
            p.sadd(key(city, "citizen", cid, "contacts"), pid)
            p.rpush(key(city, "citizen", cid, "consent"), _consent(pid, "registered", "api"))
            await p.execute()
        return Citizen(cid, language, "Europe/Paris"), ContactPoint(
            pid, cid, "email", email, "pending"
        )

    async def citizen(self, city: str, cid: str) -> Citizen:
        h = await self.redis.hgetall(key(city, "citizen", cid))
        if not h:
            raise NotFound(f"no citizen {cid}")
        return Citizen(h["id"], h["language"], h["timezone"])

    async def contact(self, city: str, pid: str) -> ContactPoint:
        h = await self.redis.hgetall(key(city, "contact", pid))
        if not h:
            raise NotFound(f"no contact point {pid}")
        return ContactPoint.from_hash(h)

    async def contacts_of(self, city: str, cid: str) -> list[ContactPoint]:
        ids = sorted(await self.redis.smembers(key(city, "citizen", cid, "contacts")))
        return [c for c in await self.contacts(city, ids) if c is not None]

    async def contacts(self, city: str, ids: Iterable[str]) -> list[ContactPoint | None]:
        async with self.redis.pipeline(transaction=False) as p:
            for pid in ids:
                p.hgetall(key(city, "contact", pid))
            rows = await p.execute()
        return [ContactPoint.from_hash(h) if h else None for h in rows]

    async def confirmed_contacts(
        self, city: str, cids: list[str], channel: str
    ) -> dict[str, list[ContactPoint]]:
        """Each citizen's confirmed contact points on a channel, in two round trips."""
        async with self.redis.pipeline(transaction=False) as p:
            for cid in cids:
                p.smembers(key(city, "citizen", cid, "contacts"))
            id_sets = await p.execute()
        ids = [sorted(s) for s in id_sets]
        flat = await self.contacts(city, [pid for group in ids for pid in group])
        out: dict[str, list[ContactPoint]] = {}
        for cp in flat:
            if cp is not None and cp.channel == channel and cp.status == "confirmed":
                out.setdefault(cp.citizen, []).append(cp)
        return out

    async def set_contact_status(self, city: str, pid: str, status: str, how: str) -> ContactPoint:
        assert status in CONTACT_STATUSES
        cp = await self.contact(city, pid)
        if cp.status != status:
            async with self.redis.pipeline(transaction=True) as p:
                p.hset(key(city, "contact", pid), "status", status)
                p.rpush(key(city, "citizen", cp.citizen, "consent"), _consent(pid, status, how))
                await p.execute()
        return dataclasses.replace(cp, status=status)

    async def consent_log(self, city: str, cid: str) -> list[dict[str, Any]]:
        return [
            json.loads(x)
            for x in await self.redis.lrange(key(city, "citizen", cid, "consent"), 0, -1)
        ]

    async def add_subscription(
        self, city: str, sub: Subscription, index: list[tuple[str, str]]
    ) -> Subscription:
        """Store a subscription and its index entries in one transaction."""
        await self.citizen(city, sub.citizen)
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(
                key(city, "sub", sub.id),
                mapping={**sub.to_hash(), "created_at": str(int(time.time()))},
            )
            p.sadd(key(city, "citizen", sub.citizen, "subs"), sub.id)
            for kind, code in index:
                p.sadd(key(city, "idx", kind, code), sub.id)
            await p.execute()
        return sub

    async def subscriptions_of(self, city: str, cid: str) -> list[Subscription]:
        ids = sorted(await self.redis.smembers(key(city, "citizen", cid, "subs")))
        return await self.subscriptions(city, ids)

    async def subscriptions(self, city: str, ids: Iterable[str]) -> list[Subscription]:
        async with self.redis.pipeline(transaction=False) as p:
            for sid in ids:
                p.hgetall(key(city, "sub", sid))
            rows = await p.execute()
        return [Subscription.from_hash(h) for h in rows if h]

    async def citizens(self, city: str, ids: Iterable[str]) -> dict[str, Citizen]:
        ids = list(ids)
        async with self.redis.pipeline(transaction=False) as p:
            for cid in ids:
                p.hmget(key(city, "citizen", cid), "language", "timezone")
            rows = await p.execute()
        return {
            cid: Citizen(cid, lang, tz) for cid, (lang, tz) in zip(ids, rows, strict=True) if lang
        }


def _consent(pid: str, change: str, how: str) -> str:
    return json.dumps({"contact": pid, "change": change, "how": how, "at": int(time.time())})
