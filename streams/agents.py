"""The agents: thin loops that hand each record to a plain handler (``streams.handlers``).

``register`` is called by the composition root with the app, its topics and the handlers'
dependencies; the app module never imports this one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from channels import NAMES as CHANNELS
from streams import handlers, heap, watch
from streams.delivery import requests
from streams.delivery.lanes import BULK, DIGEST, LANES, SMALL, URGENT
from streams.deps import Deps
from streams.records import WRITTEN_AT
from streams.state.ledger import STORE_AWAY

# a record's handler, a timer's job: each takes the protocol of its stage (``streams.deps``),
# which the worker's ``Deps`` satisfies (these annotations make mypy prove it)
Handler = Callable[[bytes, Deps], Awaitable[object]]
Job = Callable[[Deps], Awaitable[object]]

# timer name -> (seconds between ticks, job)
TIMERS: tuple[tuple[str, float, Job], ...] = (
    ("sweep-outbox", 10.0, handlers.sweep_outbox),
    ("release-scheduled", 1.0, handlers.release_scheduled),
)

# on every worker (not only the leader): cities created or changed since are loaded
EVERY_WORKER: tuple[tuple[str, float, Job], ...] = (
    ("refresh-cities", 10.0, lambda deps: deps.cities.refresh()),
    ("watch-backlog", 15.0, watch.observe),  # every worker: no stale figure after a leader change
)
LAG_INTERVAL = 5.0  # seconds between two readings of the consumer lag
WARM_RETRY = 5.0  # seconds before loading the cities again when Redis did not answer at start

# a lane's sender (``streams.delivery.lanes``)
SENDERS: dict[str, Handler] = {
    SMALL: handlers.send_batch,
    URGENT: handlers.send_urgent_batch,
    BULK: handlers.send_bulk_batch,
    DIGEST: handlers.send_digest_batch,
}

# agent name -> (topic attribute, handler): a sender per channel (``channels.NAMES``) and lane
AGENTS: dict[str, tuple[str, Handler]] = {
    "match-city-events": ("city_events", handlers.handle_city_event),
    "match-request-status": ("request_status", requests.handle_request_status),
    "expand-fanout": ("fanout", handlers.expand_shard),
    **{f"send-{channel}": (channel, SENDERS[SMALL]) for channel in CHANNELS},
    **{
        f"send-{channel}-{lane}": (f"{channel}_{lane}", SENDERS[lane])
        for lane in LANES
        if lane != SMALL
        for channel in CHANNELS
    },
    "release-digests": ("digests", handlers.release_digest_due),  # digests last
    "track-receipts": ("receipts", handlers.track_receipt),
}


def register(
    app: faust.App,
    topics: dict[str, faust.TopicT],
    deps: Deps,
    warmed: Callable[[], object] | None = None,
) -> None:
    """``warmed`` is called once the cities and their subscriptions are in memory (the
    worker's readiness, ``notifier.worker_http``)."""
    deps.send_now = handlers.sender_at_once(deps)  # a small batch goes out where it is written
    for name, (attr, handler) in AGENTS.items():
        topic = topics[attr]
        topic_name = topic.get_topic_name()

        async def agent(
            stream: faust.StreamT[Any],
            _h: Handler = handler,
            _t: str = topic_name,
        ) -> None:
            async for event in stream.events():
                WRITTEN_AT.set(event.message.timestamp)  # for the log lines (``records``)
                await handlers.guarded(
                    _t,
                    event.value,
                    deps,
                    _h,
                    partition=event.message.partition,
                    offset=event.message.offset,
                )

        agent.__name__ = agent.__qualname__ = name.replace("-", "_")
        app.agent(topic, name=f"notifier.{name}")(agent)

    @app.task
    async def warm() -> None:  # the cities' subscriptions in memory while the group forms
        while True:
            try:
                await deps.cities.refresh()
                await deps.matcher.warm()
                break
            except STORE_AWAY as e:  # tried again (an event meanwhile loads what it needs)
                logging.getLogger("notifier.streams").warning("warming: Redis away: %s", e)
            except Exception:
                logging.getLogger("notifier.streams").exception("warming the matcher")
            await asyncio.sleep(WARM_RETRY)
        if warmed is not None:
            warmed()
        frozen = heap.freeze()
        logging.getLogger("notifier.streams").info("started: %d objects frozen", frozen)

    @app.task
    async def lanes() -> None:  # this worker's small batches told to the others, theirs heard
        await deps.lanes.run()

    # this worker alive: its claims are taken back soon after it stops (``Ledger.beat``)
    @app.timer(deps.ledger.liveness / 3, name="notifier.heartbeat")
    async def heartbeat() -> None:
        try:
            await deps.ledger.beat(deps.instance)
        except Exception as e:  # the store away: the next beat tries again
            logging.getLogger("notifier.streams").warning("heartbeat: %s", e)

    @app.timer(LAG_INTERVAL, name="notifier.consumer-lag")  # every worker: its own partitions
    async def lag(app: faust.App) -> None:
        try:
            deps.metrics.record_lag(app.consumer)
        except Exception:  # figures, not work: never stop the worker for them
            logging.getLogger("notifier.streams").exception("consumer lag")

    for name, interval, job in (*TIMERS, *EVERY_WORKER):
        # Faust calls a timer with the app when it takes an argument: take it, use the deps
        async def tick(app: faust.App, _job: Job = job, _name: str = name) -> None:
            try:
                await _job(deps)
            except STORE_AWAY as e:  # one line a tick, no traceback: it is an outage
                logging.getLogger("notifier.streams").warning("%s: Redis away: %s", _name, e)
            except Exception:  # the next tick tries again; an outage must not stop the timer
                logging.getLogger("notifier.streams").exception("%s failed", _name)

        # TIMERS: one worker of the group runs them (the leader); what they publish is idempotent
        leader = (name, interval, job) in TIMERS
        app.timer(interval, on_leader=leader, name=f"notifier.{name}")(tick)
