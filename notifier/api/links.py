"""Links citizens follow from their messages: confirm an address, unsubscribe in one click, open
their alerts from an alert email.

A GET never changes anything (mail clients and scanners prefetch links): it shows a page with a
button, and the POST acts. The token in the link says what it may do, for which contact point.

The pages have the site's header, say what happened and what comes next, and lead to the
citizen's alerts (a management link made for them: whoever holds the confirmation or
unsubscribe link holds the address) and back to the portal. They are written in the reader's
language (``?lang=`` if given, else the citizen's), from the pages' strings
(``notifier/web/static/strings.json``), so they read without JavaScript; ``link.js`` adds the
language switch.

An alert email's "manage" link is its unsubscribe link followed by ``/manage``: the email
already carries that signed link per recipient, so nothing more is signed or sent per message.
It opens the citizen's page with a management token made then; signing out everywhere ends
the links of every message received before (``REVOKED``), as it ends the tokens.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from typing import Any

from aiohttp import web

from notifier.api.keys import DEPS, SETTINGS
from notifier.web.pages import PAGE_HEADERS, PLACEHOLDER
from subscriptions import contact_life, editing, token_versions, tokens
from subscriptions.contacts import ContactPoint
from subscriptions.errors import InvalidInput, NotFound
from subscriptions.store import key

REVOKED = "links_before"  # citizen hash field: message links made before this time are refused


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/confirm/{token}", _dead_ends(confirm_page))
    router.add_post("/v1/confirm/{token}", confirm)
    router.add_get("/v1/unsubscribe/{token}", _dead_ends(unsubscribe_page))
    router.add_post("/v1/unsubscribe/{token}", unsubscribe)
    router.add_get("/v1/unsubscribe/{token}/manage", _dead_ends(manage_from_message))


@cache
def _strings() -> dict[str, dict[str, Any]]:
    raw = (resources.files("notifier.web") / "static" / "strings.json").read_text("utf-8")
    return dict(json.loads(raw))


def _t(lang: str, name: str, **values: str) -> str:
    text = str(_strings()[lang].get(name, _strings()["fr"][name]))
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return text


class Reader:
    """Who a link's page speaks to: the city, the contact point, the language."""

    def __init__(self, request: web.Request, city: str, cp: ContactPoint, language: str) -> None:
        asked = request.query.get("lang", "")
        self.request, self.city, self.cp = request, city, cp
        self.lang = asked if asked in _strings() else language if language in _strings() else "fr"

    def t(self, name: str) -> str:
        deps = self.request.app[DEPS]
        city_name = deps.cities[self.city].name if self.city in deps.cities else ""
        return _t(self.lang, name, address=self.cp.address, city=city_name)

    async def manage_url(self) -> str:
        """The citizen's page, with a management token made now."""
        deps = self.request.app[DEPS]
        version = await token_versions.current(deps.store.redis, self.city, self.cp.citizen)
        token = tokens.sign(
            deps.secret_key, "manage", self.city, self.cp.citizen, version=version or 0
        )
        return f"/manage#{token}"

    async def page(
        self, title: str, lead: str, *, button: str = "", next_key: str = "", manage: bool = True
    ) -> web.Response:
        """The page: ``title``, ``lead`` and ``next_key`` are string keys; ``button`` the key of
        the button that posts back to this address."""
        esc = html.escape
        form = (
            f'<form method="post" action="{esc(self.request.path)}">'
            f'<button type="submit" class="primary" data-i18n="{button}">{esc(self.t(button))}'
            "</button></form>"
            if button
            else ""
        )
        nxt = (
            f'<h2 data-i18n="page.next">{esc(self.t("page.next"))}</h2>'
            f'<p data-i18n="{next_key}">{esc(self.t(next_key))}</p>'
            if next_key
            else ""
        )
        portal = f"/?city={self.city}"
        link = (
            f'<li><a href="{esc(await self.manage_url())}" data-i18n="page.manage">'
            f"{esc(self.t('page.manage'))}</a></li>"
            if manage
            else ""
        )
        values = {
            "lang": self.lang,
            "title": self.t(title),
            "title_key": title,
            "lead": self.t(lead),
            "lead_key": lead,
            "brand": self.t("portal.brand"),
            "skip": self.t("page.skip"),
            "languages": self.t("lang.switch"),
            "portal": portal,
            "portal_text": self.t("page.portal"),
            "city": self.city,
            "address": self.cp.address,
        }
        filled = {k: esc(v) for k, v in values.items()} | {
            "form": form,
            "next": nxt,
            "manage": link,
        }
        template = (resources.files("notifier.web") / "static" / "link.html").read_text("utf-8")
        text = PLACEHOLDER.sub(lambda m: filled.get(m[1], m[0]), template)
        headers = {**PAGE_HEADERS, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        return web.Response(text=text, content_type="text/html", headers=headers)


class DeadLink(Exception):  # noqa: N818 (a page to answer with, not an error)
    """A link that no longer works: the page that says so and where to go instead."""

    def __init__(self, page: web.Response) -> None:
        self.page = page


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _dead_ends(handler: Handler) -> Handler:
    """The handler, answering a link that no longer works with its page (a 404)."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except DeadLink as e:
            return e.page

    return wrapped


async def _reader(request: web.Request, purpose: str) -> tuple[Reader, dict[str, Any]]:
    """The reader of a valid link; for a wrong, expired or spent one, to a browser, a page that
    says the link no longer works and where to go instead (else the error)."""
    deps = request.app[DEPS]
    try:
        payload = tokens.verify(deps.secret_key, request.match_info["token"], purpose)
        found = await deps.store.contact(str(payload["c"]), payload["s"])
    except (InvalidInput, NotFound):
        if not _wants_html(request):  # a program: the error, naming the field
            raise
        city = request.app[SETTINGS].default_city
        nobody = ContactPoint("", "", "email", "", "gone")
        page = await Reader(request, city, nobody, "fr").page(
            "page.dead.title", "page.dead.lead", next_key="page.dead.next", manage=False
        )
        page.set_status(404)
        raise DeadLink(page) from None
    city = str(payload["c"])
    await deps.cities.ensure(city)
    cp = found
    try:
        language = (await deps.store.citizen(city, cp.citizen)).language
    except NotFound:
        language = "fr"
    return Reader(request, city, cp, language), payload


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


async def confirm_page(request: web.Request) -> web.Response:
    reader, _ = await _reader(request, "confirm")
    if reader.cp.status == "confirmed":
        return await reader.page("confirm.done.title", "confirm.done.lead", next_key="confirm.next")
    return await reader.page("confirm.title", "confirm.lead", button="confirm.button", manage=False)


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
        await editing.join(deps.store, payload["c"], cp)
    if _wants_html(request):
        reader, _ = await _reader(request, "confirm")
        return await reader.page("confirm.done.title", "confirm.done.lead", next_key="confirm.next")
    return web.json_response({"contact": cp.public()})


async def unsubscribe_page(request: web.Request) -> web.Response:
    reader, _ = await _reader(request, "unsubscribe")
    if reader.cp.status == "unsubscribed":
        return await reader.page(
            "unsubscribe.done.title", "unsubscribe.done.lead", next_key="unsubscribe.next"
        )
    return await reader.page(
        "unsubscribe.title",
        "unsubscribe.lead",
        button="unsubscribe.button",
        next_key="unsubscribe.instead",
    )


async def unsubscribe(request: web.Request) -> web.Response:
    """RFC 8058 one-click: an empty POST (or ``List-Unsubscribe=One-Click``) acts at once."""
    deps = request.app[DEPS]
    payload = tokens.verify(deps.secret_key, request.match_info["token"], "unsubscribe")
    cp = await deps.store.set_contact_status(
        payload["c"], payload["s"], "unsubscribed", "one-click link"
    )
    if _wants_html(request):
        reader, _ = await _reader(request, "unsubscribe")
        return await reader.page(
            "unsubscribe.done.title", "unsubscribe.done.lead", next_key="unsubscribe.next"
        )
    return web.json_response({"contact": cp.public()})


async def manage_from_message(request: web.Request) -> web.Response:
    """An alert email's "manage my alerts" link: the citizen's page, opened with a management
    token made now (303 to ``/manage#<token>``), unless the citizen signed out everywhere
    since the message was sent (then the portal, where a new link can be asked for)."""
    reader, payload = await _reader(request, "unsubscribe")
    deps = request.app[DEPS]
    made = int(payload["e"]) - tokens.PURPOSES["unsubscribe"]
    before = await deps.store.redis.hget(key(reader.city, "citizen", reader.cp.citizen), REVOKED)
    if before is not None and made < int(before):
        raise web.HTTPSeeOther(f"/?city={reader.city}#ended")
    raise web.HTTPSeeOther(await reader.manage_url())


async def revoke_message_links(deps: Any, city: str, cid: str) -> None:
    """The manage links of every message sent so far stop opening the citizen's page."""
    await deps.store.redis.hset(key(city, "citizen", cid), REVOKED, str(int(time.time()) + 1))
