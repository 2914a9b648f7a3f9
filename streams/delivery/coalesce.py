"""Many small calls, answered by one call: group commit.

A worker hands messages over many at a time; each needs a ledger write before and after its
provider call. Made one by one, those writes are a Redis round trip each and cost more CPU than
the provider call itself. ``Coalescer`` gathers the items submitted while the loop is busy and
flushes them together: at the next turn of the loop when no flush is under way, else as soon as
the one under way is answered (what came meanwhile goes in the next), or at once when
``max_items`` are waiting. Under load the flushes grow with the work instead of multiplying;
idle, nothing waits longer than one turn of the loop plus the flush.
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
            self._kick()  # a full flush goes at once, beside the one under way
        elif not self._scheduled and not self._running:
            self._scheduled = True
            loop.call_soon(self._next_turn)
        return await future

    def _next_turn(self) -> None:
        self._scheduled = False
        if not self._running:  # else the flush under way, once answered, takes them
            self._kick()

    def _kick(self) -> None:
        items, self._pending = self._pending, []
        if items:
            task = asyncio.ensure_future(self._run(items))
            self._running.add(task)  # keep a reference until it is done
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not self._running:
            self._kick()  # what came while it was under way

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
