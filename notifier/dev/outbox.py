"""The dev outboxes of ``notifier up``: an SMTP server that keeps every message it receives as
a ``.eml`` file (``/dev/outbox``), and the text messages the local Twilio-shaped server took
(``/dev/sms``)."""

from __future__ import annotations

import email
import email.policy
import itertools
import time
from pathlib import Path

from aiohttp import web
from aiosmtpd.smtp import Envelope, Session

from notifier.api.keys import DEV

_seq = itertools.count()


class OutboxHandler:
    """aiosmtpd handler: one file per message, named so that they sort by arrival."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        name = f"{time.time_ns()}-{next(_seq):06d}.eml"
        tmp = self.folder / (name + ".tmp")
        tmp.write_bytes(content)
        tmp.rename(self.folder / name)
        return "250 Message accepted for delivery"


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/dev/outbox", listing)
    router.add_get("/dev/outbox/{name}", message)
    router.add_get("/dev/sms", sms_listing)


def _summary(path: Path) -> dict[str, str]:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return {
        "id": path.stem,
        "to": str(msg["To"]),
        "subject": str(msg["Subject"]),
        "date": str(msg["Date"]),
        "text": text.get_content() if text else "",
    }


def _outbox(request: web.Request) -> Path:
    folder = request.app[DEV].outbox_dir
    if folder is None:
        raise web.HTTPNotFound(reason="no local outbox: email goes to NOTIFIER_SMTP_URL")
    return folder


async def listing(request: web.Request) -> web.Response:
    folder = _outbox(request)
    files = sorted(folder.glob("*.eml"), reverse=True)[:50]
    return web.json_response({"messages": [_summary(p) for p in files]})


async def message(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    path = _outbox(request) / f"{name}.eml"
    if "/" in name or not path.is_file():
        raise web.HTTPNotFound(reason="no such message")
    return web.Response(body=path.read_bytes(), content_type="message/rfc822")


async def sms_listing(request: web.Request) -> web.Response:
    """The text messages the local Twilio-shaped server took, newest first."""
    fake = request.app[DEV].twilio
    if fake is None:
        raise web.HTTPNotFound(reason="no local Twilio server: SMS go to NOTIFIER_TWILIO_BASE_URL")
    return web.json_response(
        {
            "messages": [
                {
                    "sid": m.sid,
                    "to": m.to,
                    "body": m.body,
                    "status": m.status,
                    "date": m.date_created,
                }
                for m in reversed(fake.messages[-50:])
            ]
        }
    )
