"""The bulk lane gives way: while a batch of the normal lane (``deliveries.<channel>``: events
of up to a few thousand recipients, confirmations, request updates) is going out in this worker,
the senders of the same channel's bulk lane (``deliveries.<channel>.bulk``: the shards of a
city-wide alert) wait before their next message. Both lanes share the worker's event loop and
the channel's connections; without this, a neighbourhood event waited behind a city-wide alert's
traffic (p99 3.9 s in ``bench/citywide.py``). A normal batch is small, so the bulk lane is held
for seconds at most; per channel, so that a normal batch waiting on its channel's rate limit
holds back no other channel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class _Lane:
    def __init__(self) -> None:
        self.normal = 0  # normal-lane batches going out now
        self.clear = asyncio.Event()
        self.clear.set()


class Lanes:
    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    def _lane(self, channel: str) -> _Lane:
        return self._lanes.setdefault(channel, _Lane())

    @contextlib.contextmanager
    def normal(self, channel: str) -> Iterator[None]:
        """Around a normal-lane batch: the channel's bulk lane waits meanwhile."""
        lane = self._lane(channel)
        lane.normal += 1
        lane.clear.clear()
        try:
            yield
        finally:
            lane.normal -= 1
            if not lane.normal:
                lane.clear.set()

    async def bulk_turn(self, channel: str) -> None:
        """Before a bulk-lane message: wait while a normal-lane batch of the channel goes out."""
        lane = self._lane(channel)
        if not lane.clear.is_set():
            await lane.clear.wait()
