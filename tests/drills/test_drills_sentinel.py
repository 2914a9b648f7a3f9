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
from streams.delivery.send import unrecorded_at_most
from tests.drills.helpers import (
    Api,
    a_fifth_reached,
    all_reached_and_settled,
    duplicates,
    email_flow,
    reached,
)
from tests.redis_sentinel import SentinelGroup
from tests.stage import eventually

CITIZENS = 1000

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
    s = settings.replace(redis_url=sentinel.url)
    redis = make_redis(s)  # the API's client, as ``notifier api`` makes it
    statuses: list[tuple[int, str | None]] = []
    try:
        async with email_flow(s, redis, logs, CITIZENS) as f:
            smtp, api = f.smtp, f.api
            event = await api.announce("Pendant")
            sent_before = await a_fifth_reached(smtp, "Pendant", CITIZENS)
            probing = asyncio.create_task(_probe(api, event["href"], statuses))
            move = sentinel.failover if how == "failover" else sentinel.kill_primary
            await asyncio.to_thread(move)
            assert sent_before < CITIZENS, "the flow was over before the failover: no drill"
            try:
                await all_reached_and_settled(f, event["href"], "Pendant", 60, "the failover")
            finally:
                probing.cancel()
            figures = await api.deliveries(event["href"])
        received = reached(smtp.received(), "Pendant")
        print(
            f"{how}: ledger after it {figures}; {duplicates(received)} duplicates; "
            f"API answers meanwhile {_counted(statuses)}"
        )
        assert sorted(set(received)) == sorted(f.to)
        assert figures == {"email": {"sent": CITIZENS}}
        # the messages the worker had in hand when its connection to the primary went
        assert duplicates(received) <= 2 * unrecorded_at_most(f.settings.send_concurrency)
        # while there was no primary the API said so: 503 with Retry-After, never a 500
        assert all(code in (200, 503) for code, _ in statuses), _counted(statuses)
        assert all(after for code, after in statuses if code == 503), _counted(statuses)
    finally:
        await redis.aclose()


async def _probe(api: Api, href: str, statuses: list[tuple[int, str | None]]) -> None:
    """The department's figures read every 50 ms, as a console open on the event does."""
    while True:
        r = await api.client.get(href, headers={"Authorization": f"Bearer {api.key}"})
        statuses.append((r.status, r.headers.get("Retry-After")))
        r.release()
        await asyncio.sleep(0.05)


def _counted(statuses: list[tuple[int, str | None]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for code, _ in statuses:
        out[code] = out.get(code, 0) + 1
    return out
