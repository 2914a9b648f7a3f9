"""The three providers' local servers in one process of their own, for ``bench/channel_rates.py``.

    .venv/bin/python bench/channel_servers.py --smtp-port P --twilio-port P --push-port P \
        --push-subscribers N --ready FILE

- an aiosmtpd server that only counts the messages it accepts;
- the Twilio-shaped server (``notifier.twilio_fake``), status callbacks off;
- the web push service (``notifier.push_service_fake``), which checks each VAPID JWT and
  decrypts each payload: ``--push-subscribers`` browser key pairs are made and registered here.

All three share one event loop. They run in a process of their own so that their CPU (above
all the push service's signature check and decryption) is not taken from the client being
measured. Once listening, the subscriptions (``PushSubscription.to_json()``) are written to
``--ready`` as JSON. ``GET /bench/counts`` on the push port answers what each server took.
SIGTERM or SIGINT stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier import push_service_fake, twilio_fake

# what bench/channel_rates.py configures its clients with
ACCOUNT_SID, AUTH_TOKEN = "AC" + "b" * 32, "e" * 32
SMS_FROM = "+33700000001"


class CountingHandler:
    """aiosmtpd handler: counts what it accepts, keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        self.count += 1
        return "250 OK"


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    smtp = CountingHandler()
    smtp_server = await loop.create_server(
        lambda: SMTP(smtp, hostname="bench.local"), "127.0.0.1", args.smtp_port
    )

    twilio = twilio_fake.TwilioFake(
        ACCOUNT_SID, AUTH_TOKEN, numbers=[SMS_FROM], status_callbacks=False
    )
    twilio_runner, _ = await twilio_fake.start(twilio, port=args.twilio_port)

    push = push_service_fake.PushServiceFake()
    base = f"http://127.0.0.1:{args.push_port}"
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

    app = push_service_fake.create_app(push)
    app.router.add_get("/bench/counts", counts)
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
    parser.add_argument("--ready", type=Path, required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
