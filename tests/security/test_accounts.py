"""Issue #17, accounts: what an outsider could do to a citizen's account through the public API.

Takeover through a service request, telling who is registered, squatting an address, writes
made before a limit says no, no cap per citizen, management tokens that cannot be revoked.
Each test plays the attacker (or the victim checking their account) against the real API on a
real Redis; what the API would hand to the worker is kept in a list, and read as the owner of
the address would read their email or SMS.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from channels.push import generate_vapid_keys
from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.bulk_import.importer import import_csv
from notifier.settings import Secret, Settings
from notifier.wiring import build_services
from streams.records import DeliveryBatch
from subscriptions import tokens
from tests.paris_centre import make_centre

SECRET = "test-secret-" + "x" * 40
VICTIM = "victim@example.org"
VICTIM_PHONE = "+33612345678"
ATTACKER_PHONE = "+33698765432"
CITIZENS = "/v1/cities/paris/citizens"
HEADER = "contact,language,area,address,radius_m,categories,channels,consent_date,consent_source"


class App:
    def __init__(self, client: TestClient[Any, Any], published: list[bytes]) -> None:
        self.client = client
        self.published = published

    def messages(self, kind: str, to: str) -> list[str]:
        """The texts of the messages of this kind handed over for this address."""
        out = []
        for value in self.published:
            batch = DeliveryBatch.from_wire(value)
            if batch.kind == kind:
                for r in batch.recipients:
                    if r.to == to:
                        out += [v["text"] for v in batch.variants.values()]
        return out


@pytest.fixture
async def app(redis_url: str, redis: Redis) -> AsyncIterator[App]:
    s = Settings(
        redis_url=redis_url,
        secret_key=Secret(SECRET),
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=Secret("f" * 32),
        twilio_from="+33700000001",
        vapid_private_key=Secret(generate_vapid_keys().private_key),
        public_url="http://testserver",
    )
    published: list[bytes] = []

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        published.append(value)

    async with TestClient(TestServer(create_api(s, build_services(s, redis, publish)))) as c:
        yield App(c, published)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(app: App, **body: str) -> dict[str, Any]:
    r = await app.client.post(CITIZENS, json=body)
    assert r.status == 201, await r.text()
    return dict(await r.json())


async def confirm_by_link(app: App, pid: str) -> int:
    """What clicking the emailed link does (the link is the signed token the email holds)."""
    r = await app.client.post(f"/v1/confirm/{tokens.sign(SECRET, 'confirm', 'paris', pid)}")
    return r.status


async def victim(app: App) -> dict[str, Any]:
    """A citizen whose email is confirmed."""
    v = await register(app, email=VICTIM)
    assert await confirm_by_link(app, v["contacts"][0]["id"]) == 200
    return v


async def view(app: App, c: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    r = await app.client.get(f"{CITIZENS}/{c['citizen']['id']}", headers=auth(token or c["token"]))
    assert r.status == 200, await r.text()
    return dict(await r.json())


def link_token(text: str) -> str:
    found = re.search(r"/manage#(\S+)", text)
    assert found, text
    return found.group(1)


# hole 3: account takeover through a service request


async def test_a_filing_naming_a_victims_email_never_puts_a_new_phone_on_their_account(
    app: App, redis: Redis
) -> None:
    v = await victim(app)
    key = await create_department_key(redis, "paris", "voirie")
    filing = {"service_code": "pothole", "email": VICTIM, "phone": ATTACKER_PHONE}
    r = await app.client.post("/v1/cities/paris/requests", json=filing, headers=auth(key))
    assert r.status == 201
    # the victim's account holds what it held: their email, and nothing of the attacker's
    mine = await view(app, v)
    assert [(c["address"], c["status"]) for c in mine["contacts"]] == [(VICTIM, "confirmed")]
    # the attacker confirms the phone (as by texting the code back), asks for a link by phone
    pid = await redis.get(f"n:{{paris}}:address:sms:{ATTACKER_PHONE}")
    await redis.hset(f"n:{{paris}}:contact:{pid}", "status", "confirmed")
    r = await app.client.post("/v1/cities/paris/magic-link", json={"phone": ATTACKER_PHONE})
    assert r.status == 202
    [text] = app.messages("magic_link", ATTACKER_PHONE)
    stolen = link_token(text)
    r = await app.client.get(f"{CITIZENS}/{v['citizen']['id']}", headers=auth(stolen))
    assert r.status == 403  # a token for an account of the attacker's own, not the victim's
    # the victim still hears of the request they are named in, through their own address
    r = await app.client.get(f"{CITIZENS}/{v['citizen']['id']}", headers=auth(v["token"]))
    assert [s["kind"] for s in (await r.json())["subscriptions"]] == ["request"]


# enumeration and squatting


async def test_registering_a_known_address_answers_as_a_new_one_and_tells_the_owner(
    app: App, redis: Redis
) -> None:
    v = await victim(app)
    known = await register(app, email=VICTIM.upper())
    fresh = await register(app, email="nobody@example.org")

    def shape(answer: dict[str, Any]) -> Any:
        return {
            k: sorted(v) if isinstance(v, dict) else type(v).__name__ for k, v in answer.items()
        }

    assert shape(known) == shape(fresh)
    assert [c["status"] for c in known["contacts"]] == [c["status"] for c in fresh["contacts"]]
    assert [c["status"] for c in (await view(app, known))["contacts"]] == ["pending"]
    # the owner of the address is told, with their own link; the typist gets nothing
    [text] = app.messages("magic_link", VICTIM)
    assert "already have an account" in text or "déjà un compte" in text
    assert (await view(app, v, link_token(text)))["citizen"]["id"] == v["citizen"]["id"]
    # nothing for the typist to click: the one confirmation is of the victim's own registration
    assert len(app.messages("confirmation", VICTIM)) == 1
    # and the victim's account is as it was
    assert [c["address"] for c in (await view(app, v))["contacts"]] == [VICTIM]


async def test_a_wrong_code_for_someone_elses_phone_answers_as_for_a_new_one(app: App) -> None:
    owner = await register(app, phone=VICTIM_PHONE)
    answers = []
    for phone in (VICTIM_PHONE, "+33611111111"):
        c = await register(app, phone=phone)
        pid = c["contacts"][0]["id"]
        r = await app.client.post(
            f"{CITIZENS}/{c['citizen']['id']}/contacts/{pid}/confirm",
            json={"code": "000000"},
            headers=auth(c["token"]),
        )
        answers.append((r.status, await r.json()))
    assert answers[0] == answers[1] and answers[0][0] == 422
    assert [c["status"] for c in (await view(app, owner))["contacts"]] == ["pending"]


async def test_a_squatted_address_is_free_again_once_its_pending_time_is_over(
    app: App, redis: Redis
) -> None:
    squatter = await register(app, email=VICTIM)
    pid = squatter["contacts"][0]["id"]
    # eight days pass without the address being confirmed
    await redis.hset(f"n:{{paris}}:contact:{pid}", "created_at", int(time.time()) - 8 * 86400)
    v = await register(app, email=VICTIM)
    assert await confirm_by_link(app, v["contacts"][0]["id"]) == 200
    assert [(c["address"], c["status"]) for c in (await view(app, v))["contacts"]] == [
        (VICTIM, "confirmed")
    ]
    assert (await view(app, squatter))["contacts"] == []  # the squat ended
    assert await confirm_by_link(app, pid) == 404


async def test_a_pending_address_past_its_time_cannot_be_confirmed(app: App, redis: Redis) -> None:
    c = await register(app, email="late@example.org")
    pid = c["contacts"][0]["id"]
    await redis.hset(f"n:{{paris}}:contact:{pid}", "created_at", int(time.time()) - 8 * 86400)
    assert await confirm_by_link(app, pid) == 422
    assert (await view(app, c))["contacts"] == []
    # one left alone ends all the same: the citizen's page no longer shows it
    other = await register(app, email="later@example.org")
    old = other["contacts"][0]["id"]
    await redis.hset(f"n:{{paris}}:contact:{old}", "created_at", int(time.time()) - 8 * 86400)
    shown = await view(app, other)
    assert shown["contacts"] == [] and shown["consent"][-1]["change"] == "expired"


async def test_a_removed_contact_point_frees_its_address(app: App) -> None:
    first = await register(app, email="shared@example.org")
    pid = first["contacts"][0]["id"]
    r = await app.client.delete(
        f"{CITIZENS}/{first['citizen']['id']}/contacts/{pid}", headers=auth(first["token"])
    )
    assert r.status == 204
    assert (await view(app, first))["contacts"] == []
    second = await register(app, email="shared@example.org")
    assert await confirm_by_link(app, second["contacts"][0]["id"]) == 200
    assert [c["status"] for c in (await view(app, second))["contacts"]] == ["confirmed"]


async def test_a_pending_contact_point_can_be_asked_again_within_the_limits(app: App) -> None:
    c = await register(app, email="slow@example.org")
    url = f"{CITIZENS}/{c['citizen']['id']}/contacts/{c['contacts'][0]['id']}/resend"
    for _ in range(2):  # with the registration's, 3 messages to one address in 10 minutes
        r = await app.client.post(url, headers=auth(c["token"]))
        assert r.status == 202
    assert len(app.messages("confirmation", "slow@example.org")) == 3
    r = await app.client.post(url, headers=auth(c["token"]))
    assert r.status == 429 and "Retry-After" in r.headers
    assert await confirm_by_link(app, c["contacts"][0]["id"]) == 200
    r = await app.client.post(url, headers=auth(c["token"]))
    assert r.status == 409  # confirmed: nothing to ask again


# checks before writes, caps


async def test_a_registration_refused_by_a_limit_leaves_no_citizen_behind(
    app: App, redis: Redis
) -> None:
    for i in range(20):  # 20 messages an hour from one client address
        await register(app, email=f"n{i}@example.org")
    r = await app.client.post(CITIZENS, json={"email": "n20@example.org"})
    assert r.status == 429
    assert len([k async for k in redis.scan_iter("n:{paris}:citizen:*") if k.count(":") == 3]) == 20
    assert await redis.get("n:{paris}:address:email:n20@example.org") is None


async def test_contact_points_per_citizen_are_capped(app: App) -> None:
    c = await register(app, email="many@example.org")
    url = f"{CITIZENS}/{c['citizen']['id']}/contacts"
    for i in range(9):
        r = await app.client.post(
            url, json={"email": f"m{i}@example.org"}, headers=auth(c["token"])
        )
        assert r.status == 201
    r = await app.client.post(url, json={"email": "m9@example.org"}, headers=auth(c["token"]))
    body = await r.json()
    assert r.status == 422 and body["error"]["field"] == "email"
    assert "at most 10" in body["error"]["reason"]
    assert len((await view(app, c))["contacts"]) == 10


def push(n: int) -> dict[str, Any]:
    return {
        "endpoint": f"https://fcm.googleapis.com/fcm/send/test-{n}",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22},
    }


async def test_push_subscriptions_per_citizen_are_capped(app: App) -> None:
    c = await register(app, email="browsers@example.org")
    url = f"{CITIZENS}/{c['citizen']['id']}/contacts"
    for n in range(5):
        r = await app.client.post(url, json={"push": push(n)}, headers=auth(c["token"]))
        assert r.status == 201, await r.text()
    r = await app.client.post(url, json={"push": push(5)}, headers=auth(c["token"]))
    body = await r.json()
    assert r.status == 422 and body["error"]["field"] == "push"
    assert len((await view(app, c))["contacts"]) == 6


async def test_subscriptions_per_citizen_are_capped(app: App) -> None:
    c = await register(app, email="subs@example.org")
    url = f"{CITIZENS}/{c['citizen']['id']}/subscriptions"
    for n in range(50):
        body = {"point": {"lon": 2.35, "lat": 48.85}, "radius_m": 100 + n}
        r = await app.client.post(url, json=body, headers=auth(c["token"]))
        assert r.status == 201, await r.text()
    r = await app.client.post(url, json={"area": "75105"}, headers=auth(c["token"]))
    body = await r.json()
    assert r.status == 422 and body["error"]["field"] == "subscriptions"
    assert len((await view(app, c))["subscriptions"]) == 50


# revocable management tokens


async def test_signing_out_everywhere_revokes_every_token_and_a_new_link_works(
    app: App,
) -> None:
    v = await victim(app)
    old = tokens.sign(SECRET, "manage", "paris", v["citizen"]["id"])  # as links were made before
    assert (await view(app, v, old))["citizen"]["id"] == v["citizen"]["id"]
    r = await app.client.post(f"{CITIZENS}/{v['citizen']['id']}/sign-out", headers=auth(old))
    assert r.status == 204
    for token in (old, v["token"]):
        r = await app.client.get(f"{CITIZENS}/{v['citizen']['id']}", headers=auth(token))
        assert r.status == 401 and (await r.json())["error"]["field"] == "Authorization"
    r = await app.client.post("/v1/cities/paris/magic-link", json={"email": VICTIM})
    [text] = app.messages("magic_link", VICTIM)
    assert (await view(app, v, link_token(text)))["citizen"]["id"] == v["citizen"]["id"]


async def test_an_erased_citizens_token_opens_nothing(app: App) -> None:
    v = await victim(app)
    r = await app.client.delete(f"{CITIZENS}/{v['citizen']['id']}", headers=auth(v["token"]))
    assert r.status == 200
    r = await app.client.get(f"{CITIZENS}/{v['citizen']['id']}", headers=auth(v["token"]))
    assert r.status == 401


async def test_a_move_revokes_the_tokens_made_before_it(app: App, redis: Redis) -> None:
    await make_centre(redis)
    v = await victim(app)
    key = await create_department_key(redis, "paris", "voirie")
    filing = {"service_code": "pothole", "email": VICTIM}
    assert (
        await app.client.post("/v1/cities/paris/requests", json=filing, headers=auth(key))
    ).status == 201
    cid = v["citizen"]["id"]
    r = await app.client.post(
        f"{CITIZENS}/{cid}/move", json={"to": "paris_centre"}, headers=auth(v["token"])
    )
    moved = await r.json()
    assert r.status == 200, moved
    r = await app.client.get(f"{CITIZENS}/{cid}", headers=auth(v["token"]))
    assert r.status == 401  # the old city still holds the follow; the old token opens nothing
    r = await app.client.get(
        f"/v1/cities/paris_centre/citizens/{cid}", headers=auth(moved["token"])
    )
    assert r.status == 200


async def test_a_citizens_token_cannot_resend_remove_or_sign_out_for_another(app: App) -> None:
    alice = await register(app, email="alice@example.org")
    v = await victim(app)
    theirs = f"{CITIZENS}/{v['citizen']['id']}"
    pid = v["contacts"][0]["id"]
    for method, path in (
        ("POST", f"{theirs}/contacts/{pid}/resend"),
        ("DELETE", f"{theirs}/contacts/{pid}"),
        ("POST", f"{theirs}/sign-out"),
    ):
        r = await app.client.request(method, path, headers=auth(alice["token"]))
        assert r.status == 403, (method, path, r.status)
    # Alice's own path with the victim's contact point in it
    r = await app.client.delete(
        f"{CITIZENS}/{alice['citizen']['id']}/contacts/{pid}", headers=auth(alice["token"])
    )
    assert r.status == 404
    assert [c["status"] for c in (await view(app, v))["contacts"]] == ["confirmed"]


async def test_a_registration_with_a_subscription_out_of_place_writes_nothing(
    app: App, redis: Redis
) -> None:
    body = {"email": "portal@example.org", "subscriptions": [{"area": "75105"}, {"area": "75199"}]}
    r = await app.client.post(CITIZENS, json=body)
    answer = await r.json()
    assert r.status == 422 and answer["error"]["field"] == "subscriptions[1].area"
    assert [k async for k in redis.scan_iter("n:{paris}:citizen:*")] == []
    assert app.published == []  # no confirmation went out either
    # all of it valid: the citizen and both subscriptions at once
    body["subscriptions"][1] = {"point": {"lon": 2.35, "lat": 48.85}, "radius_m": 300}
    c = await register(app, **body)
    assert sorted(s["kind"] for s in (await view(app, c))["subscriptions"]) == ["area", "point"]


async def test_a_bulk_import_does_not_confirm_a_squatted_address_or_show_its_subscription(
    app: App, redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    squatter = await register(app, email=VICTIM)  # the attacker types the victim's address
    rows = f'{HEADER}\n{VICTIM},fr,,"48.8462,2.3470",,,,2021-03-04,Ancien portail\n'
    (tmp_path / "list.csv").write_text(rows)
    s = Settings(redis_url=redis_url, secret_key=Secret(SECRET), public_url="http://testserver")

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        app.published.append(value)

    deps = build_services(s, redis, publish)
    report = await import_csv(deps, "paris", tmp_path / "list.csv", False, lambda a, b: None)
    assert [r.field for r in report.rejections] == ["contact"]
    seen = await view(app, squatter)
    assert [c["status"] for c in seen["contacts"]] == ["pending"]  # not confirmed for them
    assert seen["subscriptions"] == []  # and the victim's home is not shown to them


async def test_a_pending_address_from_before_expiry_gets_its_days_from_when_first_seen(
    app: App, redis: Redis
) -> None:
    legit = await register(app, email="before@example.org")
    squat = await register(app, email=VICTIM)
    for c in (legit, squat):  # as contact points were kept before they had a time
        await redis.hdel(f"n:{{paris}}:contact:{c['contacts'][0]['id']}", "created_at")
    assert await confirm_by_link(app, legit["contacts"][0]["id"]) == 200  # not cut short
    first = await register(app, email=VICTIM)  # the squat's time starts now
    assert [c["status"] for c in (await view(app, squat))["contacts"]] == ["pending"]
    pid = squat["contacts"][0]["id"]
    await redis.hset(f"n:{{paris}}:contact:{pid}", "created_at", int(time.time()) - 8 * 86400)
    v = await register(app, email=VICTIM)
    assert await confirm_by_link(app, v["contacts"][0]["id"]) == 200
    assert (await view(app, squat))["contacts"] == []
    assert await confirm_by_link(app, first["contacts"][0]["id"]) == 422  # it held nothing


async def test_a_contact_point_for_someone_elses_address_is_never_confirmed(
    app: App, redis: Redis
) -> None:
    await victim(app)
    owner = await register(app, phone=VICTIM_PHONE)
    for given in ({"email": VICTIM}, {"phone": VICTIM_PHONE}):
        c = await register(app, **given)
        pid = c["contacts"][0]["id"]
        assert await confirm_by_link(app, pid) == 422  # even with a link made for it
        code = "123456"  # even with the right code (as if guessed): set here, and known
        digest = hashlib.sha256(f"{pid}:{code}".encode()).hexdigest()
        await redis.hset(f"n:{{paris}}:code:{pid}", mapping={"digest": digest, "tries": 0})
        if "phone" in given:
            r = await app.client.post(
                f"{CITIZENS}/{c['citizen']['id']}/contacts/{pid}/confirm",
                json={"code": code},
                headers=auth(c["token"]),
            )
            assert r.status == 422
        assert [x["status"] for x in (await view(app, c))["contacts"]] == ["pending"]
    assert [x["status"] for x in (await view(app, owner))["contacts"]] == ["pending"]
