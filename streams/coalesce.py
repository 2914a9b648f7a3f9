"""Many small calls made in one turn of the event loop, answered by one call.

A worker hands messages over many at a time; each needs a ledger write before and after its
provider call. Made one by one, those writes are a Redis round trip each and cost more CPU than
the provider call itself. ``Coalescer`` gathers the items submitted while the loop is busy and
flushes them together at the next turn (or as soon as ``max_items`` are waiting), then gives
each caller its own answer. Nothing waits longer than one turn of the loop plus the flush.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    def __init__(
        self, flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]], max_items: int = 256
    ) -> None:
        """``flush(items)`` returns one result per item, in order."""
        self._flush = flush
        self.max_items = max_items
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self.max_items:
            self._kick()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._kick)
        return await future

    def _kick(self) -> None:
        self._scheduled = False
        items, self._pending = self._pending, []
        if items:
            task = asyncio.ensure_future(self._run(items))
            self._running.add(task)  # keep a reference until it is done
            task.add_done_callback(self._running.discard)

    async def _run(self, items: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in items])
            if len(results) != len(items):
                raise RuntimeError(f"flush gave {len(results)} results for {len(items)} items")
        except BaseException as e:  # every caller hears of it, cancellation included
            for _, future in items:
                if not future.done():
                    future.set_exception(e if isinstance(e, Exception) else RuntimeError(repr(e)))
            if not isinstance(e, Exception):
                raise
            return
        for (_, future), result in zip(items, results, strict=True):
            if not future.done():
                future.set_result(result)
