"""The bulk lane gives way: while a batch of the normal lane (``deliveries.<channel>``: events
of up to a few thousand recipients, confirmations, request updates) is going out in this worker,
the senders of the bulk lane (``deliveries.<channel>.bulk``: the shards of a city-wide alert)
wait before their next message. Both lanes share the worker's event loop, its connections and
its core; without this, a neighbourhood event waited behind a city-wide alert's traffic (p99
3.9 s in ``bench/citywide.py``). A normal batch is small, so the bulk lane is held for seconds
at most."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Lanes:
    def __init__(self) -> None:
        self._normal = 0  # normal-lane batches going out now
        self._clear = asyncio.Event()
        self._clear.set()

    @contextlib.contextmanager
    def normal(self) -> Iterator[None]:
        """Around a normal-lane batch: the bulk lane waits meanwhile."""
        self._normal += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._normal -= 1
            if not self._normal:
                self._clear.set()

    async def bulk_turn(self) -> None:
        """Before a bulk-lane message: wait while a normal-lane batch is going out."""
        if not self._clear.is_set():
            await self._clear.wait()
