"""The web pages: the citizen portal (``/``), the department console (``/console``), the
service worker of web push (``/sw.js``) and, under ``notifier up``, the dev outbox (``/dev/``).

The portal and the console are for one city: ``?city=<id>``, else the deployment's default city;
an unknown city answers a 404 page naming the cities there are. The page carries the city's id
(and its name, so that nothing flickers); its scripts read the rest (categories, languages,
colour) from ``GET /v1/cities/{city}``.

Plain HTML, CSS and JavaScript from ``notifier/web/static`` (no build step, nothing fetched from
elsewhere); every page speaks to the API like any other client. The magic link's page
(``/manage``) is served by ``notifier.api.manage``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from importlib import resources
from urllib.parse import urlsplit

from aiohttp import web

from notifier.api.keys import DEPS, SETTINGS
from notifier.api.security_headers import CSP
from subscriptions.cities import City

# an https origin as a CSP source: a host name or address and a port, nothing else
IMAGE_ORIGIN = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# the security headers are added to every page by ``notifier.api.security_headers``
PAGE_HEADERS = {"Cache-Control": "no-cache"}


def add_routes(router: web.UrlDispatcher, dev: bool = False) -> None:
    router.add_get("/", portal)
    router.add_get("/console", console)
    router.add_get("/sw.js", service_worker)
    if dev:
        router.add_get("/dev/", dev_outbox)


def _static(name: str) -> str:
    return (resources.files("notifier.web") / "static" / name).read_text(encoding="utf-8")


def _page(
    name: str,
    status: int = 200,
    markup: Mapping[str, str] | None = None,
    city: City | None = None,
    **values: str,
) -> web.Response:
    """A page of ``static``, with ``{{name}}`` placeholders filled in: ``values`` escaped,
    ``markup`` as it is (HTML the caller escaped); a ``city``'s page names it (``{{city}}``,
    ``{{city_name}}``) and shows its logo (``{{logo}}``), which its CSP lets in."""
    headers, extra = PAGE_HEADERS, dict(markup or {})
    if city is not None:
        values = {"city": city.id, "city_name": city.name, **values}
        origin = _image_origin(city.logo_url)
        extra["logo"] = ""
        if origin:
            extra["logo"] = f'<img class="logo" src="{html.escape(city.logo_url)}" alt="">'
            csp = CSP.format(images=" " + origin)
            headers = {**PAGE_HEADERS, "Content-Security-Policy": csp}
    filled = {k: html.escape(v) for k, v in values.items()} | extra
    text = PLACEHOLDER.sub(lambda m: filled.get(m[1], m[0]), _static(name))  # in one pass
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


def _image_origin(url: str) -> str:
    """The origin of an https URL, as a CSP source; "" for none, or for anything else."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if parts.scheme == "https" and IMAGE_ORIGIN.fullmatch(origin) else ""


async def _city(request: web.Request, path: str) -> City | web.Response:
    """The city a page is for (``?city=``, else the default city), loading a city created
    elsewhere; else the 404 page, which links to the cities there are."""
    cities = request.app[DEPS].cities
    city = request.query.get("city") or request.app[SETTINGS].default_city
    if await cities.ensure(city):
        return cities[city]
    await cities.refresh()
    links = "".join(
        f'<li><a href="{path}?city={html.escape(c)}">{html.escape(cities[c].name)}</a></li>'
        for c in cities.ids()
    )
    return _page("nocity.html", 404, {"cities": links}, unknown=city)


async def portal(request: web.Request) -> web.Response:
    """Subscribe: the map, what, how; the channels offered here are named in the page."""
    found = await _city(request, "/")
    if isinstance(found, web.Response):
        return found
    channels = ",".join(request.app[SETTINGS].channels)
    return _page("portal.html", city=found, channels=channels)


async def console(request: web.Request) -> web.Response:
    """Compose, preview, publish, update, cancel; watch the delivery figures."""
    found = await _city(request, "/console")
    if isinstance(found, web.Response):
        return found
    return _page("console.html", city=found)


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
