"""Failure drills: a worker killed with SIGKILL in the middle of a large fan-out.

1. One worker, restarted after the kill: every notification reaches the SMTP server, and none
   twice beyond the messages the killed worker had in hand (handed to the server, not yet
   written in the ledger: ``streams.delivery.send.unrecorded_at_most``, a chunk's worth and what was
   in flight).
2. Two workers in one consumer group, one killed: the other takes over its partitions and
   delivers the rest, with the same bound on duplicates.

The fan-out is 20,000 notifications by default (about a minute here);
``DRILL_FANOUT=100000`` runs the issue's full 100,000.

Nothing is fast-forwarded: a killed worker stops beating, and once its liveness is over (the
consumer group's session timeout, 6 s here) the batches run again take its claims back, well before
their lease (two minutes, ``streams.state.ledger.LEASE_SECONDS``) would have. Each drill checks that
order in the ledger (every claim the killed worker held was taken back before its lease ended) and
prints the seconds from the kill to the last recipient: a figure, not an assertion. The first also
prints where they went, from the restarted worker's log: the process up, the group joined, the first
and last message handed over, the killed worker's claims back, the rate of the messages left.
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
from streams.delivery.send import unrecorded_at_most
from streams.state.ledger import LEASE_SECONDS
from tests.drills.helpers import (
    Api,
    claims_held,
    duplicates,
    email_flow,
    reached,
    restart_figures,
    settled,
)
from tests.stage import eventually

FANOUT = int(os.environ.get("DRILL_FANOUT", "20000"))

pytestmark = pytest.mark.drill


async def until_everyone(
    redis: Redis,
    got: Callable[[], int],
    n: int,
    held: dict[str, float],
    within: float,
    figures: Callable[[], Awaitable[Any]],
) -> tuple[float, float | None]:
    """Wait until ``got()`` reaches ``n``, nothing fast-forwarded; check that every claim the
    killed worker ``held`` (record key -> when claimed) was taken back before its lease would
    have let it go. The seconds from the kill to the last recipient, and to the last of those
    claims taken back (None if none was: all were done before the kill)."""
    killed, wall = time.monotonic(), time.time()
    try:
        await eventually(
            lambda: got() >= n, within=within, what="every notification after the kill"
        )
    except AssertionError as e:
        raise AssertionError(f"{e}: {got()} of {n}; ledger {await figures()}") from None
    seconds = time.monotonic() - killed
    async with redis.pipeline(transaction=False) as p:
        for k in held:
            p.hmget(k, "status", "claimed_at")
        rows = await p.execute()
    late = [
        k
        for (k, before), (status, claimed) in zip(held.items(), rows, strict=True)
        if status != "sending" and float(claimed) >= before + LEASE_SECONDS
    ]
    assert not late, (
        f"{len(late)} of {len(held)} claims were taken back only when their lease ended"
    )
    back = [float(c) for b, (_, c) in zip(held.values(), rows, strict=True) if c and float(c) > b]
    return seconds, (max(back) - wall if back else None)


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
        killed = time.time()
        held = await claims_held(redis)
        at_kill = len(reached(smtp.received(), "Grande"))
        assert at_kill < FANOUT, "the fan-out was over before the kill: no drill"
        second = f.start_worker("2")
        seconds, back = await until_everyone(
            redis,
            lambda: len(set(reached(smtp.received(), "Grande"))),
            FANOUT,
            held,
            within=60 + FANOUT / 50,
            figures=lambda: api.deliveries(event["href"]),
        )
        await eventually(lambda: _settled(api, event["href"], FANOUT), within=60, what="the ledger")
        figures = await api.deliveries(event["href"])
        received = reached(smtp.received(), "Grande")
        assert sorted(set(received)) == sorted(f.to)  # everyone
        assert figures == {"email": {"sent": FANOUT}}
        print(
            f"{FANOUT} notifications, killed at {at_kill} holding {len(held)} claims: "
            f"{duplicates(received)} duplicates; the last recipient {seconds:.1f} s after the kill"
        )
        print(_breakdown(restart_figures(second.log, killed), back, FANOUT - at_kill))
        assert duplicates(received) <= unrecorded_at_most(f.settings.send_concurrency)


def _breakdown(marks: dict[str, float], back: float | None, left: int) -> str:
    """Where the seconds after the kill went, from the restarted worker's log: its process up,
    the group joined, its first and last message; the killed worker's claims taken back (to the
    second: the ledger's ``claimed_at``); the rate of the messages left."""
    parts = [f"{name} {at:.1f} s" for name, at in marks.items()]
    if back is not None:
        parts.append(f"the dead worker's claims back by {back:.0f} s")
    if "last sent" in marks and marks["last sent"] > marks["first sent"]:
        rate = left / (marks["last sent"] - marks["first sent"])
        parts.append(f"{left} left at {rate:,.0f}/s")
    return "after the kill: " + ", ".join(parts)


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
        held = await claims_held(redis)  # the survivor's too: none may wait for its lease
        at_kill = got()
        assert at_kill < total, "the lot was all sent before the kill: no drill"
        survivor = next(w for w in workers if w is not busiest)
        sent_by_survivor = survivor.log.read_text().count("outcome=sent")

        async def figures_now() -> list[dict[str, dict[str, int]]]:
            return [await api.deliveries(e["href"]) for e in events]

        seconds, back = await until_everyone(
            redis, got, total, held, within=120, figures=figures_now
        )
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
        print(
            f"{total} notifications, killed at {at_kill} holding {len(held)} claims: "
            f"{duplicates(received)} duplicates; the last recipient {seconds:.1f} s after the kill"
            + ("" if back is None else f", its claims back by {back:.0f} s")
        )
        assert duplicates(received) <= unrecorded_at_most(f.settings.send_concurrency)


async def _settled(api: Api, href: str, n: int) -> bool:
    return settled(await api.deliveries(href), "email", n)
