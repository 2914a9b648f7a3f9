"""What the root fixtures (``tests/conftest.py``) are made of that the tests use directly too:
the SMTP sink behind ``smtp``, the real API on given settings behind ``api`` and what a test
reads in its answers, and polling until something is true."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import threading
import time
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.smtp import Envelope, Session
from redis.asyncio import Redis

from notifier import layout
from notifier.api.app import create_api
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Settings
from notifier.wiring import build_services

ROOT = Path(__file__).resolve().parent.parent


class SmtpSink:
    """An aiosmtpd server that keeps what it receives; ``replies`` scripts refusals."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.replies: list[str] = []  # e.g. ["421 try later"]: answered to the next DATA commands
        self.slow = 0.0  # seconds each DATA command takes: a provider slow to answer
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.slow:
            await asyncio.sleep(self.slow)
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
            msg = email.message_from_bytes(
                envelope.original_content or b"", policy=email.policy.default
            )
            self.messages.append(msg)  # type: ignore[arg-type]
            self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


@contextlib.asynccontextmanager
async def api_client(settings: Settings, redis: Redis) -> AsyncIterator[TestClient[Any, Any]]:
    """The real API with a real Kafka producer, on these settings."""
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    await publisher.start()
    try:
        deps = build_services(settings, redis, publisher.publish)
        client = TestClient(TestServer(create_api(settings, deps)))
        await client.start_server()
        try:
            yield client
        finally:
            await client.close()
    finally:
        await publisher.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def confirmed_citizen(api: TestClient[Any, Any], redis: Redis, email: str) -> dict[str, Any]:
    """A citizen registered through the API with ``email``, its contact point confirmed."""
    c = await (await api.post("/v1/cities/paris/citizens", json={"email": email})).json()
    await redis.hset(f"n:{{paris}}:contact:{c['contacts'][0]['id']}", "status", "confirmed")
    return dict(c)


async def error_of(r: Any) -> tuple[int, str | None, str]:
    body = await r.json()
    return r.status, body["error"]["field"], body["error"]["reason"]


async def stored(redis: Redis, match: str = "*") -> list[str]:
    """The keys that match, sorted, read with SCAN (on every primary of a cluster, where KEYS
    asks one node); the layout's stamp (``notifier.layout``) left out."""
    return sorted({k async for k in redis.scan_iter(match=match, count=1000)} - {layout.KEY})


async def eventually(
    check: Callable[[], Any], within: float = 60.0, what: str = "condition"
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
