"""Real servers for the tests: a Tansu broker and a redis-server per session on free loopback
ports, an aiosmtpd server per test, and the worker as a real process. Each test gets its own
topic prefix and consumer group, and an empty Redis database. What they are made of that the
tests use directly too (the SMTP sink, the API on other settings, polling) is in
``tests/stage.py``; fixtures of one kind of test only are in that folder's conftest."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller
from notifier.dev.redis_cluster import ClusterGroup
from redis.asyncio import Redis

from channels.email import SmtpConfig, SmtpEmailChannel
from notifier import layout
from notifier.dev import embedded
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps, make_redis
from streams.state.scheduler import Backoff
from tests.handler_stage import HandlerStage, Published

# the fuzzing's stage: ``served`` (the API as its own process) and ``world`` (ids, key, token)
from tests.hostile_stage import served, world  # noqa: F401
from tests.stage import SmtpSink, api_client


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def kafka_url(logs: Path) -> Iterator[str]:
    port = embedded.free_port()
    proc = embedded.start_tansu(port, logs / "tansu.log")
    yield f"kafka://127.0.0.1:{port}"
    embedded.stop(proc)


@pytest.fixture(scope="session")
def redis_url(logs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One redis-server; or, with ``NOTIFIER_TEST_REDIS=cluster`` (``make test`` runs the
    tests of the stores, the flows and the drills that way too), a Redis Cluster of three
    primaries and three replicas."""
    if os.environ.get("NOTIFIER_TEST_REDIS") == "cluster":
        group = ClusterGroup(tmp_path_factory.mktemp("redis-cluster"), logs)
        try:
            group.up()
            yield group.url
        finally:
            group.down()
        return
    port = embedded.free_port()
    proc = embedded.start_redis(port, None, logs / "redis.log")
    yield f"redis://127.0.0.1:{port}/0"
    embedded.stop(proc)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    r = make_redis(Settings(redis_url=redis_url))
    await r.flushdb()  # on every primary of a cluster
    await r.set(layout.KEY, layout.LAYOUT)  # as the first process to meet it does
    yield r
    await r.aclose()


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSink, str]]:
    sink = SmtpSink()
    port = embedded.free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, f"smtp://127.0.0.1:{port}"
    controller.stop()


@pytest.fixture
def settings(
    kafka_url: str, redis_url: str, smtp: tuple[SmtpSink, str], tmp_path: Path
) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        kafka_url=kafka_url,
        redis_url=redis_url,
        smtp_url=Secret(smtp[1]),
        secret_key=Secret("test-secret-" + "x" * 40),
        topic_prefix=f"t{run}.",
        app_id=f"notifier-test-{run}",
        broker_session_timeout=6.0,
        worker_metrics_port=embedded.free_port(),
        data_dir=tmp_path / "var",
        public_url="http://testserver",
        push_loopback=True,  # the tests' push services listen on loopback
    )


@pytest.fixture
async def api(settings: Settings, redis: Redis) -> AsyncIterator[TestClient[Any, Any]]:
    """The real API with a real Kafka producer; the worker is not running."""
    async with api_client(settings, redis) as client:
        yield client


@pytest.fixture
def worker(settings: Settings, logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``notifier worker`` as a real process, with this test's settings."""
    log = logs / f"worker-{settings.app_id}.log"
    proc = embedded.spawn(
        embedded.python_module("notifier", "worker"), log, env=embedded.child_env(settings.to_env())
    )
    yield proc
    embedded.stop(proc)
    if proc.returncode not in (0, -15):
        print(log.read_text()[-5000:])


@pytest.fixture
async def deps(redis: Redis, smtp: tuple[SmtpSink, str]) -> AsyncIterator[HandlerStage]:
    """The handlers' dependencies without a broker: real Redis, the test's SMTP server, what
    they publish kept in a list (``tests/handler_stage.py`` has what the tests build on it)."""
    published: Published = []

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        published.append((topic, key, value))

    settings = Settings(secret_key=Secret("k" * 48), public_url="https://alerts.example")
    channel = SmtpEmailChannel(SmtpConfig.from_url(smtp[1]), settings.mail_from, pool_size=2)
    d = build_deps(settings, redis, publish, {"email": channel})
    d.scheduler.retry = Backoff(first=0.01)
    yield HandlerStage(d, published)
    await channel.close()
