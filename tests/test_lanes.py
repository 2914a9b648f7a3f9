from __future__ import annotations

import asyncio

from streams.lanes import Lanes


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_the_bulk_lane_waits_while_a_normal_batch_of_its_channel_goes_out() -> None:
    lanes, order = Lanes(), []

    async def bulk_message(channel: str) -> None:
        await lanes.bulk_turn(channel)
        order.append(f"bulk {channel}")

    with lanes.normal("email"):
        email = asyncio.create_task(bulk_message("email"))
        sms = asyncio.create_task(bulk_message("sms"))  # another channel: not held
        with lanes.normal("email"):  # a second normal batch, overlapping the first
            await _turns(5)
        await _turns(5)
        order.append("normal email batches done")
    await asyncio.gather(email, sms)
    assert order == ["bulk sms", "normal email batches done", "bulk email"]


async def test_the_bulk_lane_goes_at_once_when_no_normal_batch_is_going_out() -> None:
    lanes = Lanes()
    await asyncio.wait_for(lanes.bulk_turn("push"), 1)
    with lanes.normal("push"):
        pass
    await asyncio.wait_for(lanes.bulk_turn("push"), 1)
