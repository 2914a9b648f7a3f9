"""The real path of a message, for the property tests: the API in process (what it hands to Kafka
collected), the worker's handlers (``handle_city_event``, ``handle_request_status``,
``send_batch``) run on what was published, real Redis, and the providers: the SMTP sink of
``tests.stage``, the Twilio-shaped server (``notifier.dev.twilio_fake``) and the push service
that decrypts (``notifier.dev.push_service_fake``), reached by the real channels of
``notifier.wiring``. No Kafka worker: the handlers are what its agents call.

Hypothesis runs examples synchronously, so the stage keeps its own event loop
(``asyncio.Runner``) for the whole test and each example runs in it; ``reset`` gives every
example an empty Redis and one citizen with a confirmed email, phone and push subscription.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Coroutine, Iterator
from email.message import EmailMessage
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, settings

from channels.push import generate_vapid_keys
from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.dev import embedded, twilio_fake
from notifier.dev.push_service_fake import PushServiceFake, ReceivedPush
from notifier.dev.push_service_fake import create_app as push_app
from notifier.dev.twilio_fake import FakeMessage
from notifier.settings import Secret, Settings
from notifier.wiring import build_deps, make_channels, make_redis
from streams.delivery.lanes import LANES
from streams.delivery.requests import handle_request_status
from streams.delivery.send import send_batch
from streams.deps import Deps
from streams.handlers import handle_city_event
from subscriptions.areas import load_catalogue
from subscriptions.matcher import Matcher
from subscriptions.store import new_id
from subscriptions.subscription import parse_subscription
from tests.stage import SmtpSink

T = TypeVar("T")
PARIS = load_catalogue("paris")
SID, TOKEN, FROM = "AC" + "1" * 32, "f" * 32, "+33700000001"
EMAIL, PHONE = "citoyen@example.org", "+33612345678"
AREA = "75105"
CHANNELS = ("email", "sms", "push")

# `make test`: the same few examples every run, no deadline (a shared 2-core machine);
# `make properties`: PROPERTY_EXAMPLES new ones (PROPERTY_RANDOM=1)
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "0")) or None
RANDOM = os.environ.get("PROPERTY_RANDOM", "0") == "1"


def examples(bounded: int) -> Any:
    """Hypothesis settings: ``bounded`` examples, derandomised, unless `make properties`."""
    return settings(
        max_examples=EXAMPLES or bounded,
        derandomize=not RANDOM,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no "explain"
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # the stage is reset by each example
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


@dataclasses.dataclass
class Received:
    """What the providers took for the citizen, by channel."""

    email: list[EmailMessage]
    sms: list[FakeMessage]
    push: list[ReceivedPush]
    why: str  # what the senders said, for a failing example


class Stage:
    def __init__(self, runner: asyncio.Runner, redis_url: str, smtp: tuple[SmtpSink, str]):
        self.runner = runner
        self.redis_url = redis_url
        self.sink, self.smtp_url = smtp
        self.published: list[tuple[str, bytes, bytes]] = []
        self.dead_letters: list[bytes] = []
        self.outcomes: list[tuple[str, dict[str, int]]] = []  # each batch's, as send_batch says

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.published.append((topic, key, value))

    async def start(self) -> None:
        self.twilio = twilio_fake.TwilioFake(SID, TOKEN, numbers=[FROM], status_callbacks=False)
        self.twilio_runner, twilio_url = await twilio_fake.start(self.twilio)
        self.push = PushServiceFake()
        self.push_runner = web.AppRunner(push_app(self.push), access_log=None)
        await self.push_runner.setup()
        port = embedded.free_port()
        await web.TCPSite(self.push_runner, "127.0.0.1", port).start()
        self.push_url = f"http://127.0.0.1:{port}"
        self.settings = Settings(
            redis_url=self.redis_url,
            smtp_url=Secret(self.smtp_url),
            secret_key=Secret("property-" + "k" * 40),
            public_url="https://alerts.example",
            twilio_account_sid=SID,
            twilio_auth_token=Secret(TOKEN),
            twilio_from=FROM,
            twilio_base_url=twilio_url,
            vapid_private_key=Secret(generate_vapid_keys().private_key),
            push_loopback=True,  # the push service listens on loopback
        )
        assert self.settings.channels == CHANNELS
        self.redis = make_redis(Settings(redis_url=self.redis_url))
        self.channels = make_channels(self.settings)
        self.deps: Deps = build_deps(self.settings, self.redis, self.publish, self.channels)
        self.api = TestClient(TestServer(create_api(self.settings, self.deps)))
        await self.api.start_server()

    async def stop(self) -> None:
        await self.api.close()
        for channel in self.channels.values():
            await channel.close()
        await self.redis.aclose()
        await self.twilio_runner.cleanup()
        await self.push_runner.cleanup()

    async def reset(self) -> str:
        """An empty store, nothing received, one citizen with every channel confirmed and
        subscribed to the 5th arrondissement; the department key of ``voirie``."""
        await self.redis.flushdb()
        # the matcher follows the store's change log, which an emptied store starts again
        self.deps.matcher = Matcher(self.redis, self.deps.catalogues)
        self.published.clear()
        self.dead_letters.clear()
        self.outcomes.clear()
        self.sink.messages.clear()
        self.twilio.messages.clear()
        self.push.received.clear()
        store = self.deps.store
        c = await store.create_citizen("paris", "fr")
        self.citizen = c.id
        sub, _ = self.push.subscribe(self.push_url)
        self.contacts = {
            "email": await store.add_contact("paris", c.id, "email", EMAIL, "confirmed", "test"),
            "sms": await store.add_contact("paris", c.id, "sms", PHONE, "confirmed", "test"),
            "push": await store.add_contact(
                "paris", c.id, "push", sub.endpoint, "confirmed", "test", sub.p256dh, sub.auth
            ),
        }
        body = {"area": AREA, "channels": list(CHANNELS)}
        s, index = parse_subscription(body, sid=new_id("sub"), citizen=c.id, catalogue=PARIS)
        await store.add_subscription("paris", s, index)
        return await create_department_key(self.redis, "paris", "voirie")

    async def follow(self, rid: str) -> None:
        """The citizen follows the service request ``rid`` on every channel."""
        body = {"request": rid, "channels": list(CHANNELS)}
        s, index = parse_subscription(
            body, sid=new_id("sub"), citizen=self.citizen, catalogue=PARIS
        )
        await self.deps.store.add_subscription("paris", s, index)

    async def work(self) -> None:
        """What the worker's agents would do with everything published, until nothing is left
        (a handler that raises fails the example: that would be a third outcome)."""
        t = self.deps.topics
        deliveries = {t.deliveries(ch, lane): lane for ch in CHANNELS for lane in LANES}
        while self.published:
            topic, _, raw = self.published.pop(0)
            if topic == t.city_events:
                await handle_city_event(raw, self.deps)
            elif topic == t.request_status:
                await handle_request_status(raw, self.deps)
            elif topic in deliveries:
                outcomes = await send_batch(raw, self.deps, lane=deliveries[topic])
                self.outcomes.append((topic, outcomes))
            elif topic == t.dead_letters:
                self.dead_letters.append(raw)

    def received(self) -> Received:
        reasons = [json.loads(raw)["reason"] for raw in self.dead_letters]
        return Received(
            self.sink.to(EMAIL),
            self.twilio.sent_to(PHONE),
            list(self.push.received),
            f"outcomes {self.outcomes}, dead letters {reasons}, push refused {self.push.refused}",
        )


@pytest.fixture
def stage(redis_url: str, smtp: tuple[SmtpSink, str]) -> Iterator[Stage]:
    with asyncio.Runner() as runner:
        s = Stage(runner, redis_url, smtp)
        runner.run(s.start())
        try:
            yield s
        finally:
            runner.run(s.stop())
