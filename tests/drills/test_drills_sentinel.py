"""Failure drill: the Redis primary fails over, through Sentinel, while an announcement's emails
are going out (``NOTIFIER_REDIS_URL=redis+sentinel://...``; ``notifier.redis_urls``). The API,
the worker and the command line ask the Sentinels where the primary is at each new connection;
a connection to the old primary is closed at its first error (gone, or refusing writes as a
replica), and the command it carried is sent once more to the new primary.

Replication is asynchronous, and a failover can lose writes (docs/deployment.md: "What a
failover can lose"): a primary killed with SIGKILL, what it had not yet sent to its replica; a
``SENTINEL FAILOVER``, what its clients wrote on the old primary between the replica's
promotion and the old primary's turn into a replica. The drills check what the service makes
of that: every recipient served, duplicates within what was in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

from notifier.settings import Settings
from notifier.wiring import make_redis
from tests.drills.helpers import primary_lost_during_a_flow
from tests.redis_sentinel import SentinelGroup
from tests.stage import eventually

pytestmark = pytest.mark.drill


@pytest.fixture
def sentinel(tmp_path: Path, logs: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path / "sentinel", logs)
    try:
        group.up()
        yield group
    finally:
        group.down()


async def test_the_client_follows_the_primary_through_a_failover(
    settings: Settings, sentinel: SentinelGroup
) -> None:
    redis = make_redis(settings.replace(redis_url=sentinel.url))
    try:
        await redis.set("n:drill:before", "1")
        assert await redis.execute_command("WAIT", 1, 5000) == 1  # on the replica too
        first = sentinel.primary()
        second = await asyncio.to_thread(sentinel.failover)
        assert second != first
        # the same client, no restart: its writes land on the new primary (those it made on
        # the old one before the Sentinels turned it into a replica are lost: module docstring)
        written = iter(range(1_000_000))

        async def lands_on_the_new_primary() -> bool:
            k = f"n:drill:after:{next(written)}"
            try:
                await redis.set(k, "1")
            except RedisError:
                return False
            with Redis(port=second, decode_responses=True) as r:
                return bool(r.get(k) == "1")

        await eventually(lands_on_the_new_primary, within=20, what="a write on the new primary")
        assert await redis.get("n:drill:before") == "1"  # replicated before the switch
    finally:
        await redis.aclose()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["failover", "kill -9"])
async def test_a_failover_during_a_flow_loses_no_email(
    settings: Settings, sentinel: SentinelGroup, logs: Path, how: str
) -> None:
    move = sentinel.failover if how == "failover" else sentinel.kill_primary
    await primary_lost_during_a_flow(settings.replace(redis_url=sentinel.url), logs, move, how)
