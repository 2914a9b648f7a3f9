"""The one Faust application. It creates the app and nothing else: the agents are registered
by ``streams.agents.register`` from the composition root (``notifier.worker``). Importing it
changes nothing in Faust: ``create_app`` shortens the consumers' fetches (``short_fetches``)."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

FETCH_MAX_WAIT_MS = 100


def short_fetches() -> None:
    """Make the worker's consumers wait ``FETCH_MAX_WAIT_MS`` at the broker for records to
    arrive; ``create_app`` does it, once per process (doing it again changes nothing).

    Faust asks for 1.5 s; Kafka answers as soon as a record comes, but Tansu (the broker here
    and in the tests) holds every fetch for its whole wait, so each hop of a notification
    (city-events, deliveries) waited 0-1.5 s. Short fetches cost a few idle requests a second
    per consumer, on Kafka too.

    Faust offers no setting for it: this wraps the private method of its consumer thread that
    creates the consumer (``AIOKafkaConsumerThread._create_worker_consumer``), for every app in
    the process. A Faust release without that method fails here, at the start, and in
    ``tests/unit/test_packaging.py``."""
    thread = faust_aiokafka.AIOKafkaConsumerThread
    create = thread._create_worker_consumer
    if not getattr(create, "short_fetches", False):
        thread._create_worker_consumer = _short_fetches(create)  # type: ignore[method-assign]


def _short_fetches(create: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(create)
    def create_consumer(self: Any, *args: Any, **kwargs: Any) -> Any:
        consumer = create(self, *args, **kwargs)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    create_consumer.short_fetches = True  # type: ignore[attr-defined]
    return create_consumer


def create_app(
    app_id: str, broker: str, session_timeout: float, datadir: str | None = None
) -> faust.App:
    """``datadir``: where Faust keeps its (empty: memory store) folder; by default a temporary
    one, so nothing lands in the current directory."""
    short_fetches()
    return faust.App(
        app_id,
        broker=broker,
        datadir=datadir or os.path.join(tempfile.gettempdir(), f"faust-{app_id}"),
        autodiscover=False,
        store="memory://",
        # The worker serves no Faust web views; ours is the aiohttp API.
        web_enabled=False,
        web_host="127.0.0.1",
        # Tansu holds a JoinGroup for half the session/rebalance timeout: keep them short.
        broker_session_timeout=session_timeout,
        broker_rebalance_timeout=session_timeout,
        broker_heartbeat_interval=min(3.0, session_timeout / 3),
        consumer_auto_offset_reset="earliest",
        topic_partitions=4,
        producer_acks=-1,
    )
