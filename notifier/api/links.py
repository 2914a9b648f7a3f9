"""Links citizens follow from their messages: confirm an address, unsubscribe in one click.

A GET never changes anything (mail clients and scanners prefetch links): it shows a page with a
button, and the POST acts. The token in the link says what it may do, for which contact point.
"""

from __future__ import annotations

import html

from aiohttp import web

from notifier.api.keys import DEPS
from subscriptions import contact_life, tokens
from subscriptions.errors import InvalidInput


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/confirm/{token}", confirm_page)
    router.add_post("/v1/confirm/{token}", confirm)
    router.add_get("/v1/unsubscribe/{token}", unsubscribe_page)
    router.add_post("/v1/unsubscribe/{token}", unsubscribe)


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
            '<link rel="stylesheet" href="/static/site.css">'
            f"<title>{html.escape(title)}</title></head>"
            f"<body><main><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{form}</main></body></html>"
        ),
    )


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


async def confirm_page(request: web.Request) -> web.Response:
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
    if await contact_life.expired(deps.store, payload["c"], cp):
        await contact_life.remove(deps.store, payload["c"], cp, "not confirmed in time", "expired")
        raise InvalidInput("token", "this address was not confirmed in time; add it again")
    if cp.status == "pending":
        if not await contact_life.holds_address(deps.store, payload["c"], cp):
            raise InvalidInput("token", "not a valid token")  # no link is sent for one
        cp = await deps.store.set_contact_status(payload["c"], cp.id, "confirmed", "email link")
    if _wants_html(request):
        return _page("Adresse confirmée / Address confirmed", cp.address)
    return web.json_response({"contact": cp.public()})


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
    return web.json_response({"contact": cp.public()})
