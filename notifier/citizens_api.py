"""Citizen routes: register with an email (double opt-in), subscribe to an area, confirm,
unsubscribe in one click, read what is held about you.

A citizen reaches only their own data, through a signed token (``Authorization: Bearer``).
"""

from __future__ import annotations

import html
import json
import time

from aiohttp import web

from notifier.auth import bearer
from notifier.http import city_of, json_body
from notifier.keys import DEPS
from streams.deps import Deps
from streams.ledger import notification_id
from streams.records import EmailBatch, Recipient
from subscriptions import tokens
from subscriptions.errors import InvalidInput
from subscriptions.store import LANGUAGES, ContactPoint, new_id
from subscriptions.subscription import parse_subscription


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/cities/{city}/citizens", register)
    router.add_get("/v1/cities/{city}/citizens/{cid}", show)
    router.add_post("/v1/cities/{city}/citizens/{cid}/subscriptions", subscribe)
    router.add_get("/v1/confirm/{token}", confirm_page)
    router.add_post("/v1/confirm/{token}", confirm)
    router.add_get("/v1/unsubscribe/{token}", unsubscribe_page)
    router.add_post("/v1/unsubscribe/{token}", unsubscribe)


async def register(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    body = await json_body(request)
    language = body.get("language", "fr")
    if language not in LANGUAGES:
        raise InvalidInput("language", f"must be one of {', '.join(LANGUAGES)}")
    citizen, contact = await deps.store.create_citizen(city, body.get("email"), str(language))  # type: ignore[arg-type]
    await send_confirmation(deps, city, contact, citizen.language)
    token = tokens.sign(deps.secret_key, "manage", city, citizen.id)
    return web.json_response(
        {
            "citizen": {"id": citizen.id, "language": citizen.language},
            "contacts": [_contact(contact)],
            "token": token,
            "next": "open the confirmation link sent to your address",
        },
        status=201,
    )


async def send_confirmation(deps: Deps, city: str, contact: ContactPoint, language: str) -> None:
    event = f"confirm-{contact.id}-{int(time.time())}"
    nid = notification_id(city, event, contact.citizen, "email")
    url = f"{deps.base_url}/v1/confirm/{tokens.sign(deps.secret_key, 'confirm', city, contact.id)}"
    lang = deps.renderer.language_for("confirmation", language)
    variant = deps.renderer.render_email(
        "confirmation", lang, {"city_name": deps.city_name(city), "confirm_url": url}
    )
    await deps.ledger.enqueue(city, event, "email", [(nid, contact.citizen, contact.id)])
    batch = EmailBatch(
        city,
        event,
        "confirmation",
        {lang: variant},
        (Recipient(nid, contact.citizen, contact.id, contact.address, lang),),
    )
    await deps.publish(deps.topics.email, event.encode(), batch.to_wire())


def _citizen_token(request: web.Request, city: str) -> str:
    payload = tokens.verify(request.app[DEPS].secret_key, bearer(request), "manage", city)
    if payload["s"] != request.match_info["cid"]:
        raise web.HTTPForbidden(
            text=json.dumps(
                {"error": {"field": "Authorization", "reason": "this token is for another citizen"}}
            ),
            content_type="application/json",
        )
    return str(payload["s"])


async def show(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    cid = _citizen_token(request, city)
    citizen = await deps.store.citizen(city, cid)
    return web.json_response(
        {
            "citizen": {
                "id": citizen.id,
                "language": citizen.language,
                "timezone": citizen.timezone,
            },
            "contacts": [_contact(c) for c in await deps.store.contacts_of(city, cid)],
            "subscriptions": [s.public() for s in await deps.store.subscriptions_of(city, cid)],
            "consent": await deps.store.consent_log(city, cid),
        }
    )


async def subscribe(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    cid = _citizen_token(request, city)
    body = await json_body(request)
    sub, index = parse_subscription(
        body, sid=new_id("sub"), citizen=cid, catalogue=deps.catalogues[city]
    )
    await deps.store.add_subscription(city, sub, index)
    return web.json_response(sub.public(), status=201)


def _contact(c: ContactPoint) -> dict[str, str]:
    return {"id": c.id, "channel": c.channel, "address": c.address, "status": c.status}


def _page(
    title: str, message: str, form_action: str | None = None, button: str = ""
) -> web.Response:
    form = (
        (
            f'<form method="post" action="{html.escape(form_action)}">'
            f'<button type="submit">{html.escape(button)}</button></form>'
        )
        if form_action
        else ""
    )
    return web.Response(
        content_type="text/html",
        text=(
            f'<!doctype html><html lang="fr"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width">'
            f"<title>{html.escape(title)}</title></head>"
            f"<body><main><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{form}</main></body></html>"
        ),
    )


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


async def confirm_page(request: web.Request) -> web.Response:
    """A GET never confirms (mail clients and scanners prefetch links): it shows a button."""
    deps = request.app[DEPS]
    tokens.verify(deps.secret_key, request.match_info["token"], "confirm")
    return _page(
        "Confirmer votre adresse / Confirm your address",
        "Cliquez pour confirmer. / Click to confirm.",
        request.path,
        "Confirmer / Confirm",
    )


async def confirm(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    payload = tokens.verify(deps.secret_key, request.match_info["token"], "confirm")
    cp = await deps.store.contact(payload["c"], payload["s"])
    if cp.status == "pending":
        cp = await deps.store.set_contact_status(payload["c"], cp.id, "confirmed", "email link")
    if _wants_html(request):
        return _page("Adresse confirmée / Address confirmed", cp.address)
    return web.json_response({"contact": _contact(cp)})


async def unsubscribe_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    tokens.verify(deps.secret_key, request.match_info["token"], "unsubscribe")
    return _page(
        "Se désabonner / Unsubscribe",
        "Vous ne recevrez plus rien à cette adresse. / "
        "You will receive nothing more at this address.",
        request.path,
        "Se désabonner / Unsubscribe",
    )


async def unsubscribe(request: web.Request) -> web.Response:
    """RFC 8058 one-click: an empty POST (or ``List-Unsubscribe=One-Click``) acts at once."""
    deps = request.app[DEPS]
    payload = tokens.verify(deps.secret_key, request.match_info["token"], "unsubscribe")
    cp = await deps.store.set_contact_status(
        payload["c"], payload["s"], "unsubscribed", "one-click link"
    )
    if _wants_html(request):
        return _page("Désabonnement enregistré / Unsubscribed", cp.address)
    return web.json_response({"contact": _contact(cp)})
