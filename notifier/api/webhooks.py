"""Twilio's webhooks: status callbacks and inbound SMS (STOP, ARRET, START, HELP, and the
6-digit confirmation code sent back).

Each request is verified with ``X-Twilio-Signature`` over the exact public URL Twilio called
(``NOTIFIER_PUBLIC_URL`` + path) and the form parameters; a forged one gets 403. Status
callbacks become receipts on the ``receipts`` topic, folded into the ledger by the worker.
A replayed request (same ``MessageSid``, and for a status callback the same status) is answered
as the first was and changes nothing (``notifier.api.webhook_replays``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar
from xml.sax.saxutils import escape

from aiohttp import web

from channels.twilio_webhooks import (
    InboundSms,
    WebhookError,
    parse_inbound_sms,
    parse_status_callback,
    signature_valid,
)
from notifier.api.http import city_of, error
from notifier.api.keys import DEPS, SETTINGS
from notifier.api.webhook_replays import once
from streams.deps import Services
from streams.records import Receipt
from subscriptions.sms_replies import act_on

log = logging.getLogger("notifier.webhooks")
SIGNATURE = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
T = TypeVar("T")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/cities/{city}/twilio/status", status_callback)
    router.add_post("/v1/cities/{city}/twilio/inbound", inbound)


async def _verified(request: web.Request, parse: Callable[[dict[str, str]], T]) -> T | web.Response:
    """The webhook's form, signature checked and parsed; or the 403/400 to answer."""
    settings = request.app[SETTINGS]
    if request.content_type != FORM:
        return error(400, "Content-Type", f"must be {FORM}, as Twilio sends")
    try:
        form = await request.post()
    except (ValueError, LookupError):  # a charset Python does not know, bytes not in it
        return error(400, "body", "not a form in its charset")
    params = {k: str(v) for k, v in form.items()}
    url = settings.base_url + request.path_qs
    token = str(settings.twilio_auth_token)
    if not token or not signature_valid(token, url, params, request.headers.get(SIGNATURE)):
        log.warning("refused a Twilio webhook with a bad signature on %s", request.path)
        return error(403, SIGNATURE, "the signature does not match this URL and body")
    try:
        return parse(params)
    except WebhookError as e:
        return error(400, "body", str(e))


async def status_callback(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    cb = await _verified(request, parse_status_callback)
    if isinstance(cb, web.Response):
        return cb
    receipt = Receipt(
        city, "twilio", cb.message_sid, cb.status, str(cb.error_code) if cb.error_code else ""
    )
    async with once(deps.store.redis, city, "status", cb.message_sid, cb.status) as first:
        if first:  # a replay is answered the same, and changes nothing
            await deps.publish(deps.topics.receipts, cb.message_sid.encode(), receipt.to_wire())
    return web.Response(status=204)


async def inbound(request: web.Request) -> web.Response:
    """An SMS from a citizen (STOP, START, HELP, their code): what it asks done, by
    ``subscriptions.sms_replies``; the reply, worded by ``templates/``, as TwiML."""
    city, deps = city_of(request), request.app[DEPS]
    sms = await _verified(request, parse_inbound_sms)
    if isinstance(sms, web.Response):
        return sms
    async with once(deps.store.redis, city, "inbound", sms.message_sid) as first:
        reply = await _reply_to(deps, city, sms) if first else ""  # a replay changes nothing
    message = f"<Message>{escape(reply)}</Message>" if reply else ""
    return web.Response(
        text=f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>',
        content_type="text/xml",
    )


async def _reply_to(deps: Services, city: str, sms: InboundSms) -> str:
    """What the message asks, done; the reply to text back ("" for none)."""
    answer = await act_on(deps.store, city, sms.from_, sms.keyword, sms.body)
    if answer is None:
        return ""
    context = {"city_name": deps.city_name(city)}
    return deps.renderer.render(answer.reply, "sms", answer.language, context)
