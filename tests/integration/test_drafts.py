"""Drafts and the department's list of announcements, through the real API, Redis and broker
(no worker): a draft is the department's alone, checked before it goes, published once however
often it is asked; the list shows what any tab published, filtered and searched."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from redis.asyncio import Redis

from notifier.actions import drafts
from notifier.api.auth import create_department_key
from notifier.api.openapi.document import document
from notifier.settings import Secret, Settings

Client = TestClient[Any, Any]
D = "/v1/cities/paris/drafts"
A = "/v1/cities/paris/announcements"
BODY: dict[str, Any] = {
    "category": "water",
    "severity": "moderate",
    "target": {"areas": ["7510501"]},
    "content": {
        "fr": {"title": "Coupure d'eau rue Monge", "body": "Le 5 décembre de 8 h à 12 h."},
        "en": {"title": "Water cut rue Monge", "body": "On December 5 from 8 am to 12 pm."},
    },
}


DOC = document()


def _resolve(obj: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in obj:
        section, name = obj["$ref"].split("/")[-2:]
        obj = DOC["components"][section][name]
    return obj


async def check(r: Any, method: str, path: str) -> Any:
    """The answer's status is documented for the operation and its body matches its schema
    (as ``test_openapi.check`` does for the other routes)."""
    responses = DOC["paths"][path][method]["responses"]
    assert str(r.status) in responses, f"{method} {path}: {r.status} is not documented"
    answer = _resolve(responses[str(r.status)])
    if "content" not in answer:
        assert await r.read() == b""
        return None
    body = await r.json()
    schema = {**answer["content"]["application/json"]["schema"], "components": DOC["components"]}
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, f"{method} {path} {r.status}: {errors} in {body}"
    return body


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """SMS on (nothing is sent: no worker runs), so that the check shows its messages."""
    return settings.replace(
        twilio_account_sid="AC" + "2" * 32,
        twilio_auth_token=Secret("e" * 32),
        twilio_from="+33700000001",
    )


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_draft_is_kept_changed_listed_and_discarded(api: Client, redis: Redis) -> None:
    h = auth(await create_department_key(redis, "paris", "eaux"))
    r = await api.post(D, json={"category": "water"}, headers=h)  # incomplete: kept as it is
    assert r.status == 201, await r.text()
    draft = await r.json()
    assert draft["state"] == "draft" and draft["body"] == {"category": "water"}
    assert r.headers["Location"] == f"{D}/{draft['id']}"
    # a new tab (another request) finds it, changes it
    r = await api.put(f"{D}/{draft['id']}", json=BODY, headers=h)
    assert r.status == 200 and (await r.json())["body"] == BODY
    listed = await (await api.get(D, headers=h)).json()
    assert [d["id"] for d in listed["drafts"]] == [draft["id"]]
    # it lasts 30 days after its last change
    assert 29 * 86400 < await redis.ttl(f"n:{{paris}}:draft:{draft['id']}") <= 30 * 86400
    assert (await api.delete(f"{D}/{draft['id']}", headers=h)).status == 204
    assert (await (await api.get(D, headers=h)).json())["drafts"] == []
    r = await api.put(f"{D}/{draft['id']}", json=BODY, headers=h)
    assert r.status == 409 and (await r.json())["error"]["field"] == "state"


async def test_a_draft_names_a_field_it_cannot_hold(api: Client, redis: Redis) -> None:
    h = auth(await create_department_key(redis, "paris", "eaux"))
    r = await api.post(D, json={**BODY, "colour": "red"}, headers=h)
    assert r.status == 422 and (await r.json())["error"]["field"] == "colour"
    draft = await (await api.post(D, json={"category": "water"}, headers=h)).json()
    r = await api.post(f"{D}/{draft['id']}/check", headers=h)  # not complete yet
    assert r.status == 422
    assert (await r.json())["error"]["field"].startswith("target")


async def test_a_department_writes_a_bounded_number_of_drafts(
    api: Client, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drafts, "MAX_DRAFTS", 2)
    h = auth(await create_department_key(redis, "paris", "eaux"))
    made = [await (await api.post(D, json=BODY, headers=h)).json() for _ in range(2)]
    r = await check(await api.post(D, json=BODY, headers=h), "post", "/v1/cities/{city}/drafts")
    assert r["error"]["field"] == "drafts"
    assert (await api.post(f"{D}/{made[0]['id']}/publish", headers=h)).status == 202
    assert (await api.post(D, json=BODY, headers=h)).status == 201  # a published one is done


async def test_another_departments_key_finds_no_draft(api: Client, redis: Redis) -> None:
    water = auth(await create_department_key(redis, "paris", "eaux"))
    roads = auth(await create_department_key(redis, "paris", "voirie"))
    stats = auth(await create_department_key(redis, "paris", "eaux", scopes=("statistics",)))
    draft = await (await api.post(D, json=BODY, headers=water)).json()
    one = f"{D}/{draft['id']}"
    assert (await api.get(one, headers=roads)).status == 404
    assert (await api.put(one, json=BODY, headers=roads)).status == 404
    assert (await api.delete(one, headers=roads)).status == 404
    assert (await api.post(one + "/publish", headers=roads)).status == 404
    assert (await (await api.get(D, headers=roads)).json())["drafts"] == []
    assert (await api.get(one, headers=stats)).status == 403  # may read figures, not publish
    assert (await api.get(one)).status == 401
    assert (await api.get(f"{D}/drf_nothing", headers=water)).status == 404
    assert (await api.get(one, headers=water)).status == 200


async def test_a_draft_published_twice_at_once_is_published_once(api: Client, redis: Redis) -> None:
    h = auth(await create_department_key(redis, "paris", "eaux"))
    draft = await (await api.post(D, json=BODY, headers=h)).json()
    answers = await asyncio.gather(
        *(api.post(f"{D}/{draft['id']}/publish", headers=h) for _ in range(5))
    )
    assert [r.status for r in answers] == [202] * 5
    ids = {(await r.json())["id"] for r in answers}
    assert len(ids) == 1
    listed = await (await api.get(A, headers=h)).json()
    assert [a["id"] for a in listed["announcements"]] == list(ids)
    again = await (await api.get(f"{D}/{draft['id']}", headers=h)).json()
    assert again["state"] == "published" and again["announcement"] == f"{A}/{ids.pop()}"
    assert (await api.put(f"{D}/{draft['id']}", json=BODY, headers=h)).status == 409


async def test_a_refused_publication_leaves_the_draft_to_be_fixed(
    api: Client, redis: Redis
) -> None:
    h = auth(await create_department_key(redis, "paris", "eaux"))
    wrong = {**BODY, "target": {"areas": ["nowhere"]}}
    draft = await (await api.post(D, json=wrong, headers=h)).json()
    r = await api.post(f"{D}/{draft['id']}/publish", headers=h)
    assert r.status == 422 and (await r.json())["error"]["field"].startswith("target.areas")
    assert (await api.put(f"{D}/{draft['id']}", json=BODY, headers=h)).status == 200
    assert (await api.post(f"{D}/{draft['id']}/publish", headers=h)).status == 202


async def test_the_check_warns_of_a_cut_sms_and_texts_that_differ(
    api: Client, redis: Redis
) -> None:
    h = auth(await create_department_key(redis, "paris", "eaux"))
    long = "Coupure d'eau pour travaux sur la canalisation principale. " * 12
    body = {
        **BODY,
        "content": {
            "fr": {"title": "Coupure d'eau", "body": long + "Le 5 décembre de 8 h à 12 h."},
            "en": {"title": "Water cut", "body": "On December 6 from 8 am to noon, 3 streets."},
        },
    }
    draft = await (await api.post(D, json=body, headers=h)).json()
    r = await api.post(f"{D}/{draft['id']}/check", headers=h)
    assert r.status == 200, await r.text()
    check = await r.json()
    assert set(check["contact_points"]) >= {"email"}
    assert check["languages"] == ["fr", "en"]
    warnings = check["warnings"]
    assert {"kind": "sms_cut", "language": "fr", "segments": 2} in warnings
    dates = next(w for w in warnings if w.get("what") == "dates")
    assert dates["fr"] == ["12-05"] and dates["en"] == ["12-06"]
    assert any(w.get("what") == "numbers" and w["en"] == ["3"] for w in warnings)
    # a draft that says the same in both, short enough, has nothing to warn of
    draft = await (await api.post(D, json=BODY, headers=h)).json()
    assert (await (await api.post(f"{D}/{draft['id']}/check", headers=h)).json())["warnings"] == []


async def test_the_list_filters_searches_and_shows_the_scheduled_time(
    api: Client, redis: Redis
) -> None:
    water = auth(await create_department_key(redis, "paris", "eaux"))
    roads = auth(await create_department_key(redis, "paris", "voirie"))
    later = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    r = await api.post(A, json={**BODY, "scheduled_at": later.isoformat()}, headers=water)
    assert r.status == 202, await r.text()
    scheduled = (await r.json())["id"]
    works = {**BODY, "category": "roadworks"}
    works["content"] = {"fr": {"title": "Travaux rue Mouffetard", "body": "Rue fermée."}}
    now = (await (await api.post(A, json=works, headers=water)).json())["id"]
    await api.post(A, json=BODY, headers=roads)  # another department's: never listed

    everything = (await (await api.get(A, headers=water)).json())["announcements"]
    assert [a["id"] for a in everything] == [scheduled, now]  # the latest (to be) first
    first = everything[0]
    assert first["status"] == "scheduled"
    assert datetime.fromisoformat(first["published_at"]) == later
    assert first["titles"]["en"]["title"] == "Water cut rue Monge"
    assert first["deliveries"] == {}

    async def ids(query: str) -> list[str]:
        r = await api.get(f"{A}?{query}", headers=water)
        assert r.status == 200, await r.text()
        return [a["id"] for a in (await r.json())["announcements"]]

    assert await ids("status=scheduled") == [scheduled]
    assert await ids("category=roadworks") == [now]
    assert await ids("q=mouffetard") == [now]
    assert await ids("q=WATER") == [scheduled]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert await ids(f"from={tomorrow}") == [scheduled]
    assert await ids(f"to={tomorrow}") == [now]
    r = await api.get(f"{A}?status=sent", headers=water)
    assert r.status == 422 and (await r.json())["error"]["field"] == "status"
    r = await api.get(f"{A}?limit=0", headers=water)
    assert r.status == 422 and (await r.json())["error"]["field"] == "limit"


async def test_a_key_says_which_department_it_is_for(api: Client, redis: Redis) -> None:
    h = auth(await create_department_key(redis, "paris", "eaux"))
    r = await api.get("/v1/cities/paris/department", headers=h)
    assert r.status == 200
    me = await r.json()
    assert me["department"] == "eaux" and me["city_name"] == "Paris"
    assert me["scopes"] == ["publish", "statistics"]
    assert (await api.get("/v1/cities/paris/department")).status == 401


async def test_the_answers_match_the_openapi_document(api: Client, redis: Redis) -> None:
    h = auth(await create_department_key(redis, "paris", "eaux"))
    one, DR = "/v1/cities/{city}/drafts/{did}", "/v1/cities/{city}/drafts"
    draft = await check(await api.post(D, json={"category": "water"}, headers=h), "post", DR)
    await check(await api.post(D, json={"colour": 1}, headers=h), "post", DR)  # 422
    await check(await api.get(D, headers=h), "get", DR)
    path = f"{D}/{draft['id']}"
    await check(await api.get(path, headers=h), "get", one)
    await check(await api.post(path + "/check", headers=h), "post", one + "/check")  # 422
    await check(await api.put(path, json=BODY, headers=h), "put", one)
    await check(await api.post(path + "/check", headers=h), "post", one + "/check")
    await check(await api.post(path + "/publish", headers=h), "post", one + "/publish")
    await check(await api.post(path + "/publish", headers=h), "post", one + "/publish")
    await check(await api.put(path, json=BODY, headers=h), "put", one)  # 409
    await check(await api.delete(path, headers=h), "delete", one)  # 409
    await check(await api.get(f"{D}/drf_0000000000000000", headers=h), "get", one)  # 404
    other = await (await api.post(D, headers=h)).json()
    await check(await api.delete(f"{D}/{other['id']}", headers=h), "delete", one)
    listed = await check(await api.get(A, headers=h), "get", "/v1/cities/{city}/announcements")
    assert listed["announcements"][0]["status"] in ("published", "accepted")
    await check(
        await api.get(A + "?q=" + "x" * 101, headers=h), "get", A.replace("paris", "{city}")
    )
    me = "/v1/cities/{city}/department"
    await check(await api.get("/v1/cities/paris/department", headers=h), "get", me)
    await check(await api.get("/v1/cities/paris/department"), "get", me)  # 401
