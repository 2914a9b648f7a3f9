"""Department API keys: random secrets, stored only as their SHA-256, scoped to one city and
one department.

::

    n:{city}:deptkey:{sha256 of the key}   hash  department, label, created_at
    n:{city}:dept:{department}:keys        set   sha256 of its keys
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

from aiohttp import web
from redis.asyncio import Redis

from subscriptions.errors import InvalidInput
from subscriptions.store import key

DEPARTMENT = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


async def create_department_key(redis: Redis, city: str, department: str, label: str = "") -> str:
    if not DEPARTMENT.match(department):
        raise InvalidInput("department", "2-40 characters: lower-case letters, digits and '-'")
    api_key = "nk_" + secrets.token_urlsafe(32)
    digest = _digest(api_key)
    async with redis.pipeline(transaction=True) as p:
        p.hset(
            key(city, "deptkey", digest),
            mapping={"department": department, "label": label, "created_at": str(int(time.time()))},
        )
        p.sadd(key(city, "dept", department, "keys"), digest)
        await p.execute()
    return api_key


async def department_of(redis: Redis, city: str, api_key: str) -> str | None:
    return await redis.hget(key(city, "deptkey", _digest(api_key)), "department")


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


async def require_department(request: web.Request, redis: Redis, city: str) -> str:
    department = await department_of(redis, city, bearer(request))
    if department is None:
        raise web.HTTPUnauthorized(
            text='{"error": {"field": "Authorization", "reason": "unknown key for this city"}}',
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return department
