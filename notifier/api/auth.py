"""Department API keys: random secrets, stored only as their SHA-256, scoped to one city, one
department and what they may do: ``publish`` (announcements, CAP, service requests),
``statistics`` (read events and requests with their delivery figures), ``templates`` (kept for
the template management to come).

::

    n:{city}:deptkey:{sha256 of the key}   hash  department, label, scopes, created_at
    n:{city}:dept:{department}:keys        set   sha256 of its keys
    n:{city}:departments                   set   departments that have had a key

A key is named by the first 12 hex digits of its hash (its id), for listing and revoking.

Operator keys are for the people who run the service: they create and change cities and read
a city's usage figures; one is for one city or (``*``) for every city::

    n:opkey:{sha256 of the key}            hash  city (or *), label, created_at

Like a department key, an operator key is named by its id (12 hex digits of its hash), listed
and revoked by it (``notifier operator-key list|revoke``); a revoked key is refused at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time

from aiohttp import web
from redis.asyncio import Redis

from subscriptions.errors import InvalidInput
from subscriptions.store import key
from subscriptions.subscription import DEPARTMENT

SCOPES = ("publish", "statistics", "templates")
DEFAULT_SCOPES = ("publish", "statistics")


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


async def create_department_key(
    redis: Redis,
    city: str,
    department: str,
    label: str = "",
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
) -> str:
    if not DEPARTMENT.fullmatch(department):
        raise InvalidInput("department", "2-40 characters: lower-case letters, digits and '-'")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidInput("scopes", f"one or more of {', '.join(SCOPES)}")
    api_key = "nk_" + secrets.token_urlsafe(32)
    digest = _digest(api_key)
    async with redis.pipeline(transaction=True) as p:
        p.hset(
            key(city, "deptkey", digest),
            mapping={
                "department": department,
                "label": label,
                "scopes": ",".join(sorted(set(scopes))),
                "created_at": str(int(time.time())),
            },
        )
        p.sadd(key(city, "dept", department, "keys"), digest)
        p.sadd(key(city, "departments"), department)
        await p.execute()
    return api_key


async def department_of(
    redis: Redis, city: str, api_key: str, scope: str = "publish"
) -> str | None:
    """The department of a key that has ``scope`` in this city, else None."""
    department, scopes = await redis.hmget(
        key(city, "deptkey", _digest(api_key)), "department", "scopes"
    )
    if department is None or scope not in (scopes or ",".join(DEFAULT_SCOPES)).split(","):
        return None
    return str(department)


async def list_keys(redis: Redis, city: str) -> list[dict[str, str]]:
    out = []
    for department in sorted(await redis.smembers(key(city, "departments"))):
        for digest in sorted(await redis.smembers(key(city, "dept", department, "keys"))):
            h = await redis.hgetall(key(city, "deptkey", digest))
            if h:
                out.append({"id": digest[:12], **h})
    return out


async def revoke_key(redis: Redis, city: str, key_id: str) -> str:
    """Revoke the key whose id (hash prefix) is ``key_id``; its department."""
    if not re.fullmatch(r"[0-9a-f]{12}", key_id):
        raise InvalidInput("id", "the 12 hex digits `department-key list` shows")
    for entry in await list_keys(redis, city):
        if entry["id"] == key_id:
            department = entry["department"]
            for digest in await redis.smembers(key(city, "dept", department, "keys")):
                if digest.startswith(key_id):
                    async with redis.pipeline(transaction=True) as p:
                        p.delete(key(city, "deptkey", digest))
                        p.srem(key(city, "dept", department, "keys"), digest)
                        await p.execute()
            return department
    raise InvalidInput("id", f"no key {key_id} in {city}")


async def create_operator_key(redis: Redis, city: str = "*", label: str = "") -> str:
    """A key for the operators of ``city`` ("*": of every city, who may also create cities)."""
    api_key = "no_" + secrets.token_urlsafe(32)
    await redis.hset(
        OPKEY + _digest(api_key),
        mapping={"city": city, "label": label, "created_at": str(int(time.time()))},
    )
    return api_key


OPKEY = "n:opkey:"


async def list_operator_keys(redis: Redis) -> list[dict[str, str]]:
    """Every operator key, by id (never the key), from the keys themselves (a rare command)."""
    out = []
    async for name in redis.scan_iter(match=OPKEY + "*", count=1000):
        h = await redis.hgetall(name)
        if h:
            out.append({"id": name.removeprefix(OPKEY)[:12], **h})
    return sorted(out, key=lambda r: (r.get("created_at", ""), r["id"]))


async def revoke_operator_key(redis: Redis, key_id: str) -> str:
    """Revoke the operator key whose id is ``key_id``; the city it was for ("*": all)."""
    if not re.fullmatch(r"[0-9a-f]{12}", key_id):
        raise InvalidInput("id", "the 12 hex digits `operator-key list` shows")
    async for name in redis.scan_iter(match=f"{OPKEY}{key_id}*", count=1000):
        city = await redis.hget(name, "city")
        if city is not None and await redis.delete(name):
            return str(city)
    raise InvalidInput("id", f"no operator key {key_id}")


async def require_operator(request: web.Request, redis: Redis, city: str) -> str:
    """The scope ("*" or the city) of the request's operator key, if it covers ``city``
    (``"*"``: a key for every city is needed); 401/403 otherwise."""
    scope = await redis.hget(OPKEY + _digest(bearer(request)), "city")
    if scope is None:
        raise web.HTTPUnauthorized(
            text='{"error": {"field": "Authorization", "reason": "not an operator key"}}',
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if scope != "*" and scope != city:
        raise web.HTTPForbidden(
            text='{"error": {"field": "Authorization", "reason": "this key is for another city"}}',
            content_type="application/json",
        )
    return str(scope)


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise web.HTTPUnauthorized(
            text='{"error": {"field": "Authorization", "reason": "a Bearer token is required"}}',
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


async def require_department(request: web.Request, redis: Redis, city: str, scope: str) -> str:
    """The department of the request's key: 401 for no or an unknown key, 403 for a key
    without ``scope``."""
    api_key = bearer(request)
    department = await department_of(redis, city, api_key, scope)
    if department is not None:
        return department
    if await redis.exists(key(city, "deptkey", _digest(api_key))):
        raise web.HTTPForbidden(
            text=json.dumps(
                {"error": {"field": "Authorization", "reason": f"this key may not {scope}"}}
            ),
            content_type="application/json",
        )
    raise web.HTTPUnauthorized(
        text='{"error": {"field": "Authorization", "reason": "unknown key for this city"}}',
        content_type="application/json",
        headers={"WWW-Authenticate": "Bearer"},
    )
