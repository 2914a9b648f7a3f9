"""Failure drill: on a Redis Cluster (``NOTIFIER_REDIS_URL=redis+cluster://...``), the primary
that holds the city's slot is killed with SIGKILL while an announcement's emails are going out.
The cluster's other nodes notice it (``cluster-node-timeout``), its replica is elected in its
place, and the clients of the API, the worker and the command line, which had their
connections to it cut, read the cluster's map of the slots again and go on with the new
primary, without a restart.

Replication is asynchronous: what the killed primary had not yet sent to its replica is lost
(docs/deployment.md: "What a failover can lose"). The drill checks what the service makes of
that: every recipient served, duplicates within what was in flight, and the API answering 503
with ``Retry-After`` (never 500) while the slot has no primary."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from notifier.dev.redis_cluster import ClusterGroup

from notifier.settings import Settings
from notifier.wiring import make_redis
from streams.delivery.send import unrecorded_at_most
from subscriptions.store import key
from tests.drills.helpers import (
    Api,
    a_fifth_reached,
    all_reached_and_settled,
    duplicates,
    email_flow,
    reached,
)

CITIZENS = 1000

pytestmark = pytest.mark.drill


@pytest.fixture
def cluster(tmp_path: Path, logs: Path) -> Iterator[ClusterGroup]:
    group = ClusterGroup(tmp_path / "cluster", logs)
    try:
        group.up()
        yield group
    finally:
        group.down()


@pytest.mark.timeout(240)
async def test_a_cluster_primary_killed_during_a_flow_loses_no_email(
    settings: Settings, cluster: ClusterGroup, logs: Path
) -> None:
    s = settings.replace(redis_url=cluster.url)
    redis = make_redis(s)  # the API's client, as ``notifier api`` makes it
    statuses: list[tuple[int, str | None]] = []
    try:
        async with email_flow(s, redis, logs, CITIZENS) as f:
            smtp, api = f.smtp, f.api
            event = await api.announce("Pendant")
            sent_before = await a_fifth_reached(smtp, "Pendant", CITIZENS)
            probing = asyncio.create_task(_probe(api, event["href"], statuses))
            city_slot = key("paris", "subs", "log")
            await asyncio.to_thread(cluster.kill_primary, city_slot)
            assert sent_before < CITIZENS, "the flow was over before the kill: no drill"
            try:
                await all_reached_and_settled(f, event["href"], "Pendant", 60, "the failover")
            finally:
                probing.cancel()
            figures = await api.deliveries(event["href"])
        received = reached(smtp.received(), "Pendant")
        print(
            f"kill -9: ledger after it {figures}; {duplicates(received)} duplicates; "
            f"API answers meanwhile {_counted(statuses)}"
        )
        assert sorted(set(received)) == sorted(f.to)
        assert figures == {"email": {"sent": CITIZENS}}
        # the messages the worker had in hand when its connection to the primary went
        assert duplicates(received) <= 2 * unrecorded_at_most(f.settings.send_concurrency)
        # while the slot had no primary the API said so: 503 with Retry-After, never a 500
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
