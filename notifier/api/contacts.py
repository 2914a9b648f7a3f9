"""A citizen's own contact points: ask again for the confirmation of a pending one, remove one.

Asking again sends a new link or code (the limits on sending apply, ``notifier.api.abuse``); for a
pending contact point that holds nothing (``subscriptions.contact_life``: someone else holds the
address) the answer is the same, and the holder, if confirmed, is told instead. A pending
contact point past its time has ended: 404. Removing one frees its address.
"""

from __future__ import annotations

from aiohttp import web

from notifier.actions.confirmations import send_confirmation
from notifier.actions.contact_adding import set_unsent_code, tell_holder
from notifier.api.abuse import check_sending
from notifier.api.citizens import citizen_token
from notifier.api.http import city_of
from notifier.api.keys import DEPS
from subscriptions import contact_life
from subscriptions.contacts import ContactPoint
from subscriptions.errors import Conflict, NotFound

PATH = "/v1/cities/{city}/citizens/{cid}/contacts/{pid}"


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(PATH + "/resend", resend)
    router.add_delete(PATH, remove)


async def _mine(request: web.Request) -> tuple[str, ContactPoint]:
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    pid = request.match_info["pid"]
    held = await contact_life.drop_expired(deps.store, city, cid)
    cp = next((c for c in held if c.id == pid), None)
    if cp is None:
        raise NotFound(f"no contact point {pid}")
    return city, cp


async def resend(request: web.Request) -> web.Response:
    """A new confirmation link (email) or code (SMS) for a pending contact point."""
    deps = request.app[DEPS]
    city, cp = await _mine(request)
    if cp.status != "pending":
        raise Conflict("contact", f"not pending but {cp.status}: nothing to confirm")
    if cp.channel == "push":
        raise Conflict("contact", "a push subscription is confirmed where it is made")
    await check_sending(deps.store.redis, request, city, cp.channel, cp.address)
    if await contact_life.holds_address(deps.store, city, cp):
        citizen = await deps.store.citizen(city, cp.citizen)
        await send_confirmation(deps, city, cp, citizen.language)
    else:
        holder = await deps.store.contact_by_address(city, cp.channel, cp.address)
        if holder is not None and holder.status == "confirmed":
            await tell_holder(deps, city, holder)
        await set_unsent_code(deps, city, cp)
    return web.json_response({"status": "a new link or code is on its way"}, status=202)


async def remove(request: web.Request) -> web.Response:
    """The contact point goes, and its address is free to be registered again."""
    deps = request.app[DEPS]
    city, cp = await _mine(request)
    await contact_life.remove(deps.store, city, cp, "citizen")
    return web.Response(status=204)
