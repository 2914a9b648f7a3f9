"""A citizen's own data: the magic link that opens it, export, erase, removing a
subscription, moving to another city, signing out everywhere; and the small page the magic
link opens (``/manage``)."""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from notifier.actions.confirmations import send_magic_link
from notifier.api.abuse import check_sending
from notifier.api.citizens import ADDRESSES, citizen_token, offered_here
from notifier.api.http import city_of, json_body
from notifier.api.keys import DEPS
from notifier.api.links import revoke_message_links
from streams.state import dead_letters
from subscriptions import editing, moving, token_versions, tokens
from subscriptions.contacts import normalise_email, normalise_phone
from subscriptions.errors import InvalidInput
from subscriptions.rules import Schema, at_least_one, body_schema, given, ref

# the body: an address registered, as a registration gives it (``notifier.api.citizens``)
MAGIC_LINK = ADDRESSES
SCHEMAS: dict[str, Schema] = {
    "MagicLinkInput": body_schema(
        MAGIC_LINK,
        description="The email address or phone number registered (email first if both).",
        anyOf=at_least_one(MAGIC_LINK),
    ),
    "SubscriptionEdit": {
        "type": "object",
        "description": "What changes; everything not named stays. A new place (area, point "
        "with radius_m, polygon, department) replaces the old one; a followed request has "
        "nothing to change. Checked as a new subscription is.",
        "properties": {
            "area": {"type": "string", "description": "an area code"},
            "point": ref("LonLat"),
            "radius_m": {"type": "number"},
            "polygon": ref("SubscriptionPolygon"),
            "department": {"type": "string"},
            "categories": {"type": "array", "items": ref("Category")},
            "min_severity": ref("SeverityInput"),
            "channels": {"type": "array", "items": ref("Channel"), "minItems": 1},
            "cadence": ref("Cadence"),
        },
        "additionalProperties": False,
    },
}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/cities/{city}/magic-link", magic_link)
    router.add_get("/v1/cities/{city}/citizens/{cid}/export", export)
    router.add_delete("/v1/cities/{city}/citizens/{cid}", erase)
    router.add_delete("/v1/cities/{city}/citizens/{cid}/subscriptions/{sid}", unsubscribe_one)
    router.add_patch("/v1/cities/{city}/citizens/{cid}/subscriptions/{sid}", edit_one)
    router.add_post("/v1/cities/{city}/citizens/{cid}/move", move)
    router.add_post("/v1/cities/{city}/citizens/{cid}/sign-out", sign_out)
    router.add_get("/manage", manage_page)


async def magic_link(request: web.Request) -> web.Response:
    """``{email}`` or ``{phone}``: a management link goes to that address if it is a confirmed
    contact point. The answer is the same either way, so it tells nobody who is registered."""
    city, deps = city_of(request), request.app[DEPS]
    body = await json_body(request)
    place = deps.city(city)
    addresses = [  # all valid
        ("email", normalise_email(body[k]))
        if k == "email"
        else ("sms", normalise_phone(body[k], place.country))
        for k in given(body, MAGIC_LINK)
    ]
    if not addresses:
        raise InvalidInput("email", "give the email address or phone number you registered")
    channel, address = addresses[0]  # the email address first
    await check_sending(deps.store.redis, request, city, channel, address)
    cp = await deps.store.contact_by_address(city, channel, address)
    if cp is not None and cp.status == "confirmed" and channel in deps.enabled:
        citizen = await deps.store.citizen(city, cp.citizen)
        await send_magic_link(deps, city, cp, citizen.language)
    return web.json_response(
        {"status": "if this address is registered and confirmed, a link is on its way"}, status=202
    )


async def export(request: web.Request) -> web.Response:
    """Everything held about the citizen, as JSON (GDPR article 20)."""
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    citizen = await deps.store.citizen(city, cid)
    contacts = await deps.store.contacts_of(city, cid)
    body = {
        "city": city,
        "citizen": citizen.public(),
        "contacts": [
            {"id": c.id, "channel": c.channel, "address": c.address, "status": c.status}
            for c in contacts
        ],
        "subscriptions": [s.public() for s in await deps.store.subscriptions_of(city, cid)],
        "consent": await deps.store.consent_log(city, cid),
        "notifications": await deps.ledger.history(city, cid, limit=10_000),
    }
    return web.json_response(
        body, headers={"Content-Disposition": f'attachment; filename="notifier-{city}-{cid}.json"'}
    )


async def erase(request: web.Request) -> web.Response:
    """The citizen, their contact points, subscriptions and consent log go, and every dead
    letter naming them or their addresses; their notifications stay as anonymous counts (the
    departments' figures stay true)."""
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    old = await moving.left_behind(deps.store, city, cid)
    addresses = [c.address for c in await deps.store.contacts_of(city, cid)]
    await dead_letters.strip(deps.store.redis, [cid, *addresses])  # they name the recipient
    await deps.store.erase_citizen(city, cid)
    anonymised = await deps.ledger.forget_citizen(city, cid)
    if old is not None:  # what the city they moved from still held (their request follows)
        await deps.store.erase_citizen(old, cid)
        anonymised += await deps.ledger.forget_citizen(old, cid)
    return web.json_response({"erased": cid, "notifications_anonymised": anonymised})


async def move(request: web.Request) -> web.Response:
    """``{to, home?: {lon, lat}, radius_m?}``: the account goes to city ``to``
    (``subscriptions.moving``); a management token for it there."""
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    body = await json_body(request)
    to = body.get("to")
    if not isinstance(to, str) or not await deps.cities.ensure(to):
        raise InvalidInput("to", "a city served here (GET /v1/cities)")
    home = body.get("home")
    if home is not None and not isinstance(home, dict):
        raise InvalidInput("home", 'the new address as {"lon": ..., "lat": ...}')
    radius: Any = body.get("radius_m", moving.DEFAULT_RADIUS_M)  # checked with the subscriptions
    moved = await moving.move(
        deps.store, city, cid, deps.cities[to], deps.catalogues[to], home, radius
    )
    version = await token_versions.bump(deps.store.redis, to, cid)  # old tokens end
    if await token_versions.current(deps.store.redis, city, cid) is not None:  # follows left
        await token_versions.bump(deps.store.redis, city, cid)
    return web.json_response(
        {
            "city": to,
            "citizen": (await deps.store.citizen(to, cid)).public(),
            "token": tokens.sign(deps.secret_key, "manage", to, cid, version=version),
            "subscriptions": [s.public() for s in moved.subscriptions],
            "to_choose_again": moved.to_choose_again,
            "following_in": {city: moved.following} if moved.following else {},
        }
    )


async def sign_out(request: web.Request) -> web.Response:
    """Every management token of the citizen stops working, this one too (a new magic link
    opens the page again)."""
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    await token_versions.bump(deps.store.redis, city, cid)
    await revoke_message_links(deps, city, cid)  # and the manage links of the emails sent
    return web.Response(status=204)


async def unsubscribe_one(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    await deps.store.remove_subscription(city, cid, request.match_info["sid"])
    return web.Response(status=204)


async def edit_one(request: web.Request) -> web.Response:
    """Change a subscription in place (``subscriptions.editing``): what the body names, the
    rest kept; checked whole, as a new one is, before anything is written."""
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    body = await json_body(request)
    sub, index = await editing.edit_subscription(
        deps.store, city, cid, request.match_info["sid"], body, deps.catalogues[city]
    )
    sub = await editing.replace(deps.store, city, offered_here(deps, city, sub), index)
    return web.json_response(sub.public())


async def manage_page(request: web.Request) -> web.Response:
    page = resources.files("notifier.web") / "static" / "manage.html"
    return web.Response(
        text=page.read_text(encoding="utf-8"),
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
