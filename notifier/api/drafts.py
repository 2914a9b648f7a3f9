"""Department routes for drafts (``notifier.actions.drafts``): write an announcement over time,
check it (reach per channel, messages per language, SMS segments, warnings), publish it once.

A draft's body is an announcement's body (``AnnouncementInput``) plus ``scheduled_at``, kept as
typed (it may be incomplete); its rules apply when it is checked or published, each a 422 naming
the field. Publishing a draft twice (a double click, two tabs) publishes it once: every answer
names the same announcement.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from notifier.actions import publishing
from notifier.actions.draft_check import KINDS, differences, sms_cut
from notifier.actions.drafts import DRAFT_TTL, STATES, DraftStore
from notifier.actions.preview import preview
from notifier.api.announcements import offered_in_city, publish_body, scheduled_time
from notifier.api.auth import require_department
from notifier.api.http import city_of, json_body
from notifier.api.keys import DEPS
from notifier.api.openapi.schemas import INTEGER, STRING, array, obj
from streams.announcements import ANNOUNCEMENT, Announcement
from streams.deps import Services
from streams.records import iso
from subscriptions.errors import InvalidInput
from subscriptions.rules import Schema, nullable, ref

D = "/v1/cities/{city}/drafts"
# an announcement's fields (``AnnouncementInput``) and when to publish it: kept as typed, their
# rules (``streams.announcements.ANNOUNCEMENT``) applied when the draft is checked or published
DRAFT = (*ANNOUNCEMENT, "scheduled_at")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(D, create)
    router.add_get(D, listed)
    router.add_get(D + "/{did}", show)
    router.add_put(D + "/{did}", change)
    router.add_delete(D + "/{did}", discard)
    router.add_post(D + "/{did}/check", check)
    router.add_post(D + "/{did}/publish", publish)


async def _open(request: web.Request) -> tuple[str, Services, str, DraftStore]:
    city, deps = city_of(request), request.app[DEPS]
    department = await require_department(request, deps.store.redis, city, "publish")
    return city, deps, department, DraftStore(deps.store.redis)


async def _draft_body(request: web.Request) -> dict[str, Any]:
    """A draft's body: the fields of an announcement, any of them still missing."""
    body = await json_body(request) if request.can_read_body else {}
    for name in body:
        if name not in DRAFT:
            raise InvalidInput(name, f"not a field of an announcement: {', '.join(DRAFT)}")
    return body


async def create(request: web.Request) -> web.Response:
    city, deps, department, drafts = await _open(request)
    draft = await drafts.create(city, department, await _draft_body(request))
    href = f"/v1/cities/{city}/drafts/{draft['id']}"
    return web.json_response(_answer(draft, city), status=201, headers={"Location": href})


async def listed(request: web.Request) -> web.Response:
    city, deps, department, drafts = await _open(request)
    found = await drafts.listed(city, department)
    return web.json_response({"drafts": [_answer(d, city) for d in found]})


async def show(request: web.Request) -> web.Response:
    city, deps, department, drafts = await _open(request)
    draft = await drafts.get(city, department, request.match_info["did"])
    return web.json_response(_answer(draft, city))


async def change(request: web.Request) -> web.Response:
    city, deps, department, drafts = await _open(request)
    did = request.match_info["did"]
    await drafts.change(city, department, did, await _draft_body(request))
    return web.json_response(_answer(await drafts.get(city, department, did), city))


async def discard(request: web.Request) -> web.Response:
    city, deps, department, drafts = await _open(request)
    await drafts.discard(city, department, request.match_info["did"])
    return web.Response(status=204)


async def check(request: web.Request) -> web.Response:
    """What publishing the draft would do: its reach, its messages, and what to look at."""
    city, deps, department, drafts = await _open(request)
    draft = await drafts.get(city, department, request.match_info["did"])
    a, scheduled = _checked(deps, city, department, draft["body"])
    seen = await preview(deps, a)
    warnings: list[dict[str, Any]] = []
    for lang, sms in seen["messages"].get("sms", {}).items():
        if sms_cut(a.content[lang].body, str(sms["text"])):
            warnings.append({"kind": "sms_cut", "language": lang, "segments": sms["segments"]})
    if "fr" in a.content and "en" in a.content:
        fr, en = (dataclasses.asdict(a.content[lang]) for lang in ("fr", "en"))
        warnings += [
            {"kind": "differs", "what": d["kind"], "fr": d["fr"], "en": d["en"]}
            for d in differences(fr, en)
        ]
    return web.json_response(
        {
            **seen,
            "languages": list(a.content),
            "scheduled_at": iso(scheduled) if scheduled is not None else None,
            "expires_at": iso(a.expires_at) if a.expires_at is not None else None,
            "warnings": warnings,
        }
    )


async def publish(request: web.Request) -> web.Response:
    """Publish the draft, once: a second request (a double click, another tab) is answered
    with the announcement the first one made."""
    city, deps, department, drafts = await _open(request)
    did = request.match_info["did"]
    draft = await drafts.get(city, department, did)
    if draft["event"] is None:  # refused before the claim: no other request waits on this one
        _checked(deps, city, department, draft["body"])
    eid = publishing.new_event_id()
    earlier = await drafts.claim(city, department, did, eid)
    if earlier is not None:
        status, version = await deps.events.state(city, earlier)
        shown = status if status in ("scheduled", "accepted") else "published"
        href = f"/v1/cities/{city}/announcements/{earlier}"
        answer = {"id": earlier, "version": max(version, 1), "status": shown, "href": href}
        return _accepted(answer)
    try:
        answer = await publish_body(deps, city, department, draft["body"], eid)
    except BaseException:  # refused (a 422) or the store away: still a draft, to be fixed
        await drafts.release(city, department, did)
        raise
    return _accepted(answer)


def _checked(
    deps: Services, city: str, department: str, body: dict[str, Any]
) -> tuple[Announcement, float | None]:
    """The draft as an announcement, and when it is to go (None: now); else a 422."""
    a = Announcement.from_input(
        body, id="draft", city=city, department=department, catalogue=deps.catalogues[city]
    )
    offered_in_city(deps, a)
    return a, scheduled_time(body, a)


def _accepted(answer: dict[str, Any]) -> web.Response:
    return web.json_response(answer, status=202, headers={"Location": answer["href"]})


def _answer(draft: dict[str, Any], city: str) -> dict[str, Any]:
    event = draft["event"]
    return {
        "id": draft["id"],
        "state": draft["state"],
        "body": draft["body"],
        "created_at": iso(draft["created_at"]),
        "updated_at": iso(draft["updated_at"]),
        "expires_at": iso(draft["updated_at"] + DRAFT_TTL),
        "announcement": f"/v1/cities/{city}/announcements/{event}" if event else None,
    }


DRAFT_ANSWER = obj(
    {
        "id": STRING,
        "state": {"enum": list(STATES)},
        "body": ref("DraftInput"),
        "created_at": ref("DateTime"),
        "updated_at": ref("DateTime"),
        "expires_at": {**ref("DateTime"), "description": "forgotten then, unless changed"},
        "announcement": {
            "type": ["string", "null"],
            "description": "the announcement it became, once published",
        },
    },
    ("id", "state", "body", "created_at", "updated_at", "expires_at", "announcement"),
)
WARNING = obj(
    {
        "kind": {
            "enum": ["sms_cut", "differs"],
            "description": "sms_cut: the SMS in `language` holds only the start of the text; "
            "differs: the French and English texts do not say the same `what`",
        },
        "language": ref("Language"),
        "segments": INTEGER,
        "what": {"enum": list(KINDS)},
        "fr": array(STRING, description="what only the French says"),
        "en": array(STRING, description="what only the English says"),
    },
    ("kind",),
)
SCHEMAS: dict[str, Schema] = {
    "DraftInput": obj(
        {
            name: {"description": f"as `{name}` of `AnnouncementInput`, perhaps incomplete"}
            for name in DRAFT
        },
        additionalProperties=False,
        description="An announcement being written: its fields as typed, any of them missing "
        "or incomplete; their rules apply when the draft is checked or published (a 422 "
        "naming the field).",
    ),
    "Draft": DRAFT_ANSWER,
    "DraftList": obj({"drafts": array(ref("Draft"))}, ("drafts",)),
    "DraftCheck": {
        "allOf": [ref("Preview")],
        **obj(
            {
                "languages": array(ref("Language")),
                "scheduled_at": nullable(ref("DateTime")),
                "expires_at": nullable(ref("DateTime")),
                "warnings": array(WARNING),
            },
            ("languages", "scheduled_at", "expires_at", "warnings"),
        ),
    },
}
