"""A citizen moves from Paris to Paris Centre (the second tenant of
tests/integration/test_cities.py) and keeps their account: contact points, consents, language,
preferences; their area subscriptions become radius subscriptions around the new address; their
request follows stay in Paris until the request closes; Paris's events no longer reach them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.api.auth import create_department_key
from tests.paris_centre import make_centre
from tests.stage import SmtpSink, auth, error_of, eventually

Client = TestClient[Any, Any]
HOME = {"lon": 2.3615, "lat": 48.8637}  # rue de Bretagne, 3rd arrondissement (Paris Centre)


async def citizen_in_paris(api: Client, redis: Redis, email: str) -> dict[str, Any]:
    """A Paris citizen with a confirmed email, quiet hours, and four subscriptions."""
    r = await api.post("/v1/cities/paris/citizens", json={"email": email, "language": "en"})
    c = await r.json()
    cid, token = c["citizen"]["id"], c["token"]
    await redis.hset(f"n:{{paris}}:contact:{c['contacts'][0]['id']}", "status", "confirmed")
    r = await api.patch(
        f"/v1/cities/paris/citizens/{cid}",
        json={"quiet_hours": {"start": "22:00", "end": "07:00"}},
        headers=auth(token),
    )
    assert r.status == 200, await r.text()
    for body in (
        {"area": "7510301", "categories": ["roadworks", "culture"]},
        {"point": {"lon": 2.3470, "lat": 48.8462}, "radius_m": 300, "categories": ["water"]},
        {"department": "voirie"},
        {"request": "req-42"},
    ):
        r = await api.post(
            f"/v1/cities/paris/citizens/{cid}/subscriptions", json=body, headers=auth(token)
        )
        assert r.status == 201, await r.text()
    return {"id": cid, "token": token}


async def test_a_move_carries_the_account_and_leaves_only_the_follows(
    api: Client, redis: Redis
) -> None:
    await make_centre(redis)
    alice = await citizen_in_paris(api, redis, "alice@example.org")
    r = await api.post(
        f"/v1/cities/paris/citizens/{alice['id']}/move",
        json={"to": "paris_centre", "home": HOME, "radius_m": 400},
        headers=auth(alice["token"]),
    )
    moved = await r.json()
    assert r.status == 200, moved
    there = await (
        await api.get(
            f"/v1/cities/paris_centre/citizens/{alice['id']}", headers=auth(moved["token"])
        )
    ).json()
    assert there["citizen"]["language"] == "en"
    assert there["citizen"]["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert [(c["address"], c["status"]) for c in there["contacts"]] == [
        ("alice@example.org", "confirmed")
    ]
    # the consent ledger: Paris's entries, then the move
    changes = [(e["change"], e.get("to")) for e in there["consent"]]
    assert changes == [("pending", None), ("moved", "paris_centre")]
    # the two subscriptions with a surface are around the new address; culture is not a
    # category of Paris Centre; the department's is to be chosen again
    subs = sorted(there["subscriptions"], key=lambda s: s["categories"])
    assert [(s["kind"], s["point"], s["radius_m"], s["categories"]) for s in subs] == [
        ("point", HOME, 400, ["roadworks"]),
        ("point", HOME, 400, ["water"]),
    ]
    assert [s["kind"] for s in moved["to_choose_again"]] == ["department"]
    assert moved["following_in"] == {"paris": ["req-42"]}
    # the token made before the move works nowhere (tests/security/test_accounts.py)
    r = await api.get(f"/v1/cities/paris/citizens/{alice['id']}", headers=auth(alice["token"]))
    assert r.status == 401
    # in Paris, only the follow is left (and the contact point it needs)
    left = await redis.smembers(f"n:{{paris}}:citizen:{alice['id']}:subs")
    assert [await redis.hget(f"n:{{paris}}:sub:{sid}", "kind") for sid in left] == ["request"]
    consent = await redis.lrange(f"n:{{paris}}:citizen:{alice['id']}:consent", -1, -1)
    assert json.loads(consent[0])["change"] == "moved"
    # Paris's live index no longer holds her area, point and department subscriptions
    log = await redis.xrange("n:{paris}:subs:log")
    assert [e[1]["op"] for e in log] == ["add"] * 4 + ["del"] * 3


async def test_a_move_that_cannot_be_made_changes_nothing(api: Client, redis: Redis) -> None:
    await make_centre(redis)
    bob = await citizen_in_paris(api, redis, "bob@example.org")
    url = f"/v1/cities/paris/citizens/{bob['id']}/move"
    r = await api.post(url, json={"to": "lyon"}, headers=auth(bob["token"]))
    assert (await error_of(r))[:2] == (422, "to")
    r = await api.post(url, json={"to": "paris"}, headers=auth(bob["token"]))
    assert (await error_of(r))[:2] == (422, "to")
    far = {"lon": 2.2950, "lat": 48.8738}  # Arc de Triomphe: Paris, not Paris Centre
    r = await api.post(url, json={"to": "paris_centre", "home": far}, headers=auth(bob["token"]))
    assert (await error_of(r))[:2] == (422, "home")
    # someone in Paris Centre already has bob's address
    await api.post("/v1/cities/paris_centre/citizens", json={"email": "bob@example.org"})
    r = await api.post(url, json={"to": "paris_centre", "home": HOME}, headers=auth(bob["token"]))
    assert (await error_of(r))[:2] == (409, "email")
    here = await (
        await api.get(f"/v1/cities/paris/citizens/{bob['id']}", headers=auth(bob["token"]))
    ).json()
    assert len(here["subscriptions"]) == 4 and here["consent"][-1]["change"] == "pending"
    assert not await redis.exists(f"n:{{paris_centre}}:citizen:{bob['id']}")


async def test_a_moved_citizen_hears_the_new_city_and_only_their_request_from_the_old(
    api: Client, redis: Redis, worker: Any, smtp: tuple[SmtpSink, str]
) -> None:
    sink, _ = smtp
    await make_centre(redis)
    paris = await create_department_key(redis, "paris", "voirie")
    centre = await create_department_key(redis, "paris_centre", "voirie")
    alice = await citizen_in_paris(api, redis, "alice@example.org")
    await citizen_in_paris(api, redis, "neighbour@example.org")
    r = await api.post(
        "/v1/cities/paris/requests",
        json={"service_request_id": "req-42", "service_code": "voirie"},
        headers=auth(paris),
    )
    assert r.status == 201, await r.text()
    r = await api.post(
        f"/v1/cities/paris/citizens/{alice['id']}/move",
        json={"to": "paris_centre", "home": HOME},
        headers=auth(alice["token"]),
    )
    assert r.status == 200, await r.text()

    def roadworks(title: str, area: str) -> dict[str, Any]:
        return {
            "category": "roadworks",
            "severity": "severe",  # past the quiet hours, whatever the time of the test run
            "target": {"areas": [area]},
            "content": {"en": {"title": title, "body": title}, "fr": {"title": title, "body": "."}},
        }

    r = await api.post(
        "/v1/cities/paris/announcements",
        json=roadworks("Paris works", "7510301"),
        headers=auth(paris),
    )
    assert r.status == 202
    r = await api.post(
        "/v1/cities/paris_centre/announcements",
        json=roadworks("Centre works", "75103"),
        headers=auth(centre),
    )
    assert r.status == 202

    def works(address: str) -> list[str]:
        return [m["Subject"] for m in sink.to(address) if "works" in m["Subject"]]

    assert await eventually(lambda: works("neighbour@example.org"), what="Paris's announcement")
    [subject] = await eventually(lambda: works("alice@example.org"), what="Paris Centre's")
    assert subject.endswith("Centre works"), subject
    # her request closes in Paris: she hears of it, then her follow there ends
    r = await api.post(
        "/v1/cities/paris/requests/req-42/status",
        json={"status": "closed", "status_notes": "Repaired."},
        headers=auth(paris),
    )
    assert r.status in (200, 202), await r.text()

    def closing() -> list[Any]:
        mails = sink.to("alice@example.org")
        return [m for m in mails if "Repaired." in m.get_body(("plain",)).get_content()]

    async def follow_ended() -> bool:
        return not await redis.scard(f"n:{{paris}}:citizen:{alice['id']}:subs")

    await eventually(closing, what="the closing of her request")
    await eventually(follow_ended, what="her follow in Paris ended")
    # what is left of her in Paris goes in a week (the closing message needed her address)
    assert 0 < await redis.ttl(f"n:{{paris}}:citizen:{alice['id']}") <= 7 * 86400
    assert 0 < await redis.ttl("n:{paris}:address:email:alice@example.org") <= 7 * 86400
    assert works("alice@example.org") == [subject]  # never Paris's
    assert works("neighbour@example.org")[0].endswith("Paris works")


async def test_erasing_after_a_move_erases_what_the_old_city_still_held(
    api: Client, redis: Redis
) -> None:
    await make_centre(redis)
    carol = await citizen_in_paris(api, redis, "carol@example.org")
    r = await api.post(
        f"/v1/cities/paris/citizens/{carol['id']}/move",
        json={"to": "paris_centre", "home": HOME},
        headers=auth(carol["token"]),
    )
    token = (await r.json())["token"]
    assert await redis.exists(f"n:{{paris}}:citizen:{carol['id']}")  # her follow of req-42
    r = await api.delete(f"/v1/cities/paris_centre/citizens/{carol['id']}", headers=auth(token))
    assert r.status == 200, await r.text()
    for city in ("paris", "paris_centre"):
        assert not await redis.exists(f"n:{{{city}}}:citizen:{carol['id']}")
        assert not await redis.exists(f"n:{{{city}}}:address:email:carol@example.org")
        assert not await redis.smembers(f"n:{{{city}}}:idx:request:req-42")
