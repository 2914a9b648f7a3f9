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

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.dev.redis_cluster import ClusterGroup
from notifier.settings import Settings
from subscriptions.store import key
from tests.drills.helpers import primary_lost_during_a_flow

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
    city_slot = key("paris", "subs", "log")  # every key of the city is in its slot
    s = settings.replace(redis_url=cluster.url)
    await primary_lost_during_a_flow(s, logs, lambda: cluster.kill_primary(city_slot), "kill -9")
