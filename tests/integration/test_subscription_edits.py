"""A citizen changes a subscription in place, removes one contact point, and a newly confirmed
contact point joins the subscriptions made before it; the links of the messages (confirm,
unsubscribe, manage) lead to pages that say what happened and what comes next."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from subscriptions import tokens
from subscriptions.areas import load_catalogue
from subscriptions.matcher import Matcher
from subscriptions.store import SubscriptionStore, new_id
from subscriptions.subscription import parse_subscription
from subscriptions.targets import parse_target
from templates.i18n import places
from tests.stage import auth, confirmed_citizen

Client = TestClient[Any, Any]
SECRET = "test-secret-" + "x" * 40  # the root settings' (tests/conftest.py)
PARIS = load_catalogue("paris")


async def test_an_edit_keeps_what_it_does_not_name_and_the_matcher_sees_it(
    api: Client, redis: Redis
) -> None:
    c = await confirmed_citizen(api, redis, "alice@example.org")
    base = f"/v1/cities/paris/citizens/{c['citizen']['id']}"
    made = await api.post(
        f"{base}/subscriptions",
        json={"point": {"lon": 2.347, "lat": 48.846}, "radius_m": 300, "categories": ["water"]},
        headers=auth(c["token"]),
    )
    sid = (await made.json())["id"]
    r = await api.patch(
        f"{base}/subscriptions/{sid}",
        json={"categories": ["roadworks", "water"], "min_severity": "severe"},
        headers=auth(c["token"]),
    )
    assert r.status == 200, await r.text()
    shown = (await (await api.get(base, headers=auth(c["token"]))).json())["subscriptions"]
    assert shown == [
        {
            "id": sid,
            "kind": "point",
            "categories": ["roadworks", "water"],
            "min_severity": "severe",
            "channels": ["email"],
            "cadence": {"period": "immediate"},
            "point": {"lon": 2.347, "lat": 48.846},
            "radius_m": 300.0,
        }
    ]
    # a new place replaces the old one, in the index too
    r = await api.patch(
        f"{base}/subscriptions/{sid}", json={"area": "75105"}, headers=auth(c["token"])
    )
    assert (await r.json())["area"] == "75105"
    # what the matching processes index it by: the arrondissement, and no more the point's cells
    assert json.loads(await redis.hget(f"n:{{paris}}:sub:{sid}", "index")) == [["area", "75105"]]
    # the matching processes replace their copy from the change log
    [(_, last)] = await redis.xrevrange("n:{paris}:subs:log", count=1)
    assert (last["op"], last["sub"]) == ("add", sid)


async def test_an_edit_is_checked_whole_and_names_the_field(api: Client, redis: Redis) -> None:
    c = await confirmed_citizen(api, redis, "alice@example.org")
    other = await confirmed_citizen(api, redis, "bob@example.org")
    base = f"/v1/cities/paris/citizens/{c['citizen']['id']}"
    made = await api.post(
        f"{base}/subscriptions",
        json={"point": {"lon": 2.347, "lat": 48.846}, "radius_m": 300},
        headers=auth(c["token"]),
    )
    sid = (await made.json())["id"]
    for body, field in (
        ({"radius_m": 20000}, "radius_m"),
        ({"channels": []}, "channels"),
        ({"categories": ["parking"]}, "categories[0]"),
        ({"request": "14-00684314"}, "request"),
        ({"colour": "red"}, "colour"),
    ):
        r = await api.patch(f"{base}/subscriptions/{sid}", json=body, headers=auth(c["token"]))
        assert r.status == 422, (body, await r.text())
        assert (await r.json())["error"]["field"] == field
    # nothing changed, and nobody else's subscription is reached
    shown = (await (await api.get(base, headers=auth(c["token"]))).json())["subscriptions"]
    assert shown[0]["radius_m"] == 300.0 and shown[0]["channels"] == ["email"]
    bob = f"/v1/cities/paris/citizens/{other['citizen']['id']}"
    r = await api.patch(
        f"{bob}/subscriptions/{sid}", json={"radius_m": 500}, headers=auth(other["token"])
    )
    assert r.status == 404


async def pending_phone(redis: Redis, cid: str) -> dict[str, Any]:
    """A phone number given and not yet confirmed (SMS is not on in these settings)."""
    cp = await SubscriptionStore(redis).add_contact(
        "paris", cid, "sms", "+33612345678", "pending", "api"
    )
    return cp.public()


async def test_a_confirmed_phone_joins_the_subscriptions_made_before_it(
    api: Client, redis: Redis
) -> None:
    c = await confirmed_citizen(api, redis, "alice@example.org")
    base, h = f"/v1/cities/paris/citizens/{c['citizen']['id']}", auth(c["token"])
    before = await (
        await api.post(f"{base}/subscriptions", json={"area": "75105"}, headers=h)
    ).json()
    phone = await pending_phone(redis, c["citizen"]["id"])
    # made while the phone was there, email only: a choice, kept
    after = await (
        await api.post(
            f"{base}/subscriptions", json={"area": "75106", "channels": ["email"]}, headers=h
        )
    ).json()
    await redis.hset(f"n:{{paris}}:sub:{before['id']}", "created_at", "0")  # long before
    await SubscriptionStore(redis).set_code("paris", phone["id"], "123456")
    r = await api.post(f"{base}/contacts/{phone['id']}/confirm", json={"code": "123456"}, headers=h)
    assert r.status == 200, await r.text()
    subs = {s["id"]: s for s in (await (await api.get(base, headers=h)).json())["subscriptions"]}
    assert subs[before["id"]]["channels"] == ["email", "sms"]
    assert subs[after["id"]]["channels"] == ["email"]


async def test_removing_a_phone_keeps_the_email_and_the_consent_record(
    api: Client, redis: Redis
) -> None:
    c = await confirmed_citizen(api, redis, "alice@example.org")
    base, h = f"/v1/cities/paris/citizens/{c['citizen']['id']}", auth(c["token"])
    phone = await pending_phone(redis, c["citizen"]["id"])
    assert (await api.delete(f"{base}/contacts/{phone['id']}", headers=h)).status == 204
    held = await (await api.get(base, headers=h)).json()
    assert [x["address"] for x in held["contacts"]] == ["alice@example.org"]
    assert {"contact": phone["id"], "change": "removed"}.items() <= held["consent"][-1].items()


async def test_an_emails_manage_link_opens_the_page_until_the_citizen_signs_out(
    api: Client, redis: Redis
) -> None:
    c = await confirmed_citizen(api, redis, "alice@example.org")
    cid, pid = c["citizen"]["id"], c["contacts"][0]["id"]
    link = f"/v1/unsubscribe/{tokens.sign(SECRET, 'unsubscribe', 'paris', pid)}/manage"
    r = await api.get(link, allow_redirects=False)
    assert r.status == 303
    token = re.fullmatch(r"/manage#(.+)", r.headers["Location"]).group(1)  # type: ignore[union-attr]
    base = f"/v1/cities/paris/citizens/{cid}"
    assert (await api.get(base, headers=auth(token))).status == 200
    assert (await api.post(f"{base}/sign-out", headers=auth(token))).status == 204
    r = await api.get(link, allow_redirects=False)
    assert r.status == 303 and not r.headers["Location"].startswith("/manage")


async def test_the_link_pages_say_what_happened_and_lead_on(api: Client, redis: Redis) -> None:
    c = await (
        await api.post(
            "/v1/cities/paris/citizens", json={"email": "a@example.org", "language": "en"}
        )
    ).json()
    pid = c["contacts"][0]["id"]
    confirm = f"/v1/confirm/{tokens.sign(SECRET, 'confirm', 'paris', pid)}"
    page = await (await api.get(confirm)).text()
    assert '<html lang="en">' in page and "Confirm your address" in page
    assert 'class="top"' in page and "/manage#" not in page  # no way in before confirming
    done = await (await api.post(confirm, headers={"Accept": "text/html"})).text()
    assert "Address confirmed" in done and "What next?" in done and "/manage#" in done
    assert "Adresse confirmée" in await (await api.get(confirm + "?lang=fr")).text()
    dead = await api.get("/v1/unsubscribe/nonsense", headers={"Accept": "text/html"})
    assert dead.status == 404 and "This link no longer works" not in await dead.text()
    assert "Ce lien ne fonctionne plus" in await dead.text()


async def test_the_matcher_says_what_each_reader_subscribed_to_and_the_email_names_it(
    redis: Redis,
) -> None:
    store = SubscriptionStore(redis)
    a, b, c = [(await store.create_citizen("paris", "fr")).id for _ in range(3)]
    await add(store, a, area="7510501")  # Saint-Victor
    await add(store, a, department="voirie")
    await add(store, b, point={"lon": 2.3545, "lat": 48.8465}, radius_m=250)  # in Saint-Victor
    await add(store, c, area="7510502")  # Jardin-des-Plantes: not reached
    target = parse_target({"areas": ["7510501"]}, PARIS).resolve(PARIS)
    matcher = Matcher(redis, {"paris": PARIS})
    audience = await matcher.match("paris", target, "water", "minor", "voirie", reasons=10)
    assert audience.reasons is not None
    said = dict(zip(audience.citizens, audience.reasons, strict=True))
    assert said == {
        a: (("area", "7510501"), ("dept", "voirie")),
        b: (("point", ""),),
    }
    name = lambda code: PARIS.get(code).name  # noqa: E731
    assert places(said[a], "fr", name) == "Saint-Victor, voirie (toutes ses annonces)"
    assert places(said[b], "en", name) == "around the point you chose"
    # a large audience is not explained (a loop over its rows): its messages name the target
    assert (
        await matcher.match("paris", target, "water", "minor", "voirie", reasons=1)
    ).reasons is None


async def add(store: SubscriptionStore, cid: str, **body: object) -> None:
    sub, index = parse_subscription(body, sid=new_id("sub"), citizen=cid, catalogue=PARIS)
    await store.add_subscription("paris", sub, index)
