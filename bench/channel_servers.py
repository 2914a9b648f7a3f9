"""The three providers' local servers in one process of their own, for ``bench/channel_rates.py``.

    .venv/bin/python bench/channel_servers.py --smtp-port P --twilio-port P --push-port P \
        --push-subscribers N --ready FILE

- an aiosmtpd server that only counts the messages it accepts;
- the Twilio-shaped server (``notifier.dev.twilio_fake``), status callbacks off;
- the web push service (``notifier.dev.push_service_fake``), which checks each VAPID JWT and
  decrypts each payload: ``--push-subscribers`` browser key pairs are made and registered here
  (with ``--push-pool K``: K key pairs, and every token ``<letters><n>`` is a subscription with
  key pair ``n mod K``, so a city of push subscribers costs K key pairs; see ``pooled_push``).

All three share one event loop. They run in a process of their own so that their CPU (above
all the push service's signature check and decryption) is not taken from the client being
measured. Once listening, the subscriptions (``PushSubscription.to_json()``) are written to
``--ready`` as JSON. ``GET /bench/counts`` on the push port answers what each server took;
``POST /bench/arrivals`` with ``{"keys": [...], "since": t}`` answers, for each key
(``email:<address>``, ``sms:<number>``, ``push:<token>``), when the first message to it at or
after ``t`` (``time.time()``) arrived, or null. SIGTERM or SIGINT stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import gc
import json
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.dev import push_service_fake, twilio_fake
from notifier.dev.push_service_fake import Subscriber

T = TypeVar("T")

# what bench/channel_rates.py configures its clients with
ACCOUNT_SID, AUTH_TOKEN = "AC" + "b" * 32, "e" * 32
SMS_FROM = "+33700000001"


class Arrivals:
    """When each message arrived (``time.time()``), by ``channel:recipient``."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    def stamp(self, key: str) -> None:
        self.times.setdefault(key, []).append(time.time())

    def first_since(self, key: str, since: float) -> float | None:
        times = self.times.get(key, ())
        i = bisect.bisect_left(times, since)
        return times[i] if i < len(times) else None


class Stamped(list[T]):
    """A fake's list of what it took, stamping each item in ``arrivals`` as it is appended."""

    def __init__(self, arrivals: Arrivals, name: Callable[[T], str]) -> None:
        super().__init__()
        self.arrivals, self.name = arrivals, name

    def append(self, item: T) -> None:
        self.arrivals.stamp(self.name(item))
        super().append(item)


class CountingHandler:
    """aiosmtpd handler: counts what it accepts and when each recipient got it, keeps nothing."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.count = 0
        self.arrivals = arrivals

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        self.count += 1
        self.arrivals.stamp(f"email:{envelope.rcpt_tos[0]}")
        return "250 OK"


class PooledSubscribers(dict[str, Subscriber]):
    """The push service's subscribers, where a token ``<letters><n>`` not registered is a
    subscription with the key pair ``pool[n % len(pool)]``."""

    def __init__(self, pool: list[Subscriber]) -> None:
        super().__init__()
        self.pool = pool

    def get(self, token: str, default: Any = None) -> Any:  # type: ignore[override]
        found = super().get(token)
        if found is not None:
            return found
        m = re.fullmatch(r"[a-z]+(\d+)", token)
        return self.pool[int(m.group(1)) % len(self.pool)] if m else default


def pooled_push(push: push_service_fake.PushServiceFake, base: str, k: int) -> list[Any]:
    """K key pairs for every token (``PooledSubscribers``); their ``to_json()``: a citizen
    whose token ends in n uses ``endpoint`` ``{base}/push/<token>`` with the keys of item
    ``n % k``."""
    subscriptions = [push.subscribe(base)[0] for _ in range(k)]
    pooled = PooledSubscribers(
        [push.subscribers[s.endpoint.rsplit("/", 1)[1]] for s in subscriptions]
    )
    pooled.update(push.subscribers)
    push.subscribers = pooled
    return [s.to_json() for s in subscriptions]


class Collections:
    """This process's garbage collections that took ``LONG_MS`` or more, each written to stderr
    (the bench's ``servers.log``). The servers keep every message they took (for the counts and
    the arrival times): a city-wide alert's hundreds of thousands of objects, which every full
    collection walks again. With ``freeze``, what a full collection leaves is moved out of the
    collector's sight (``gc.freeze``), as the service's own processes do with their setup
    data (``streams.heap``): a real provider does not stop its answers for our bench's memory."""

    LONG_MS = 50.0

    def __init__(self, freeze: bool) -> None:
        self.freeze, self.began = freeze, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.began = time.perf_counter()
            return
        ms = (time.perf_counter() - self.began) * 1000
        if ms >= self.LONG_MS:
            g, frozen = info["generation"], gc.get_freeze_count()
            print(f"servers: a generation {g} collection took {ms:.0f} ms ({frozen:,} objects "
                  "frozen)", file=sys.stderr, flush=True)  # fmt: skip
        if self.freeze and info["generation"] == 2:
            gc.freeze()


async def serve(args: argparse.Namespace) -> None:
    Collections(freeze=not args.no_freeze)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    arrivals = Arrivals()
    smtp = CountingHandler(arrivals)
    smtp_server = await loop.create_server(
        lambda: SMTP(smtp, hostname="bench.local"), "127.0.0.1", args.smtp_port
    )

    twilio = twilio_fake.TwilioFake(
        ACCOUNT_SID, AUTH_TOKEN, numbers=[SMS_FROM], status_callbacks=False
    )
    twilio.messages = Stamped(arrivals, lambda m: f"sms:{m.to}")
    twilio_runner, _ = await twilio_fake.start(twilio, port=args.twilio_port)

    push = push_service_fake.PushServiceFake()
    push.received = Stamped(arrivals, lambda p: f"push:{p.token}")
    base = f"http://127.0.0.1:{args.push_port}"
    if args.push_pool:
        subscriptions = pooled_push(push, base, args.push_pool)
    else:
        subscriptions = [push.subscribe(base)[0].to_json() for _ in range(args.push_subscribers)]

    async def counts(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "smtp": smtp.count,
                "twilio": len(twilio.messages),
                "twilio_requests": twilio.requests,
                "push": len(push.received),
                "push_refused": len(push.refused),
            }
        )

    async def first_arrivals(request: web.Request) -> web.Response:
        body = await request.json()
        since = float(body["since"])
        return web.json_response({k: arrivals.first_since(k, since) for k in body["keys"]})

    app = push_service_fake.create_app(push)
    app.router.add_get("/bench/counts", counts)
    app.router.add_post("/bench/arrivals", first_arrivals)
    push_runner = web.AppRunner(app, access_log=None)
    await push_runner.setup()
    await web.TCPSite(push_runner, "127.0.0.1", args.push_port).start()
    try:
        tmp = args.ready.with_suffix(".tmp")
        tmp.write_text(json.dumps(subscriptions))
        tmp.replace(args.ready)  # the client waits for this file: written whole or not at all
        await stop.wait()
    finally:
        await push_runner.cleanup()
        await twilio_runner.cleanup()
        smtp_server.close()
        with contextlib.suppress(Exception):
            await smtp_server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--twilio-port", type=int, required=True)
    parser.add_argument("--push-port", type=int, required=True)
    parser.add_argument("--push-subscribers", type=int, default=1000)
    parser.add_argument("--push-pool", type=int, default=0, help="K pooled key pairs (0: none)")
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave what they keep to the full collections"
    )
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
