"""A pool of a channel's connections, shared by every lane, that serves the most urgent
waiter first.

A worker's lanes (``streams.delivery.lanes``) share a channel's connections. With a
first-come pool, a small batch's messages waited behind every large-lane message already
waiting for a connection: a large lane's senders pass their turn, then wait here. Measured in
``bench/citywide.py`` (bench/README.md, session 11): a neighbourhood event's emails took
250-300 ms for their connection alone while the city-wide alert's emails queued for the 8 SMTP
connections. So a waiter says how soon it should go (``PRECEDENCE``: the lane's place, set by
the sender of a batch); the lowest goes first, then the earliest.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
from typing import Generic, TypeVar

T = TypeVar("T")

# the waiters for a shared connection go lowest first (a lane's place: ``LANES.index``)
PRECEDENCE: contextvars.ContextVar[int] = contextvars.ContextVar("precedence", default=0)


class Pool(Generic[T]):
    """``size`` slots, each holding what ``put`` gave back (a connection, or None for one not
    made yet). A slot is free only while nobody waits: ``put`` hands it to the next waiter."""

    def __init__(self, slots: list[T]) -> None:
        self._free = list(slots)
        self._waiting: list[tuple[int, int, asyncio.Future[T]]] = []
        self._order = itertools.count()

    async def get(self) -> T:
        if self._free:
            return self._free.pop()
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (PRECEDENCE.get(), next(self._order), waiter))
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot, then cancelled
                self.put(waiter.result())
            raise

    def put(self, slot: T) -> None:
        while self._waiting:
            *_, waiter = heapq.heappop(self._waiting)
            if not waiter.done():  # not cancelled meanwhile
                waiter.set_result(slot)
                return
        self._free.append(slot)
