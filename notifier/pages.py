"""The web pages: the citizen portal (``/``), the department console (``/console``), the
service worker of web push (``/sw.js``) and, under ``notifier up``, the dev outbox (``/dev/``).

Plain HTML, CSS and JavaScript from ``notifier/static`` (no build step, nothing fetched from
elsewhere); every page speaks to the API like any other client. The magic link's page
(``/manage``) is served by ``notifier.manage_api``.
"""

from __future__ import annotations

import html
from importlib import resources

from aiohttp import web

from notifier.keys import SETTINGS

# Scripts and styles come only from this origin (no inline script, no inline style attribute).
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def add_routes(router: web.UrlDispatcher, dev: bool = False) -> None:
    router.add_get("/", portal)
    router.add_get("/console", console)
    router.add_get("/sw.js", service_worker)
    if dev:
        router.add_get("/dev/", dev_outbox)


def _static(name: str) -> str:
    return (resources.files("notifier") / "static" / name).read_text(encoding="utf-8")


def _page(name: str, **values: str) -> web.Response:
    """A page of ``static``, with ``{{name}}`` placeholders filled in (escaped)."""
    text = _static(name)
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", html.escape(v))
    return web.Response(text=text, content_type="text/html", headers=PAGE_HEADERS)


async def portal(request: web.Request) -> web.Response:
    """Subscribe: the map, what, how; the channels offered here are named in the page."""
    settings = request.app[SETTINGS]
    return _page("portal.html", city=settings.default_city, channels=",".join(settings.channels))


async def console(request: web.Request) -> web.Response:
    """Compose, preview, publish, update, cancel; watch the delivery figures."""
    return _page("console.html", city=request.app[SETTINGS].default_city)


async def service_worker(request: web.Request) -> web.Response:
    """Served from the root so that its scope is the whole site."""
    return web.Response(
        text=_static("sw.js"),
        content_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


async def dev_outbox(request: web.Request) -> web.Response:
    """The emails and text messages of the embedded default (``/dev/outbox``, ``/dev/sms``)."""
    return _page("dev.html")
