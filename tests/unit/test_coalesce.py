from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from streams.delivery.coalesce import Coalescer


async def test_calls_of_one_turn_are_flushed_together_each_caller_gets_its_answer() -> None:
    flushes: list[list[int]] = []

    async def double(items: Sequence[int]) -> list[int]:
        flushes.append(list(items))
        return [2 * i for i in items]

    c = Coalescer(double, max_items=4)
    assert await asyncio.gather(*(c(i) for i in range(10))) == [2 * i for i in range(10)]
    assert flushes == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert await c(21) == 42 and flushes[-1] == [21]


async def test_a_failed_flush_fails_every_caller_of_it() -> None:
    async def broken(items: Sequence[int]) -> list[int]:
        raise ConnectionError("redis went away")

    c = Coalescer(broken)
    results = await asyncio.gather(c(1), c(2), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]


async def test_a_flush_giving_the_wrong_number_of_answers_is_an_error() -> None:
    async def short(items: Sequence[int]) -> list[int]:
        return [0]

    c = Coalescer(short)
    with pytest.raises(RuntimeError, match="1 results for 2 items"):
        await asyncio.gather(c(1), c(2))
