"""The channels' time limit (``channels.base.Deadlines``): a call that gets no answer is cut
as a transient error, and only then; a cancellation from elsewhere stays one."""

from __future__ import annotations

import asyncio

import pytest

from channels.base import Channel, Deadlines, Sent, TransientChannelError
from channels.outbound import OutboundPolicy
from channels.push import Push, WebPushChannel, generate_vapid_keys
from notifier.dev.push_service_fake import PushServiceFake


class Slow(Channel[float]):
    """A provider that answers after the message's number of seconds."""

    name, provider = "test", "slow"

    def __init__(self, timeout: float) -> None:
        self.deadlines = self.limit = Deadlines(timeout)

    async def _send(self, message: float) -> Sent:
        await asyncio.sleep(message)
        return Sent(provider_id=f"after {message}")

    async def close(self) -> None:
        pass


async def test_a_call_without_an_answer_is_cut_and_the_sender_goes_on() -> None:
    slow = Slow(timeout=0.2)
    with pytest.raises(TransientChannelError) as e:
        await slow.send("n-1", 30.0)
    assert e.value.reason == "slow timeout: no answer within 0.2 s"
    # the task that was cut is not cancelled: it sends the next message
    assert (await slow.send("n-2", 0.0)).provider_id == "after 0.0"
    await asyncio.sleep(0.5)  # a later tick cuts nothing that was answered
    assert not slow.limit._cut and not any(slow.limit._sets.values())


async def test_calls_that_are_answered_in_time_are_not_cut() -> None:
    slow = Slow(timeout=5.0)
    sent = await asyncio.gather(*(slow.send(f"n-{i}", i / 100) for i in range(20)))
    assert [s.provider_id for s in sent] == [f"after {i / 100}" for i in range(20)]


async def test_a_cancellation_from_elsewhere_is_not_taken_for_a_timeout() -> None:
    slow = Slow(timeout=5.0)
    task = asyncio.ensure_future(slow.send("n-1", 30.0))
    await asyncio.sleep(0.05)
    task.cancel()  # the worker stopping, say
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_from_elsewhere_as_the_limit_cuts_stays_cancelled() -> None:
    slow = Slow(timeout=0.1)
    task = asyncio.ensure_future(slow.send("n-1", 30.0))
    await asyncio.sleep(0.01)
    # the tick's timer and a stop in the same turn of the loop: the stop wins
    tick = next(iter(slow.limit._sets))
    slow.limit._expire(tick)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class Swallowing(Slow):
    """A client that turns a cancellation into an error of its own."""

    async def _send(self, message: float) -> Sent:
        try:
            return await super()._send(message)
        except asyncio.CancelledError:
            raise OSError("connection closed") from None


async def test_a_cut_the_client_swallowed_leaves_the_task_as_it_was() -> None:
    swallowing = Swallowing(timeout=0.1)
    for _ in range(2):
        with pytest.raises(OSError):
            await swallowing.send("n-1", 30.0)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # not left half-cancelled
    # and a later cut of the same task is still a timeout
    with pytest.raises(TransientChannelError):
        await Slow(timeout=0.1).send("n-2", 30.0)


def test_a_limit_is_positive() -> None:
    with pytest.raises(ValueError):
        Deadlines(0)


async def test_a_push_service_that_does_not_answer_times_out_as_transient(hanging: str) -> None:
    keys = generate_vapid_keys()
    channel = WebPushChannel(
        keys.private_key,
        "mailto:ops@example.org",
        outbound=OutboundPolicy(loopback=True),
        timeout=0.3,
    )
    sub, _ = PushServiceFake().subscribe(hanging)
    try:
        with pytest.raises(TransientChannelError) as e:
            await channel.send("n-1", Push(sub, {"title": "x"}, "n-1"))
    finally:
        await channel.close()
    assert e.value.reason == "webpush timeout: no answer within 0.3 s"


def test_a_channel_used_in_a_second_event_loop_is_still_cut_there() -> None:
    slow = Slow(timeout=3.0)  # ticks of 0.3 s: both calls below join the same one
    asyncio.run(slow.send("n-0", 0.0))  # the first loop's timer for that tick dies with it
    with pytest.raises(TransientChannelError):
        asyncio.run(slow.send("n-1", 30.0))
