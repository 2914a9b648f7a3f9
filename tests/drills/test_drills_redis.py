"""Failure drill: redis-server (append-only file on) restarts while an announcement's emails
are going out. The ledger, the outbox and the schedule are in Redis; while it is away the worker
holds the delivery batch it was on (``streams.handlers.guarded``) and hands nothing more over;
once it is back with what its AOF kept, every email goes out, none twice beyond what was in
flight. The worker runs the held batch again, which takes back at once the claims its first run
left (no wait for their lease, which would be two minutes); a restart can cut a worker off
twice (stopping, then loading its AOF), each cut bounded so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.settings import Settings
from notifier.wiring import make_redis
from streams.delivery.send import unrecorded_at_most
from tests.drills.helpers import (
    RedisServer,
    a_fifth_reached,
    all_reached_and_settled,
    duplicates,
    email_flow,
    reached,
)

CITIZENS = 1000
DOWN_FOR = 3.0  # seconds between the stop and the start

pytestmark = pytest.mark.drill


@pytest.fixture
def own_redis(tmp_path: Path, logs: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", logs / f"redis-aof-{tmp_path.name}.log")
    server.up()
    yield server
    server.down()


@pytest.mark.timeout(180)
async def test_a_redis_restart_during_a_flow_loses_nothing(
    settings: Settings, own_redis: RedisServer, logs: Path
) -> None:
    s = settings.replace(redis_url=own_redis.url)
    redis = make_redis(s)  # the API's client, as ``notifier api`` makes it
    try:
        async with email_flow(s, redis, logs, CITIZENS) as f:
            smtp, api = f.smtp, f.api
            event = await api.announce("Pendant")
            sent_before = await a_fifth_reached(smtp, "Pendant", CITIZENS)
            own_redis.down()
            await asyncio.sleep(DOWN_FOR)  # Redis stays away this long
            own_redis.up()
            assert sent_before < CITIZENS, "the flow was over before the restart: no drill"
            # well within the claims' lease (LEASE_SECONDS, 120): what the worker had claimed
            # when Redis went away is taken back by the same batch's next run, not after it
            await all_reached_and_settled(f, event["href"], "Pendant", 45, "the restart")
            figures = await api.deliveries(event["href"])
            print(f"ledger after the restart: {figures}")
        received = reached(smtp.received(), "Pendant")
        assert sorted(set(received)) == sorted(f.to)
        assert figures == {"email": {"sent": CITIZENS}}
        # at most the messages the worker had in hand each time Redis went away from under it:
        # when it stopped, and once more when the worker's retry met it still loading its AOF
        bound = 2 * unrecorded_at_most(f.settings.send_concurrency)
        assert duplicates(received) <= bound, duplicates(received)
    finally:
        await redis.aclose()
