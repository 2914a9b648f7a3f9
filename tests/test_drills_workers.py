"""Failure drills: a worker killed with SIGKILL in the middle of a large fan-out.

1. One worker, restarted after the kill: every notification reaches the SMTP server, and none
   twice beyond the messages the killed worker had in hand (handed to the server, not yet
   written in the ledger: ``streams.send.unrecorded_at_most``, a chunk's worth and what was
   in flight).
2. Two workers in one consumer group, one killed: the other takes over its partitions and
   delivers the rest, with the same bound on duplicates.

The fan-out is 20,000 notifications by default (about a minute here);
``DRILL_FANOUT=100000`` runs the issue's full 100,000.

A killed worker's claims in the ledger stay ``sending`` until their lease ends (two minutes,
``streams.ledger.LEASE_SECONDS``); the drills fast-forward that wait (``end_leases``) rather than
sit through it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from notifier.settings import Settings
from streams.send import unrecorded_at_most
from tests.conftest import eventually
from tests.drill_helpers import (
    Api,
    duplicates,
    email_flow,
    end_leases,
    reached,
    redis_time,
    settled,
)

FANOUT = int(os.environ.get("DRILL_FANOUT", "20000"))

pytestmark = pytest.mark.drill


async def until_everyone(
    redis: Redis,
    got: Callable[[], int],
    n: int,
    killed_at: float,
    within: float,
    figures: Callable[[], Awaitable[Any]],
) -> None:
    """Wait until ``got()`` reaches ``n``; the killed worker's claims are let go when the flow
    otherwise stops."""
    last = (-1, time.monotonic())

    async def done() -> bool:
        nonlocal last
        now = got()
        if now >= n:
            return True
        if now != last[0]:
            last = (now, time.monotonic())
        elif time.monotonic() - last[1] > 5:  # no progress for 5 s: only held claims are left
            await end_leases(redis, killed_at)
            last = (now, time.monotonic())
        return False

    try:
        await eventually(done, within=within, what="every notification after the kill")
    except AssertionError as e:
        raise AssertionError(f"{e}: {got()} of {n}; ledger {await figures()}") from None


@pytest.mark.timeout(180 + FANOUT // 40)
async def test_a_worker_killed_mid_fanout_and_restarted_sends_everything_once(
    settings: Settings, redis: Redis, logs: Path
) -> None:
    async with email_flow(settings, redis, logs, FANOUT) as f:
        smtp, api, [first] = f.smtp, f.api, f.workers
        event = await api.announce("Grande")
        await eventually(
            lambda: len(reached(smtp.received(), "Grande")) >= FANOUT // 4,
            within=FANOUT / 50,
            what="a quarter of the fan-out",
        )
        first.kill()
        killed_at = await redis_time(redis)  # after: no claim of the killed worker is newer
        at_kill = len(reached(smtp.received(), "Grande"))
        assert at_kill < FANOUT, "the fan-out was over before the kill: no drill"
        f.start_worker("2")
        await until_everyone(
            redis,
            lambda: len(set(reached(smtp.received(), "Grande"))),
            FANOUT,
            killed_at,
            within=60 + FANOUT / 50,
            figures=lambda: api.deliveries(event["href"]),
        )
        await eventually(lambda: _settled(api, event["href"], FANOUT), within=60, what="the ledger")
        figures = await api.deliveries(event["href"])
        received = reached(smtp.received(), "Grande")
        assert sorted(set(received)) == sorted(f.to)  # everyone
        assert figures == {"email": {"sent": FANOUT}}
        print(f"{FANOUT} notifications, killed at {at_kill}: {duplicates(received)} duplicates")
        assert duplicates(received) <= unrecorded_at_most(f.settings.send_concurrency)


EVENTS = 8  # announcements: their delivery batches spread over the partitions by event id
AUDIENCE = 1000


@pytest.mark.timeout(300)
async def test_two_workers_one_killed_the_other_takes_over(
    settings: Settings, redis: Redis, logs: Path
) -> None:
    async with email_flow(settings, redis, logs, AUDIENCE, workers=("a", "b")) as f:
        smtp, api, workers = f.smtp, f.api, f.workers
        await eventually(
            lambda: (
                all("_on_partitions_assigned" in w.log.read_text() for w in workers)
                and all(w.alive() for w in workers)
            ),
            within=60,
            what="both workers holding partitions",
        )
        titles = [f"Lot {n}" for n in range(EVENTS)]
        events = [await api.announce(t) for t in titles]

        def lot() -> list[tuple[str, str]]:
            return [(to_, t) for to_, text in smtp.received() for t in titles if t in text]

        def got() -> int:
            return len(set(lot()))

        total = EVENTS * AUDIENCE
        await eventually(lambda: got() >= total // 5, within=60, what="a fifth of the lot")
        # kill the worker that has sent the most so far: it holds partitions with work
        busiest = max(workers, key=lambda w: w.log.read_text().count("outcome=sent"))
        busiest.kill()
        killed_at = await redis_time(redis)  # after: no claim of the killed worker is newer
        at_kill = got()
        assert at_kill < total, "the lot was all sent before the kill: no drill"
        survivor = next(w for w in workers if w is not busiest)
        sent_by_survivor = survivor.log.read_text().count("outcome=sent")

        async def figures_now() -> list[dict[str, dict[str, int]]]:
            return [await api.deliveries(e["href"]) for e in events]

        await until_everyone(redis, got, total, killed_at, within=120, figures=figures_now)
        for e in events:
            await eventually(
                functools.partial(_settled, api, e["href"], AUDIENCE),
                within=60,
                what="the ledger",
            )
        figures = await figures_now()
        assert survivor.alive() and not busiest.alive()
        assert survivor.log.read_text().count("outcome=sent") > sent_by_survivor
        received = lot()
        assert {to_ for to_, _ in received} == set(f.to)
        assert figures == [{"email": {"sent": AUDIENCE}}] * EVENTS
        print(f"{total} notifications, killed at {at_kill}: {duplicates(received)} duplicates")
        assert duplicates(received) <= unrecorded_at_most(f.settings.send_concurrency)


async def _settled(api: Api, href: str, n: int) -> bool:
    return settled(await api.deliveries(href), "email", n)
