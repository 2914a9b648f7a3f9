from __future__ import annotations

import asyncio

from streams.lanes import Lanes


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_the_bulk_lane_waits_while_a_normal_batch_goes_out() -> None:
    lanes, order = Lanes(), []

    async def bulk_message() -> None:
        await lanes.bulk_turn()
        order.append("bulk")

    with lanes.normal():
        first = asyncio.create_task(bulk_message())
        with lanes.normal():  # a second normal batch, overlapping the first
            await _turns(5)
        await _turns(5)
        order.append("normal batches done")
    await first
    assert order == ["normal batches done", "bulk"]


async def test_the_bulk_lane_goes_at_once_when_no_normal_batch_is_going_out() -> None:
    lanes = Lanes()
    await asyncio.wait_for(lanes.bulk_turn(), 1)
    with lanes.normal():
        pass
    await asyncio.wait_for(lanes.bulk_turn(), 1)
