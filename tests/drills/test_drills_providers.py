"""Failure drills: each provider goes away while announcements are on their way, then comes
back. What was accepted reaches everyone once; what expired meanwhile reaches no one.

Real processes and servers throughout: the worker is ``notifier worker``, the providers are
the aiosmtpd server, the Twilio-shaped server and the push service, each stopped (connections
refused) and started again on the same port.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from notifier.settings import Settings
from tests.drills.helpers import (
    PushServer,
    SmtpServer,
    TwilioServer,
    Worker,
    duplicates,
    phone,
    reached,
    served_api,
    settled,
    subscribe,
    with_providers,
)
from tests.stage import eventually

CITIZENS = 20
# How long a provider stays away. A sender retries a transient failure after waits that double
# from half a second up to NOTIFIER_RETRY_MAX_DELAY, for NOTIFIER_RETRY_GIVE_UP_AFTER (hours) and
# never past the event's expiry (streams.state.scheduler.Backoff): 0.5 s, 1 s, 2 s, 4 s, 8 s, 16 s…
# apart, so the messages of an outage of OUTAGE seconds go at most about as long after its end.
OUTAGE = 5.0
LONG_OUTAGE = 20.0  # longer than the five tries (about 8 s in all) a message used to get
EXPIRES_IN = 3.0  # the stale announcement expires during the outage
CHANNEL = {"smtp": "email", "twilio": "sms", "push": "push"}

pytestmark = pytest.mark.drill


class Providers:
    def __init__(self, which: str) -> None:
        self.which = which
        self.smtp = SmtpServer()
        self.sms = TwilioServer() if which == "twilio" else None
        self.push = PushServer() if which == "push" else None

    @property
    def server(self) -> Any:
        return {"smtp": self.smtp, "twilio": self.sms, "push": self.push}[self.which]

    async def up(self, only: str | None = None) -> None:
        if only in (None, "smtp"):
            self.smtp.up()
        for name, server in (("twilio", self.sms), ("push", self.push)):
            if server is not None and only in (None, name):
                await server.up()

    async def down(self, only: str) -> None:
        if only == "smtp":
            self.smtp.down()
        else:
            await self.server.down()

    async def close(self) -> None:
        self.smtp.down()
        for server in (self.sms, self.push):
            if server is not None:
                await server.down()


async def drill(
    which: str, outage: float, settings: Settings, redis: Redis, logs: Path
) -> tuple[list[str], list[tuple[str, str]], dict[str, Any], dict[str, Any]]:
    """The providers up, a warm-up announcement through, ``which`` down, one announcement that
    keeps and one that expires sent meanwhile, ``which`` back after ``outage`` seconds; then
    wait until both announcements' notifications have their outcome. Returns the recipients,
    what the provider took, and both announcements' delivery figures."""
    p = Providers(which)
    await p.up()
    s = with_providers(settings, p.smtp, p.sms, p.push)
    channel = CHANNEL[which]
    to = await subscribe(
        redis, CITIZENS, channel, phone if channel == "sms" else lambda i: f"c{i}@example.org",
        push=p.push,
    )  # fmt: skip
    worker = Worker(s, logs / f"worker-{s.app_id}.log")
    try:
        async with served_api(s, redis) as api:
            await api.announce("Avant")
            await eventually(
                lambda: len(reached(p.server.received(), "Avant")) == CITIZENS,
                within=90,
                what="the warm-up announcement, provider up",
            )
            await p.down(which)
            kept = await api.announce("Pendant")
            stale = await api.announce("Périmé", expires_in=EXPIRES_IN)
            await asyncio.sleep(outage)  # the provider stays away this long
            await p.up(which)
            for event in (kept, stale):
                await eventually(
                    functools.partial(_settled, api, event["href"], channel),
                    within=60,
                    what=f"an outcome for every notification of {event['id']}",
                )
            figures = (await api.deliveries(kept["href"]), await api.deliveries(stale["href"]))
        return to, p.server.received(), *figures
    except BaseException:
        print(worker.tail())
        raise
    finally:
        worker.stop()
        await p.close()


async def _settled(api: Any, href: str, channel: str) -> bool:
    return settled(await api.deliveries(href), channel, CITIZENS)


@pytest.mark.timeout(200)
@pytest.mark.parametrize("which", ["smtp", "twilio", "push"])
async def test_a_provider_outage_loses_nothing_and_sends_nothing_stale(
    which: str, settings: Settings, redis: Redis, logs: Path
) -> None:
    to, received, kept, stale = await drill(which, OUTAGE, settings, redis, logs)
    channel = CHANNEL[which]
    assert sorted(reached(received, "Pendant")) == sorted(to)  # everyone, once
    assert duplicates(received) == 0
    assert reached(received, "Périmé") == []  # expired during the outage: never sent
    assert set(kept[channel]) <= {"sent", "delivered"}, kept
    assert not {"sent", "delivered"} & set(stale[channel]), stale


@pytest.mark.timeout(200)
async def test_an_smtp_outage_longer_than_the_retries_loses_nothing(
    settings: Settings, redis: Redis, logs: Path
) -> None:
    to, received, kept, stale = await drill("smtp", LONG_OUTAGE, settings, redis, logs)
    assert kept["email"] == {"sent": CITIZENS}
    assert sorted(reached(received, "Pendant")) == sorted(to)
    assert duplicates(received) == 0
    assert reached(received, "Périmé") == [] and not {"sent", "delivered"} & set(stale["email"])
