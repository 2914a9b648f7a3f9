"""The HTTP API against real Redis and a real Kafka producer (no worker running)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.dev import embedded
from notifier.wiring import build_services, make_redis
from subscriptions import tokens
from tests.stage import auth, error_of

Client = TestClient[Any, Any]
BODY = {
    "category": "roadworks",
    "target": {"areas": ["75105"]},
    "content": {"fr": {"title": "Travaux", "body": "Rue fermée."}},
}


async def test_areas_are_listed(api: Client) -> None:
    r = await api.get("/v1/cities/paris/areas")
    areas = (await r.json())["areas"]
    assert len(areas) == 100 and areas[0] == {
        "code": "75101",
        "kind": "arrondissement",
        "name": "Louvre",
        "parent": None,
    }
    assert (await error_of(await api.get("/v1/cities/atlantis/areas")))[0] == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "target": {"areas": ["99999"]}}, "target.areas[0]"),
        ({**BODY, "category": None}, "category"),
        ({k: v for k, v in BODY.items() if k != "content"}, "content"),
        ([1, 2], "body"),
    ],
)
async def test_a_malformed_announcement_names_the_field(
    api: Client, redis: Redis, body: object, field: str
) -> None:
    key = await create_department_key(redis, "paris", "voirie")
    status, f, _ = await error_of(
        await api.post("/v1/cities/paris/announcements", json=body, headers=auth(key))
    )
    assert (status, f) == (422, field)


async def test_bodies_that_are_not_json_or_too_large_are_refused(api: Client, redis: Redis) -> None:
    key = await create_department_key(redis, "paris", "voirie")
    h = {**auth(key), "Content-Type": "application/json"}
    assert await error_of(
        await api.post("/v1/cities/paris/announcements", data="{", headers=h)
    ) == (
        400,
        "body",
        "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
    )
    r = await api.post("/v1/cities/paris/announcements", data="x" * 70_000, headers=h)
    assert (await error_of(r))[:2] == (413, "body")


async def test_department_keys_are_required_and_scoped(api: Client, redis: Redis) -> None:
    r = await api.post("/v1/cities/paris/announcements", json=BODY)
    assert (await error_of(r))[:2] == (401, "Authorization")
    r = await api.post("/v1/cities/paris/announcements", json=BODY, headers=auth("nk_forged"))
    assert (await error_of(r))[:2] == (401, "Authorization")
    roads = await create_department_key(redis, "paris", "voirie")
    water = await create_department_key(redis, "paris", "eau")
    r = await api.post("/v1/cities/paris/announcements", json=BODY, headers=auth(roads))
    assert r.status == 202
    href = (await r.json())["href"]
    assert (await api.get(href, headers=auth(roads))).status == 200
    assert (await error_of(await api.get(href, headers=auth(water))))[0] == 404
    assert await redis.exists("n:{paris}:deptkey:" + roads) == 0  # only the hash is stored


async def test_citizen_tokens_reach_only_their_citizen(api: Client) -> None:
    a = await (await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})).json()
    b = await (await api.post("/v1/cities/paris/citizens", json={"email": "b@example.org"})).json()
    mine = await api.get(
        f"/v1/cities/paris/citizens/{a['citizen']['id']}", headers=auth(a["token"])
    )
    assert (await mine.json())["contacts"][0]["address"] == "a@example.org"
    theirs = await api.get(
        f"/v1/cities/paris/citizens/{b['citizen']['id']}", headers=auth(a["token"])
    )
    assert (await error_of(theirs))[0] == 403
    r = await api.post(
        f"/v1/cities/paris/citizens/{b['citizen']['id']}/subscriptions",
        json={"area": "75105"},
        headers=auth(a["token"]),
    )
    assert r.status == 403


async def test_registration_and_subscription_errors_name_the_field(api: Client) -> None:
    r = await api.post("/v1/cities/paris/citizens", json={"email": "not an address"})
    assert await error_of(r) == (422, "email", "not an email address")
    r = await api.post(
        "/v1/cities/paris/citizens", json={"email": "a@example.org", "language": "xx"}
    )
    assert (await error_of(r))[:2] == (422, "language")
    a = await (await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})).json()
    r = await api.post("/v1/cities/paris/citizens", json={"email": "A@EXAMPLE.org"})
    # already registered (domain case folded): answered as a new one (tests/security)
    assert r.status == 201 and (await r.json())["contacts"][0]["status"] == "pending"
    path = f"/v1/cities/paris/citizens/{a['citizen']['id']}/subscriptions"
    r = await api.post(path, json={"area": "75199"}, headers=auth(a["token"]))
    assert (await error_of(r))[:2] == (422, "area")
    r = await api.post(
        path,
        json={"area": "75105", "categories": ["roadworks", "gossip"]},
        headers=auth(a["token"]),
    )
    assert (await error_of(r))[:2] == (422, "categories[1]")


async def test_confirmation_needs_a_post_and_unsubscribe_is_one_click(
    api: Client, settings: Any
) -> None:
    a = await (await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})).json()
    cp = a["contacts"][0]["id"]
    secret = str(settings.secret_key)
    confirm = f"/v1/confirm/{tokens.sign(secret, 'confirm', 'paris', cp)}"
    page = await api.get(confirm)
    assert page.status == 200 and '<form method="post"' in await page.text()
    show = f"/v1/cities/paris/citizens/{a['citizen']['id']}"
    assert (await (await api.get(show, headers=auth(a["token"]))).json())["contacts"][0][
        "status"
    ] == "pending"
    assert (await (await api.post(confirm)).json())["contact"]["status"] == "confirmed"
    unsubscribe = f"/v1/unsubscribe/{tokens.sign(secret, 'unsubscribe', 'paris', cp)}"
    assert (await api.get(unsubscribe)).status == 200  # a prefetch changes nothing
    r = await api.post(
        unsubscribe,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (await r.json())["contact"]["status"] == "unsubscribed"
    held = await (await api.get(show, headers=auth(a["token"]))).json()
    assert [(c["change"], c["how"]) for c in held["consent"]] == [
        ("pending", "api"),
        ("confirmed", "email link"),
        ("unsubscribed", "one-click link"),
    ]
    forged = confirm[:-3] + "abc"
    assert (await error_of(await api.post(forged)))[:2] == (422, "token")


async def test_an_idempotent_publish_retried_ten_times_makes_one_event(
    api: Client, redis: Redis
) -> None:
    key = await create_department_key(redis, "paris", "voirie")
    h = {**auth(key), "Idempotency-Key": "flood-2026-11-25"}
    answers = [
        await (await api.post("/v1/cities/paris/announcements", json=BODY, headers=h)).json()
        for _ in range(10)
    ]
    assert len({a["id"] for a in answers}) == 1
    assert await redis.zcard("n:{paris}:events:pending") == 1
    other = {**BODY, "severity": "severe"}
    r = await api.post("/v1/cities/paris/announcements", json=other, headers=h)
    assert await error_of(r) == (409, "Idempotency-Key", "already used with a different body")
    # another department may use the same key for its own event
    water = await create_department_key(redis, "paris", "eau")
    h2 = {**auth(water), "Idempotency-Key": "flood-2026-11-25"}
    r = await api.post("/v1/cities/paris/announcements", json=BODY, headers=h2)
    assert r.status == 202 and (await r.json())["id"] != answers[0]["id"]


async def test_a_refused_publish_does_not_burn_its_idempotency_key(
    api: Client, redis: Redis
) -> None:
    key = await create_department_key(redis, "paris", "voirie")
    h = {**auth(key), "Idempotency-Key": "k1"}
    bad = {**BODY, "category": "gossip"}
    assert (await api.post("/v1/cities/paris/announcements", json=bad, headers=h)).status == 422
    assert (await api.post("/v1/cities/paris/announcements", json=BODY, headers=h)).status == 202


async def test_update_and_cancel_are_the_owners_and_versioned(api: Client, redis: Redis) -> None:
    roads = await create_department_key(redis, "paris", "voirie")
    water = await create_department_key(redis, "paris", "eau")
    r = await api.post("/v1/cities/paris/announcements", json=BODY, headers=auth(roads))
    href = (await r.json())["href"]
    changed = {**BODY, "severity": "severe"}
    assert (await api.put(href, json=changed, headers=auth(water))).status == 404
    r = await api.put(href, json=changed, headers=auth(roads))
    assert r.status == 202 and (await r.json())["version"] == 2
    shown = await (await api.get(href, headers=auth(roads))).json()
    assert (shown["version"], shown["severity"]) == (2, "severe")
    assert (await api.post(f"{href}/cancel", json={}, headers=auth(water))).status == 404
    r = await api.post(f"{href}/cancel", json={"reason": "Reporté"}, headers=auth(roads))
    assert r.status == 202
    assert (await (await api.get(href, headers=auth(roads))).json())["status"] == "cancelled"
    assert (await error_of(await api.put(href, json=BODY, headers=auth(roads))))[:2] == (
        409,
        "status",
    )
    assert (await api.post(f"{href}/cancel", headers=auth(roads))).status == 409


async def test_an_update_takes_only_what_changes_and_names_a_bad_field(
    api: Client, redis: Redis
) -> None:
    roads = await create_department_key(redis, "paris", "voirie")
    body = {**BODY, "content": {**BODY["content"], "en": {"title": "Works", "body": "Closed."}}}
    r = await api.post("/v1/cities/paris/announcements", json=body, headers=auth(roads))
    href = (await r.json())["href"]
    for bad, field in [
        ({"retell": "some"}, "retell"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"content": {"de": {"title": "x", "body": "y"}}}, "content.de"),
        ({"target": {"areas": ["99999"]}}, "target.areas[0]"),
    ]:
        assert (await error_of(await api.put(href, json=bad, headers=auth(roads))))[:2] == (
            422,
            field,
        )
    # what an update would do: its changes, a warning for the language left as it was, counts
    r = await api.post(
        f"{href}/preview",
        json={"content": {"fr": {"title": "Travaux prolongés", "body": "Rue fermée."}}},
        headers=auth(roads),
    )
    assert r.status == 200, await r.text()
    preview = await r.json()
    assert preview["changed"] == ["fr.title"]
    assert [w["field"] for w in preview["warnings"]] == ["content.en"]
    assert preview["messaged"] == {"all": 0, "new": 0, "none": 0}  # nobody subscribed
    assert (await (await api.get(href, headers=auth(roads))).json())["version"] == 1  # unsent
    # the cancel reason per language, each checked
    bad = {"reason": {"fr": "ok", "xx": "?"}}
    assert (await error_of(await api.post(f"{href}/cancel", json=bad, headers=auth(roads))))[
        :2
    ] == (422, "reason.xx")
    reasons = {"reason": {"fr": "Reporté", "en": "Put off"}}
    assert (await api.post(f"{href}/cancel", json=reasons, headers=auth(roads))).status == 202


async def test_preferences_are_validated_and_kept(api: Client) -> None:
    a = await (await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})).json()
    path = f"/v1/cities/paris/citizens/{a['citizen']['id']}"
    h = auth(a["token"])
    assert (await error_of(await api.patch(path, json={"timezone": "Mars/Olympus"}, headers=h)))[
        :2
    ] == (422, "timezone")
    bad = {"quiet_hours": {"start": "25:00", "end": "07:00"}}
    assert (await error_of(await api.patch(path, json=bad, headers=h)))[:2] == (
        422,
        "quiet_hours.start",
    )
    assert (await error_of(await api.patch(path, json={"colour": "blue"}, headers=h)))[:2] == (
        422,
        "colour",
    )
    good = {
        "language": "en",
        "timezone": "America/Montreal",
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "default_channels": ["email"],
        "fallback": ["email"],
    }
    r = await api.patch(path, json=good, headers=h)
    assert (await r.json())["citizen"] == {"id": a["citizen"]["id"], **good}
    r = await api.patch(path, json={"default_channels": ["fax"]}, headers=h)
    assert (await error_of(r))[:2] == (422, "default_channels")
    r = await api.post(f"{path}/subscriptions", json={"area": "75105"}, headers=h)
    assert (await r.json())["channels"] == ["email"]  # the default when none is named
    r = await api.patch(path, json={"quiet_hours": None}, headers=h)
    assert (await r.json())["citizen"]["quiet_hours"] is None


async def test_a_draft_shows_its_reach_and_messages_and_sends_nothing(
    api: Client, redis: Redis
) -> None:
    key = await create_department_key(redis, "paris", "voirie")
    for email, area in (
        ("a@example.org", "75105"),
        ("b@example.org", "7510501"),
        ("c@example.org", "75112"),
        ("pending@example.org", "75105"),
    ):
        c = await (await api.post("/v1/cities/paris/citizens", json={"email": email})).json()
        if email != "pending@example.org":
            await redis.hset(f"n:{{paris}}:contact:{c['contacts'][0]['id']}", "status", "confirmed")
        await api.post(
            f"/v1/cities/paris/citizens/{c['citizen']['id']}/subscriptions",
            json={"area": area},
            headers=auth(c["token"]),
        )
    draft = {
        **BODY,
        "target": {"areas": ["7510501"]},
        "content": {
            "fr": {"title": "Travaux", "body": "Rue fermée."},
            "en": {"title": "Works", "body": "Street closed."},
        },
    }
    r = await api.post("/v1/cities/paris/announcements/preview", json=draft, headers=auth(key))
    body = await r.json()
    assert (body["citizens"], body["contact_points"]) == (10, {"email": 10})  # 3, 2: rounded
    assert body["areas"] == "Saint-Victor"
    assert body["messages"]["email"]["en"]["subject"] == "Works"
    assert "Rue fermée." in body["messages"]["email"]["fr"]["text"]
    # each citizen gets their own unsubscribe link; the preview shows where it goes
    text = body["messages"]["email"]["fr"]["text"]
    assert "@@" not in text and "http://testserver/v1/unsubscribe/…" in text
    assert await redis.zcard("n:{paris}:events:pending") == 0  # nothing stored, nothing sent
    r = await api.post(
        "/v1/cities/paris/announcements/preview", json={**draft, "category": "x"}, headers=auth(key)
    )
    assert (await error_of(r))[:2] == (422, "category")


async def test_health_readiness_and_metrics(api: Client, redis: Redis, settings: Any) -> None:
    assert (await (await api.get("/healthz")).json()) == {"status": "ok"}
    assert (await (await api.get("/readyz")).json()) == {"status": "ready", "redis": "ok"}
    c = await (await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})).json()
    await api.get(f"/v1/cities/paris/citizens/{c['citizen']['id']}", headers=auth("forged"))
    text = await (await api.get("/metrics")).text()
    assert 'route="/v1/cities/{city}/citizens",status="201"' in text
    assert 'route="/v1/cities/{city}/citizens/{cid}",status="401"' in text
    assert c["citizen"]["id"] not in text and "a@example.org" not in text


async def test_readiness_names_what_is_down(redis: Redis, settings: Any) -> None:
    from notifier.api.app import create_api
    from notifier.wiring import build_services

    async def broker_down() -> bool:
        return False

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        raise AssertionError("nothing is published")

    deps = build_services(settings, redis, publish)
    app = create_api(settings, deps, checks={"kafka": broker_down})
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/readyz")
        assert r.status == 503
        assert await r.json() == {"status": "not ready", "redis": "ok", "kafka": "unreachable"}


async def test_key_scopes_limit_what_a_key_may_do(api: Client, redis: Redis) -> None:
    reader = await create_department_key(redis, "paris", "voirie", scopes=("statistics",))
    writer = await create_department_key(redis, "paris", "voirie", scopes=("publish",))
    r = await api.post("/v1/cities/paris/announcements", json=BODY, headers=auth(reader))
    assert await error_of(r) == (403, "Authorization", "this key may not publish")
    r = await api.post("/v1/cities/paris/announcements", json=BODY, headers=auth(writer))
    href = (await r.json())["href"]
    assert (await api.get(href, headers=auth(reader))).status == 200
    assert (await error_of(await api.get(href, headers=auth(writer))))[0] == 403


async def test_a_scheduled_announcement_waits_for_its_time(api: Client, redis: Redis) -> None:
    from datetime import UTC, datetime, timedelta

    key = await create_department_key(redis, "paris", "voirie")
    later = datetime.now(UTC) + timedelta(hours=2)
    body = {**BODY, "scheduled_at": later.isoformat()}
    r = await api.post("/v1/cities/paris/announcements", json=body, headers=auth(key))
    answer = await r.json()
    assert (r.status, answer["status"]) == (202, "scheduled")
    shown = await (await api.get(answer["href"], headers=auth(key))).json()
    assert shown["status"] == "scheduled"
    assert shown["published_at"] == later.isoformat(timespec="seconds").replace("+00:00", "Z")
    [(_, when)] = await redis.zrange("n:{paris}:schedule", 0, -1, withscores=True)
    assert abs(when - later.timestamp()) < 1
    past = {**BODY, "scheduled_at": "2020-01-01T00:00:00Z"}
    r = await api.post("/v1/cities/paris/announcements", json=past, headers=auth(key))
    assert (await error_of(r))[:2] == (422, "scheduled_at")


class OwnRedis:
    """A redis-server of the test's own (AOF under ``folder``) that can be stopped and
    started again on its port, and the real API on it with its client as ``notifier api``
    makes it (``make_redis``)."""

    def __init__(self, folder: Any) -> None:
        self.folder, self.port = folder, embedded.free_port()
        self.server = embedded.start_redis(self.port, folder)

    def stop(self) -> None:
        embedded.stop(self.server)

    def start(self) -> None:
        self.server = embedded.start_redis(self.port, self.folder)


@contextlib.asynccontextmanager
async def api_on_own_redis(
    settings: Any, tmp_path: Any
) -> AsyncIterator[tuple[OwnRedis, Redis, Callable[[str], Awaitable[Any]]]]:
    """The server, the API's client, and a citizen's registration through the API."""

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        pass

    own = OwnRedis(tmp_path / "redis")
    s = settings.replace(redis_url=f"redis://127.0.0.1:{own.port}/0")
    redis = make_redis(s)
    try:
        async with TestClient(TestServer(create_api(s, build_services(s, redis, publish)))) as c:

            async def subscribe(email: str) -> Any:
                return await c.post("/v1/cities/paris/citizens", json={"email": email})

            yield own, redis, subscribe
    finally:
        await redis.aclose()
        own.stop()


async def test_the_store_away_is_a_503_and_a_restart_is_ridden_over(
    settings: Any, tmp_path: Any
) -> None:
    """Redis restarts (the same port, its AOF): the next request goes through on a new
    connection, though the pooled one was closed by the restart. Redis stops: the API answers
    503 with Retry-After, not a 500."""
    async with api_on_own_redis(settings, tmp_path) as (own, _, subscribe):
        assert (await subscribe("before@example.org")).status == 201
        own.stop()  # its pooled connection is now closed
        own.start()
        assert (await subscribe("after@example.org")).status == 201
        own.stop()
        r = await subscribe("away@example.org")
        assert r.status == 503 and r.headers["Retry-After"] == "5"
        assert await error_of(r) == (
            503,
            None,
            "the service's store is unavailable; try again shortly",
        )


async def test_a_primary_without_its_replicas_is_a_503(settings: Any, tmp_path: Any) -> None:
    """A primary told to write only with a replica in sync (``min-replicas-to-write``, as
    docs/deployment.md advises) refuses writes once its replica is gone: the API says the
    store is away (503 with Retry-After), not 500, and takes the write once it is back."""
    async with api_on_own_redis(settings, tmp_path) as (_, redis, subscribe):
        await redis.config_set("min-replicas-to-write", 1)  # and none is connected
        r = await subscribe("no-replica@example.org")
        assert r.status == 503 and r.headers["Retry-After"] == "5", await r.text()
        await redis.config_set("min-replicas-to-write", 0)
        assert (await subscribe("no-replica@example.org")).status == 201
