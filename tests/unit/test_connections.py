"""The shared connection pool serves the most urgent lane's waiter first (channels.connections)."""

from __future__ import annotations

import asyncio
import contextvars

from channels.connections import PRECEDENCE, Pool


def waiting(pool: Pool[str], precedence: int, got: list[tuple[int, str]]) -> asyncio.Task[None]:
    """A waiter of ``precedence`` (as a lane's sender sets it), noting what it was handed."""

    async def wait() -> None:
        got.append((precedence, await pool.get()))

    context = contextvars.copy_context()
    context.run(PRECEDENCE.set, precedence)
    return asyncio.get_running_loop().create_task(wait(), context=context)


async def test_a_freed_connection_goes_to_the_small_lane_before_the_bulk_ones_waiting() -> None:
    pool = Pool(["c1"])
    held = await pool.get()
    got: list[tuple[int, str]] = []
    bulk = [waiting(pool, 2, got) for _ in range(3)]
    await asyncio.sleep(0)
    small = waiting(pool, 0, got)  # came last
    await asyncio.sleep(0)
    pool.put(held)
    await asyncio.sleep(0)
    assert got == [(0, "c1")]
    for _ in bulk:  # then the bulk ones, in their order
        pool.put(got[-1][1])
        await asyncio.sleep(0)
    assert [p for p, _ in got] == [0, 2, 2, 2]
    await asyncio.gather(small, *bulk)


async def test_a_cancelled_waiter_loses_no_connection() -> None:
    pool = Pool(["c1"])
    held = await pool.get()
    got: list[tuple[int, str]] = []
    gone = waiting(pool, 0, got)
    after = waiting(pool, 1, got)
    await asyncio.sleep(0)
    gone.cancel()  # before it was handed one
    await asyncio.sleep(0)
    pool.put(held)
    await after
    assert got == [(1, "c1")]

    handed = waiting(pool, 0, got)
    await asyncio.sleep(0)
    pool.put("c1")  # handed the connection ...
    handed.cancel()  # ... and cancelled before it ran: the connection comes back
    await asyncio.gather(handed, return_exceptions=True)
    assert await asyncio.wait_for(pool.get(), 1) == "c1"
