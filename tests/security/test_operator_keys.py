"""Operator keys are revocable, as department keys are: listed by id (never the key) and
revoked with the CLI; a revoked key is refused at once."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.api.auth import create_operator_key
from notifier.settings import Settings
from tests.command import run

Client = TestClient[Any, Any]


async def test_an_operator_key_is_listed_and_revoked(
    api: Client, redis: Redis, settings: Settings
) -> None:
    everywhere = await create_operator_key(redis, "*", "on call")
    paris = await create_operator_key(redis, "paris", "paris ops")
    usage = "/v1/cities/paris/usage"
    for k in (everywhere, paris):
        assert (await api.get(usage, headers={"Authorization": f"Bearer {k}"})).status == 200
    key_id = hashlib.sha256(everywhere.encode()).hexdigest()[:12]

    listed = run("operator-key", "list", env=settings.to_env())
    assert listed.returncode == 0, listed.stderr
    assert key_id in listed.stdout and "on call" in listed.stdout
    assert everywhere not in listed.stdout and paris not in listed.stdout  # ids, never keys

    revoked = run("operator-key", "revoke", key_id, env=settings.to_env())
    assert revoked.returncode == 0, revoked.stderr
    r = await api.get(usage, headers={"Authorization": f"Bearer {everywhere}"})
    assert r.status == 401
    assert (await api.get(usage, headers={"Authorization": f"Bearer {paris}"})).status == 200
    again = run("operator-key", "revoke", key_id, env=settings.to_env())
    assert again.returncode != 0 and "no operator key" in again.stderr
