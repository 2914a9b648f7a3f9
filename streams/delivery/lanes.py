"""Small never waits behind large (DESIGN.md, invariant 7). Deliveries go in four lanes, the
most urgent first, each with its own topics (``streams.topics``) and agents:

- ``small``: ``deliveries.<channel>``: events of up to a shard's audience (a street, a quartier),
  whatever their severity; confirmations, sign-in links, request updates, fallbacks;
- ``urgent``: ``deliveries.<channel>.urgent``: the shards of a large severe or extreme event;
- ``bulk``: ``deliveries.<channel>.bulk``: the shards of any other large event;
- ``digest``: ``deliveries.<channel>.digest``: the daily and weekly digests.

A lane's topics keep its records from queueing behind another lane's in Kafka; the lanes still
share the worker's event loop, the channels' connections, Redis, the providers and the machine.
So before each message (and each batch written by an expansion) a large lane takes its
``turn``: it waits while a more urgent lane has work going in this worker, and, for every lane
but ``small``, while a small batch goes out in another worker of the group (each worker says so
in Redis and hears the others' at once: ``run``). A small batch is done in
milliseconds when it has the machine; the large one loses that much. Measured in
``bench/citywide.py``: a neighbourhood event posted during the city-wide drain waited p99 ~0.8 s
while only the same channel's bulk lane gave way in the same worker, the email round trips
queueing behind the other channels' traffic and the other worker's.

A small batch whose channel has a rate limit in its city goes at the limit's pace, not the
machine's: it holds back only its channel's large lanes, in this worker.

An event of one batch's audience (``expand.BATCH_SIZE``) does not go through its topic at all:
the worker that matched it sends it at once, holding the large lanes from the match to the last
message (``streams.handlers.sender_at_once``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

SMALL, URGENT, BULK, DIGEST = LANES = ("small", "urgent", "bulk", "digest")
KEY = "n:lanes:small"  # sorted set: worker instance -> until when its word holds (epoch s)
POLL_SECONDS = 0.5  # how often a worker reads the others' word besides when told it changed
HOLDS_SECONDS = 2.0  # a worker's word lapses this long after its last poll (a dead worker's)
HOLDS_AT_MOST = 2.0  # a batch holds the less urgent lanes this long at most (a small one: ms)
log = logging.getLogger("notifier.streams")


class Lanes:
    """The lanes of one worker. ``redis`` and ``instance``: to hear of and tell the other
    workers' small batches (``run``); without them, this worker's lanes only. ``key``: where
    the workers of one group tell each other (``KEY`` behind the deployment's topic prefix)."""

    def __init__(self, redis: Any = None, instance: str = "", key: str = KEY) -> None:
        self.redis, self.instance, self.key = redis, instance, key
        self._going = dict.fromkeys(LANES, 0)  # batches going in this worker, per lane
        self._paced: dict[str, int] = {}  # small batches at a rate limit's pace, per channel
        self.elsewhere = False  # a small batch goes out in another worker
        self.waiting = 0  # turns waiting now
        self._changed = asyncio.Event()
        self._told = False  # what Redis holds of this worker's word
        self._wake = asyncio.Event()

    @contextlib.contextmanager
    def going(self, lane: str, channel: str = "", paced: bool = False) -> Iterator[None]:
        """Around a batch (or an expansion) of ``lane``: the less urgent lanes wait meanwhile,
        for ``HOLDS_AT_MOST`` seconds at most (a provider that hangs on a small batch must not
        stop a city-wide alert). ``paced``: a small batch at its channel's rate limit (the
        module's docstring)."""
        counts = self._paced if paced else self._going
        which = channel if paced else lane
        counts[which] = counts.get(which, 0) + 1
        self._told_of_change(lane, paced)
        holding = [True]

        def let_go() -> None:
            if holding[0]:
                holding[0] = False
                counts[which] -= 1
                self._told_of_change(lane, paced)
                self._changed_now()

        timer = asyncio.get_running_loop().call_later(HOLDS_AT_MOST, let_go)
        try:
            yield
        finally:
            timer.cancel()
            let_go()

    def _told_of_change(self, lane: str, paced: bool) -> None:
        """A small batch begins or ends here: the others are told now, not at the next poll."""
        if lane == SMALL and not paced and self._going[SMALL] <= 1:
            self._wake.set()

    def ahead(self, lane: str, channel: str = "") -> bool:
        """Whether work more urgent than ``lane`` goes (then ``lane`` waits)."""
        if lane == SMALL:
            return False
        if self._going[SMALL] or self.elsewhere or self._paced.get(channel):
            return True
        return any(self._going[more] for more in LANES[1 : LANES.index(lane)])

    async def turn(self, lane: str, channel: str = "") -> None:
        """Before a message (or a batch written) of ``lane``: wait while more urgent work goes."""
        while self.ahead(lane, channel):
            self.waiting += 1
            try:
                await self._changed.wait()
            finally:
                self.waiting -= 1

    def _changed_now(self) -> None:
        """Wake every waiter to look again."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def run(self) -> None:
        """Forever: tell the other workers whether a small batch goes out here, and hear
        whether one goes out in another: at once when either changes (Redis pub/sub), and every
        ``POLL_SECONDS`` (a dead worker's word lapsing). Redis away: the lanes go as if no
        small batch went out elsewhere."""
        if self.redis is None:
            return
        listening = asyncio.create_task(self._listen())
        try:
            while True:
                try:
                    await self.poll()
                except Exception as e:  # never stop for it; a large lane must not stay held
                    log.warning("lanes: %s: %s", type(e).__name__, e)
                    if self.elsewhere:
                        self.elsewhere = False
                        self._changed_now()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                self._wake.clear()
        finally:
            listening.cancel()

    async def _listen(self) -> None:
        """Another worker's word changed: read them all again at once."""
        mine = (self.instance, self.instance.encode())
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.key)
                async for message in pubsub.listen():
                    if message["type"] == "message" and message["data"] not in mine:
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the polls go on meanwhile
                log.warning("lanes: listening: %s: %s", type(e).__name__, e)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def poll(self) -> None:
        """One round: this worker's word written (or taken back), the others' read."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        small = self._going[SMALL] > 0
        if small:
            pipe.zadd(self.key, {self.instance: now + HOLDS_SECONDS})
        elif self._told:
            pipe.zrem(self.key, self.instance)
        pipe.zrangebyscore(self.key, now, "+inf")
        *_, holders = await pipe.execute()
        if small != self._told:  # the others hear of it now, not at their next poll (a
            await self.redis.publish(self.key, self.instance)  # cluster pipeline has no PUBLISH)
        self._told = small
        mine = (self.instance, self.instance.encode())  # as the client decodes, or not
        elsewhere = any(h not in mine for h in holders)
        if elsewhere != self.elsewhere:
            self.elsewhere = elsewhere
            self._changed_now()
