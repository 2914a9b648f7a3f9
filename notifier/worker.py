"""``notifier worker``: the Faust worker process, wired from the settings. With
``NOTIFIER_WORKER_METRICS_PORT`` it serves ``/metrics`` and its readiness ``/readyz`` there
(``notifier.worker_http``): ready once it has joined its group and loaded the cities."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from notifier import layout, logs, worker_http
from notifier.settings import Settings
from notifier.wiring import build_deps, make_channels, make_redis
from notifier.worker_http import WorkerReadiness
from streams import agents
from streams.app import create_app
from streams.topics import TopicNames, declare

log = logging.getLogger("notifier.worker")


def build_worker_app(settings: Settings) -> faust.App:
    datadir = settings.data_dir / "faust" / settings.app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last folder
    app = create_app(
        settings.app_id, settings.kafka_url, settings.broker_session_timeout, str(datadir)
    )
    topics = declare(app, TopicNames.with_prefix(settings.topic_prefix))
    by_name = {t.get_topic_name(): t for t in topics.values()}

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        fut = await by_name[topic].send(key=key or None, value=value)
        await fut  # the broker has it before the source record is acknowledged

    redis = make_redis(settings)
    deps = build_deps(settings, redis, publish, make_channels(settings))
    readiness = WorkerReadiness()

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # (mode types receivers narrowly)
    async def joined(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Its first rebalance complete: it holds its partitions and fetches from them."""
        if not readiness.joined:
            log.info("worker %s joined its consumer group", settings.app_id)
        readiness.joined = True

    def warmed() -> None:
        log.info("worker %s loaded the cities: %s", settings.app_id, ", ".join(deps.cities.ids()))
        readiness.cities_loaded = True

    if settings.worker_metrics_port:
        worker_http.serve(
            settings.worker_metrics_host,
            settings.worker_metrics_port,
            deps.metrics.registry,
            readiness,
        )
    agents.register(app, topics, deps, warmed)
    # Connections (Redis, SMTP) close with the process: Faust offers no hook after the agents
    # have stopped, and closing them earlier would fail the records still in flight.
    return app


def run_worker(settings: Settings) -> None:
    app = build_worker_app(settings)  # what is wrong in the settings or templates first
    asyncio.run(_check_layout(settings))  # before anything is written: never a newer store's
    logs.add_kafka_context(settings)  # lines logged while handling a record name it
    log.info("worker %s consuming from %s", settings.app_id, settings.kafka_url)
    # our logging (``notifier.logs``, set up by the CLI) stays: Faust would replace it with its own
    worker = faust.Worker(
        app, loglevel=settings.log_level.lower(), quiet=True, override_logging=False
    )
    worker.spinner = None  # it writes terminal codes to stdout, between the log lines
    worker.execute_from_commandline()


async def _check_layout(settings: Settings) -> None:
    redis = make_redis(settings)
    try:
        await layout.check(redis)
    finally:
        await redis.aclose()
