"""Twilio's webhooks: status callbacks and inbound SMS (STOP, ARRET, START, HELP, and the
6-digit confirmation code sent back).

Each request is verified with ``X-Twilio-Signature`` over the exact public URL Twilio called
(``NOTIFIER_PUBLIC_URL`` + path) and the form parameters; a forged one gets 403. Status
callbacks become receipts on the ``receipts`` topic, folded into the ledger by the worker.
A replayed request (same ``MessageSid``, and for a status callback the same status) is answered
as the first was and changes nothing (``notifier.webhook_replays``).
"""

from __future__ import annotations

import logging
import re
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
from notifier.http import city_of, error
from notifier.keys import DEPS, SETTINGS
from notifier.webhook_replays import once
from streams.deps import Deps
from streams.records import Receipt

log = logging.getLogger("notifier.webhooks")
SIGNATURE = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
T = TypeVar("T")
CODE = re.compile(r"\d{6}")
CONFIRMED = {
    "fr": "Numéro confirmé : vous recevrez les alertes choisies. STOP pour ne plus recevoir.",
    "en": "Number confirmed: you will get the alerts you chose. STOP to opt out.",
}
HELP = {
    "fr": "Alertes de {city} : répondez STOP pour ne plus recevoir de SMS, START pour reprendre.",
    "en": "{city} alerts: reply STOP to stop text messages, START to get them again.",
}


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


async def _language(deps: Deps, city: str, cid: str) -> str:
    return (await deps.store.citizen(city, cid)).language


async def inbound(request: web.Request) -> web.Response:
    """STOP (and ARRET…) switches the number off for every subscription; START on again."""
    city, deps = city_of(request), request.app[DEPS]
    sms = await _verified(request, parse_inbound_sms)
    if isinstance(sms, web.Response):
        return sms
    async with once(deps.store.redis, city, "inbound", sms.message_sid) as first:
        reply = await _act_on(deps, city, sms) if first else ""  # a replay changes nothing
    message = f"<Message>{escape(reply)}</Message>" if reply else ""
    return web.Response(
        text=f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>',
        content_type="text/xml",
    )


async def _act_on(deps: Deps, city: str, sms: InboundSms) -> str:
    """What the message asks, done; the reply to text back ("" for none)."""
    cp = await deps.store.contact_by_address(city, "sms", sms.from_)
    reply = ""
    if sms.keyword == "HELP":
        lang = await _language(deps, city, cp.citizen) if cp is not None else "fr"
        reply = HELP.get(lang, HELP["fr"]).format(city=deps.city_name(city))
    elif cp is not None and sms.keyword == "STOP":
        await deps.store.set_contact_status(city, cp.id, "opted_out", "SMS STOP")
    elif cp is not None and sms.keyword == "START" and cp.status == "opted_out":
        await deps.store.set_contact_status(city, cp.id, "confirmed", "SMS START")
    elif cp is not None and cp.status == "pending" and CODE.fullmatch(sms.body.strip()):
        # replying with the code confirms the number: no token needed (an imported phone-only
        # citizen has none), the reply comes from the number itself
        if await deps.store.check_code(city, cp.id, sms.body.strip()):
            await deps.store.set_contact_status(city, cp.id, "confirmed", "SMS code reply")
            reply = CONFIRMED.get(await _language(deps, city, cp.citizen), CONFIRMED["fr"])
    return reply
