"""The cities (tenants) this deployment serves.

- ``GET /v1/cities``: the cities, for a portal's city picker.
- ``GET /v1/cities/{city}``: one city as citizens see it (name, languages, categories, look).
- ``PUT /v1/cities/{city}``: create or replace a city from its document
  (``subscriptions.city_document.parse_city``); an operator key for every city creates one, a
  key for that city may change it.
- ``GET /v1/cities/{city}/usage``: this month's messages per channel against the city's quotas
  and rates, for its operators.
"""

from __future__ import annotations

from aiohttp import web

from notifier.api.auth import require_operator
from notifier.api.http import MAX_DOCUMENT, city_of, json_body
from notifier.api.keys import DEPS
from streams.state import quotas
from subscriptions.cities import CITY_ID
from subscriptions.city_document import put_city
from subscriptions.errors import InvalidInput, NotFound


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/cities", listing)
    router.add_get("/v1/cities/{city}", show)
    router.add_put("/v1/cities/{city}", put)
    router.add_get("/v1/cities/{city}/usage", usage)


async def listing(request: web.Request) -> web.Response:
    cities = request.app[DEPS].cities
    await cities.refresh()
    return web.json_response({"cities": [{"id": c, "name": cities[c].name} for c in cities.ids()]})


async def show(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    kinds: dict[str, int] = {}
    for a in deps.catalogues[city].summary():
        kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
    return web.json_response({**deps.cities[city].public(), "areas": kinds})


async def put(request: web.Request) -> web.Response:
    city, deps = request.match_info["city"], request.app[DEPS]
    if not CITY_ID.fullmatch(city):
        raise NotFound(f"no city {city!r}")
    exists = await deps.cities.ensure(city)
    await require_operator(request, deps.store.redis, city if exists else "*")
    doc = await json_body(request, limit=MAX_DOCUMENT)
    if doc.get("id", city) != city:
        raise InvalidInput("id", f"must be {city!r}, the city of the path")
    config, areas, new = await put_city(deps.store.redis, {**doc, "id": city})
    await deps.cities.refresh()
    return web.json_response(
        {**config.public(), "areas": len(areas), "href": f"/v1/cities/{city}"},
        status=201 if new else 200,
    )


async def usage(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    await require_operator(request, deps.store.redis, city)
    config = deps.cities[city]
    used = await deps.quotas.usage(city, deps.enabled)
    channels = {}
    for channel in deps.enabled:
        quota = config.monthly_quotas.get(channel)
        channels[channel] = {
            "handed_over": used[channel],
            "monthly_quota": quota,
            "remaining": None if quota is None else max(0, quota - used[channel]),
            "rate_per_second": deps.limiter.rate(city, channel),
        }
    return web.json_response({"city": city, "month": quotas.month(), "channels": channels})
