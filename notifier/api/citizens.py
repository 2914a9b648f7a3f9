"""Citizen routes: register, add contact points (email, phone, browser push) with double
opt-in, subscribe, read everything held about you.

A citizen reaches only their own data, through a signed token (``Authorization: Bearer``) that
carries their token version (``subscriptions.token_versions``: signing out, a move or an
erasure revokes the tokens made before). Every limit and the whole request are checked before
anything is written.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from notifier.actions.contact_adding import Parsed, give_contact
from notifier.api.abuse import check_sending
from notifier.api.auth import bearer
from notifier.api.http import city_of, json_body
from notifier.api.keys import DEPS, SETTINGS
from streams.deps import Services
from subscriptions import caps, contact_life, editing, token_versions, tokens
from subscriptions.contacts import (
    normalise_email,
    normalise_phone,
    parse_push_subscription,
)
from subscriptions.errors import InvalidInput, Problems
from subscriptions.preferences import PREFERENCES, parse_quiet_hours, parse_timezone
from subscriptions.rules import (
    Field,
    Schema,
    at_least_one,
    body_schema,
    exactly_one,
    given,
    nullable,
    ref,
)
from subscriptions.store import Citizen, new_id
from subscriptions.subscription import Subscription, parse_subscription

Checked = tuple[Subscription, list[tuple[str, str]]]


def _code(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.isdigit():
        raise InvalidInput(where, "the 6 digits received by text message", "not_code")
    return value


# the bodies these routes take (``subscriptions.rules``): each handler reads its table, and the
# OpenAPI document's schema is made of it. An address is checked with the city and the
# deployment (its country, the channels offered, the outbound guard): ``_parse_contact``.
ADDRESSES: dict[str, Field] = {  # a registration gives at least one (magic links too)
    "email": Field(nullable(ref("Email"))),
    "phone": Field(nullable(ref("Phone"))),
}
REGISTRATION: dict[str, Field] = {
    **ADDRESSES,
    # the handler's default is the city's default_language (Paris's is fr)
    "language": Field({**ref("Language"), "default": "fr"}),
    "subscriptions": Field(  # each as ``subscribe`` takes it
        {
            "type": "array",
            "items": ref("SubscriptionInput"),
            "maxItems": caps.MAX_SUBSCRIPTIONS,
            "description": "made with the citizen; all checked before anything is kept",
        }
    ),
}
CONTACT: dict[str, Field] = {  # exactly one
    "email": Field(ref("Email")),
    "phone": Field(ref("Phone")),
    "push": Field(ref("PushSubscription")),
}
CODE: dict[str, Field] = {
    "code": Field(
        {"type": "string", "pattern": "^[0-9]+$", "description": "the texted code"},
        _code,
        required=True,
    )
}
SCHEMAS: dict[str, Schema] = {
    "RegistrationInput": body_schema(REGISTRATION, anyOf=at_least_one(ADDRESSES)),
    "ContactInput": exactly_one(
        CONTACT,
        description="Exactly one of email, phone (texted a code) or push (confirmed at once).",
    ),
    "CodeInput": body_schema(CODE),
}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/cities/{city}/citizens", register)
    router.add_get("/v1/cities/{city}/citizens/{cid}", show)
    router.add_patch("/v1/cities/{city}/citizens/{cid}", preferences)
    router.add_post("/v1/cities/{city}/citizens/{cid}/contacts", add_contact)
    router.add_post("/v1/cities/{city}/citizens/{cid}/contacts/{pid}/confirm", confirm_code)
    router.add_post("/v1/cities/{city}/citizens/{cid}/subscriptions", subscribe)


async def register(request: web.Request) -> web.Response:
    """``{email?, phone?, language?, subscriptions?: [...]}``: a citizen, each contact pending
    until confirmed, with the subscriptions given (as ``subscribe`` takes them). All of it,
    and every limit on sending, is checked before anything is written."""
    city, deps = city_of(request), request.app[DEPS]
    body = await json_body(request)
    place = deps.city(city)
    problems = Problems()  # every fault of the body answered at once
    language = problems.check(place.check_language, body.get("language", place.default_language))
    addresses = given(body, ADDRESSES)
    if not addresses:
        reason = "give an email address or a phone number (or both)"
        problems.add(InvalidInput("email", reason, "required"))
    contacts_given = [problems.check(_parse_contact, request, {k: body[k]}) for k in addresses]
    subs = problems.check(_subscriptions_given, deps, city, body.get("subscriptions", []))
    problems.raise_any()
    assert language is not None and subs is not None
    parsed = [c for c in contacts_given if c is not None]
    for channel, address, _, _ in parsed:  # every limit passed before anything is kept
        await check_sending(deps.store.redis, request, city, channel, address)
    citizen = await deps.store.create_citizen(city, language, place.timezone)
    contacts = [
        await give_contact(deps, city, citizen.id, citizen.language, c, "api") for c in parsed
    ]
    made = []
    for sub, index in subs:
        sub = dataclasses.replace(sub, id=new_id("sub"), citizen=citizen.id)
        made.append(await deps.store.add_subscription(city, sub, index))
    answer = {
        "citizen": {"id": citizen.id, "language": citizen.language},
        "contacts": [c.public() for c in contacts],
        "token": tokens.sign(deps.secret_key, "manage", city, citizen.id),
        "next": "confirm each contact: open the emailed link, or send the texted code to "
        "POST …/contacts/{id}/confirm",
    }
    if "subscriptions" in body:
        answer["subscriptions"] = [s.public() for s in made]
    return web.json_response(answer, status=201)


def _subscriptions_given(deps: Services, city: str, listed: object) -> list[Checked]:
    """The subscriptions of a registration, each checked as ``subscribe`` checks one (their
    errors name ``subscriptions[i].<field>``)."""
    if not isinstance(listed, list) or len(listed) > caps.MAX_SUBSCRIPTIONS:
        reason = f"a list of at most {caps.MAX_SUBSCRIPTIONS} subscriptions"
        raise InvalidInput("subscriptions", reason)
    out, problems = [], Problems()
    for i, body in enumerate(listed):
        if not isinstance(body, dict):
            problems.add(InvalidInput(f"subscriptions[{i}]", "a subscription object"))
            continue
        if "channels" not in body and "request" not in body:  # a new citizen's default
            body = {**body, "channels": list(Citizen.default_channels)}
        checked = problems.check(
            _checked, deps, city, "cit_new", body, within=f"subscriptions[{i}]"
        )
        if checked is not None:
            out.append(checked)
    problems.raise_any()
    return out


async def add_contact(request: web.Request) -> web.Response:
    """``{email}``, ``{phone}`` or ``{push: PushSubscription}``. A push subscription made by
    the browser that holds this citizen's token is confirmed at once. An address already
    someone else's is answered the same (``notifier.actions.contact_adding``)."""
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    citizen = await deps.store.citizen(city, cid)
    parsed = _parse_contact(request, await json_body(request))
    held = await contact_life.drop_expired(deps.store, city, cid)
    mine = next((c for c in held if (c.channel, c.address) == parsed[:2]), None)
    if mine is not None:  # given again: as it stands, nothing sent
        return web.json_response(mine.public(), status=201)
    caps.check_contacts(held, parsed[0])
    if parsed[0] != "push":
        await check_sending(deps.store.redis, request, city, parsed[0], parsed[1])
    contact = await give_contact(deps, city, cid, citizen.language, parsed, "api")
    if contact.status == "confirmed":  # a push subscription: this browser's, at once
        await editing.join(deps.store, city, contact)
    return web.json_response(contact.public(), status=201)


async def confirm_code(request: web.Request) -> web.Response:
    """``{code}``: the code texted to a phone number confirms it."""
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    cp = await deps.store.contact(city, request.match_info["pid"])
    if cp.citizen != cid or cp.channel != "sms":
        raise InvalidInput("contact", "not a phone number of this citizen", "not_your_contact")
    code = CODE["code"].read(await json_body(request), "code")
    if await contact_life.expired(deps.store, city, cp):
        await contact_life.remove(deps.store, city, cp, "not confirmed in time", "expired")
        raise InvalidInput(
            "code", "this number was not confirmed in time; add it again", "code_expired"
        )
    if cp.status == "pending":
        right = await deps.store.check_code(city, cp.id, code)
        # one that holds nothing (someone else's number) is never confirmed, whatever the code
        if not right or not await contact_life.holds_address(deps.store, city, cp):
            raise InvalidInput("code", "wrong code", "wrong_code")
        cp = await deps.store.set_contact_status(city, cp.id, "confirmed", "SMS code")
        await editing.join(deps.store, city, cp)
    return web.json_response({"contact": cp.public()})


async def show(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    citizen = await deps.store.citizen(city, cid)
    contacts = await contact_life.drop_expired(deps.store, city, cid)  # past their time: gone
    return web.json_response(
        {
            "citizen": citizen.public(),
            "contacts": [c.public() for c in contacts],
            "subscriptions": [s.public() for s in await deps.store.subscriptions_of(city, cid)],
            "consent": await deps.store.consent_log(city, cid),
        }
    )


async def preferences(request: web.Request) -> web.Response:
    """``{language?, timezone?, quiet_hours?: {start, end} | null, default_channels?,
    fallback?}``."""
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    body = await json_body(request)
    unknown = sorted(set(body) - set(PREFERENCES))
    if unknown:
        raise InvalidInput(unknown[0], f"not a preference ({', '.join(sorted(PREFERENCES))})")
    channels = body.get("default_channels")
    if channels is not None and not isinstance(channels, list):
        raise InvalidInput("default_channels", "a list of channels")
    fallback = body.get("fallback")
    if fallback is not None and not isinstance(fallback, list):
        raise InvalidInput("fallback", "a list of channels (sms, email), in the order to try")
    citizen = await deps.store.set_preferences(
        city,
        cid,
        language=str(body["language"]) if "language" in body else None,
        timezone=parse_timezone(body["timezone"]) if "timezone" in body else None,
        quiet_hours=parse_quiet_hours(body["quiet_hours"]) if "quiet_hours" in body else False,
        default_channels=tuple(str(c) for c in channels) if channels is not None else None,
        fallback=tuple(str(c) for c in fallback) if fallback is not None else None,
    )
    return web.json_response({"citizen": citizen.public()})


async def subscribe(request: web.Request) -> web.Response:
    city, deps = city_of(request), request.app[DEPS]
    cid = await citizen_token(request, city)
    body = await json_body(request)
    if "channels" not in body and "request" not in body:  # the citizen's default channels
        citizen = await deps.store.citizen(city, cid)
        body = {**body, "channels": list(citizen.default_channels)}
    sub, index = _checked(deps, city, cid, body)
    await caps.check_subscriptions(deps.store, city, cid)
    await deps.store.add_subscription(city, sub, index)
    return web.json_response(sub.public(), status=201)


def _checked(deps: Services, city: str, cid: str, body: dict[str, Any]) -> Checked:
    """A subscription of citizen ``cid`` from its body, valid in this city, and its index."""
    sub, index = parse_subscription(
        body, sid=new_id("sub"), citizen=cid, catalogue=deps.catalogues[city]
    )
    return offered_here(deps, city, sub), index


def offered_here(deps: Services, city: str, sub: Subscription) -> Subscription:
    """The subscription, if its channels and categories are offered in this city."""
    off = [c for c in sub.channels if c not in deps.enabled]
    if off:
        raise InvalidInput("channels", f"{', '.join(off)} is not offered here", "not_offered")
    offered = deps.city(city).categories
    for c in sub.categories:
        if c not in offered:
            raise InvalidInput(
                "categories", f"{c} is not a category of {city}: {offered}", "not_category"
            )
    return sub


def _parse_contact(request: web.Request, body: dict[str, Any]) -> Parsed:
    """(channel, address, p256dh, auth) from ``{email}``, ``{phone}`` or ``{push}`` (a push
    endpoint only at a push service the outbound guard allows)."""
    deps, settings = request.app[DEPS], request.app[SETTINGS]
    kinds = given(body, CONTACT)
    if len(kinds) != 1:
        raise InvalidInput("email", "give exactly one of email, phone or push", "choose_one")
    if kinds[0] == "email":
        return "email", normalise_email(body["email"]), "", ""
    channel = "sms" if kinds[0] == "phone" else "push"
    if channel not in deps.enabled:
        raise InvalidInput(kinds[0], f"{channel} is not offered here", "not_offered")
    if channel == "sms":
        return "sms", normalise_phone(body["phone"]), "", ""
    return ("push", *parse_push_subscription(body["push"], settings.outbound.refusal))


async def citizen_token(request: web.Request, city: str) -> str:
    """The citizen id of a valid management token for this citizen, made since their last
    token version bump; 401 or 403 otherwise. One HMGET."""
    deps = request.app[DEPS]
    try:
        payload = tokens.verify(deps.secret_key, bearer(request), "manage", city)
    except InvalidInput as e:
        raise _unauthorized(e.reason) from None
    if payload["s"] != request.match_info["cid"]:
        raise web.HTTPForbidden(
            text=json.dumps(
                {
                    "error": {
                        "field": "Authorization",
                        "reason": "this token is for another citizen",
                        "code": "forbidden",
                    }
                }
            ),
            content_type="application/json",
        )
    held = await token_versions.current(deps.store.redis, city, str(payload["s"]))
    if not token_versions.accepts(held, payload.get("v")):
        raise _unauthorized("revoked: ask for a new management link", "token_revoked")
    return str(payload["s"])


def _unauthorized(reason: str, code: str = "unauthorized") -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=json.dumps({"error": {"field": "Authorization", "reason": reason, "code": code}}),
        content_type="application/json",
        headers={"WWW-Authenticate": "Bearer"},
    )
