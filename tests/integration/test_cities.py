"""Cities as tenants: a second real city (Paris Centre, derived from the Open Data Paris
boundaries, see tests/data/cities/SOURCES.md) created by the CLI and the operators' API, and
isolation between the two, route by route."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.api.auth import create_department_key, create_operator_key
from streams.announcements import Announcement
from streams.delivery.expand import expand_announcement
from streams.delivery.requests import handle_request_status
from streams.delivery.send import send_batch
from streams.deps import Deps
from streams.handlers import guarded, handle_city_event
from subscriptions.cities import Cities
from subscriptions.city_document import parse_city, put_city
from subscriptions.errors import InvalidInput
from subscriptions.store import new_id
from subscriptions.subscription import parse_subscription
from tests.command import run
from tests.paris_centre import DOC_FILE, centre_doc, make_centre
from tests.stage import SmtpSink, auth, error_of

Client = TestClient[Any, Any]


def test_a_city_document_gives_its_areas_with_their_parents() -> None:
    city, areas = parse_city(centre_doc())
    assert (city.id, city.name, city.timezone) == ("paris_centre", "Paris Centre", "Europe/Paris")
    assert city.monthly_quotas == {"sms": 20} and city.rates == {"sms": 50.0}
    kinds = [a["kind"] for a in areas]
    assert kinds.count("arrondissement") == 4 and kinds.count("quartier") == 16
    # the quartiers name no parent property: each is placed in the arrondissement that holds it,
    # which is the one the data says (c_quinsee 7510301 is in 75103)
    for a in areas:
        if a["kind"] == "quartier":
            assert a["parent"] == a["code"][:5], a["name"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "Paris Centre"}, "id"),
        ({"timezone": "Europe/Lutece"}, "timezone"),
        ({"categories": ["roadworks", "snow"]}, "categories"),
        ({"languages": ["fr"], "default_language": "en"}, "default_language"),
        ({"departments": ["Voirie!"]}, "departments"),
        ({"email": {"from": "not an address"}}, "email.from"),
        ({"sms": {"from": "0612345678"}}, "sms.from"),
        ({"branding": {"colour": "red"}}, "branding.colour"),
        ({"branding": {"logo_url": "http://cdn.example/l.png"}}, "branding.logo_url"),
        ({"branding": {"logo_url": "https://x.example; script-src *"}}, "branding.logo_url"),
        ({"branding": {"logo_url": 'https://x.example/l.png" onerror="'}}, "branding.logo_url"),
        ({"limits": {"monthly_quotas": {"fax": 10}}}, "limits.monthly_quotas.fax"),
        (
            {"areas": {"code": "c_arinsee", "name": "l_aroff", "geojson": {"type": "Feature"}}},
            "areas.geojson",
        ),
    ],
)
def test_a_bad_city_document_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_city({**centre_doc(), **change})
    assert e.value.field == field


def test_area_errors_name_the_feature() -> None:
    doc = centre_doc()
    features = doc["subareas"]["geojson"]["features"]
    features[3]["properties"]["c_quinsee"] = features[2]["properties"]["c_quinsee"]  # twice
    with pytest.raises(InvalidInput) as e:
        parse_city(doc)
    assert e.value.field == "subareas.geojson.features[3].properties.c_quinsee"
    doc = centre_doc()
    far = doc["subareas"]["geojson"]["features"][0]["geometry"]
    far["coordinates"] = [[[x + 0.2, y] for x, y in ring] for ring in far["coordinates"]]
    with pytest.raises(InvalidInput) as e:
        parse_city(doc)
    assert e.value.field == "subareas.geojson.features[0].geometry"
    assert "no first-level area" in e.value.reason


async def test_a_city_created_elsewhere_is_loaded_on_first_use(redis: Redis) -> None:
    here = Cities(redis)
    assert not await here.ensure("paris_centre")
    await make_centre(redis)  # by another process
    assert await here.ensure("paris_centre")
    assert len(here.catalogues["paris_centre"]) == 20
    assert here.catalogues["paris_centre"].related(["7510301"]) == {"7510301", "75103"}
    assert "paris" in here and here["paris_centre"].categories[0] == "roadworks"


def test_the_cli_creates_lists_and_shows_cities(redis_url: str, tmp_path: Path) -> None:
    env = {"NOTIFIER_REDIS_URL": redis_url}
    r = run("city", "create", str(DOC_FILE), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() in (
        "created paris_centre (Paris Centre): 4 arrondissement, 16 quartier",
        "replaced paris_centre (Paris Centre): 4 arrondissement, 16 quartier",
    )
    listed = run("city", "list", env=env).stdout.splitlines()
    assert "paris  Paris" in listed and "paris_centre  Paris Centre" in listed
    shown = json.loads(run("city", "show", "paris_centre", env=env).stdout)
    assert shown["mail_from"] == "Paris Centre <alertes@paris-centre.example>"
    # a key for a department the city does not have, or for no city, is refused
    r = run("department-key", "create", "--department", "parcs", "--city", "paris_centre", env=env)
    assert r.returncode == 2 and "not a department of paris_centre" in r.stderr
    r = run("department-key", "create", "--department", "voirie", "--city", "lyon", env=env)
    assert r.returncode == 2 and "no city 'lyon'" in r.stderr
    r = run("operator-key", "create", "--city", "paris_centre", env=env)
    assert r.returncode == 0 and r.stdout.startswith("no_")
    # a document that is not there, or not JSON: a clear message, no traceback
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    for path in (tmp_path / "missing.json", bad):
        r = run("city", "create", str(path), env=env)
        assert r.returncode == 2 and r.stderr.startswith("notifier: file:"), r.stderr
        assert "Traceback" not in r.stderr


async def test_operators_create_cities_through_the_api(api: Client, redis: Redis) -> None:
    everywhere = await create_operator_key(redis)
    paris_only = await create_operator_key(redis, "paris")
    doc = centre_doc()
    assert (await error_of(await api.put("/v1/cities/paris_centre", json=doc)))[0] == 401
    r = await api.put("/v1/cities/paris_centre", json=doc, headers=auth(paris_only))
    assert (await error_of(r))[0] == 403  # a new city needs a key for every city
    r = await api.put("/v1/cities/paris_centre", json=doc, headers=auth(everywhere))
    assert r.status == 201 and (await r.json())["areas"] == 20
    r = await api.put("/v1/cities/paris_centre", json=doc, headers=auth(everywhere))
    assert r.status == 200  # replaced
    r = await api.put("/v1/cities/paris_centre", json=doc, headers=auth(paris_only))
    assert (await error_of(r))[0] == 403  # another city's operators may not change it
    r = await api.put(
        "/v1/cities/lyon", json={**doc, "timezone": "Mars/Olympus"}, headers=auth(everywhere)
    )
    assert (await error_of(r))[:2] == (422, "id")  # the document is Paris Centre's
    r = await api.put(
        "/v1/cities/lyon", json={**doc, "id": "lyon", "timezone": "Mars"}, headers=auth(everywhere)
    )
    assert (await error_of(r))[:2] == (422, "timezone")
    listed = await (await api.get("/v1/cities")).json()
    assert listed["cities"] == [
        {"id": "paris", "name": "Paris"},
        {"id": "paris_centre", "name": "Paris Centre"},
    ]
    centre = await (await api.get("/v1/cities/paris_centre")).json()
    assert centre["areas"] == {"arrondissement": 4, "quartier": 16}
    assert "mail_from" not in centre  # senders are not shown to the public
    areas = await (await api.get("/v1/cities/paris_centre/areas")).json()
    assert {a["code"] for a in areas["areas"]} >= {"75101", "7510401"}
    assert (await error_of(await api.get("/v1/cities/lyon/areas")))[0] == 404


async def test_a_citys_own_settings_apply_to_its_citizens_and_departments(
    api: Client, redis: Redis
) -> None:
    await make_centre(redis)
    r = await api.post("/v1/cities/paris_centre/citizens", json={"email": "c@example.org"})
    citizen = await r.json()
    assert citizen["citizen"]["language"] == "fr"  # the city's default
    r = await api.post(
        f"/v1/cities/paris_centre/citizens/{citizen['citizen']['id']}/subscriptions",
        json={"area": "7510301", "categories": ["culture"]},
        headers=auth(citizen["token"]),
    )
    assert (await error_of(r))[:2] == (422, "categories")  # Paris Centre has no culture
    key = await create_department_key(redis, "paris_centre", "voirie")
    r = await api.post(
        "/v1/cities/paris_centre/announcements/preview",
        json={
            "category": "weather",
            "target": {"areas": ["75103"]},
            "content": {"fr": {"title": "Orage", "body": "Orage."}},
        },
        headers=auth(key),
    )
    assert (await error_of(r))[:2] == (422, "category")
    r = await api.post(  # a Paris area is not Paris Centre's
        "/v1/cities/paris_centre/announcements/preview",
        json={
            "category": "roadworks",
            "target": {"areas": ["75105"]},
            "content": {"fr": {"title": "T", "body": "T"}},
        },
        headers=auth(key),
    )
    assert (await error_of(r))[0] == 422


# ---------------------------------------------------------------------------- isolation

# Routes whose object is not named under /v1/cities/{city}/: the signed token they carry
# names its city (subscriptions.tokens), so it cannot be used in another.
CITY_IN_TOKEN = {"/v1/confirm/{token}", "/v1/unsubscribe/{token}", "/v1/unsubscribe/{token}/manage"}


def routes(api: Client) -> list[tuple[str, str]]:
    out = []
    for route in api.server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        if route.method not in ("HEAD", "OPTIONS") and path:
            out.append((route.method, path))
    return out


async def test_every_route_that_takes_an_id_is_scoped_by_a_city(api: Client) -> None:
    """Fails when a route is added that names an object without a city around it."""
    unscoped = [
        (m, p)
        for m, p in routes(api)
        if re.search(r"\{(?!city\})\w+\}", p)
        and not p.startswith("/v1/cities/{city}/")
        and p not in CITY_IN_TOKEN
    ]
    assert unscoped == []
    assert {p for _, p in routes(api)} >= CITY_IN_TOKEN


async def test_a_department_or_citizen_of_one_city_reaches_nothing_of_another(
    api: Client, redis: Redis
) -> None:
    """Paris Centre's department and citizen, with their own keys, against every route of
    Paris that takes an id, given the ids of Paris's objects and of their own."""
    await make_centre(redis)
    paris_key = await create_department_key(redis, "paris", "voirie")
    centre_key = await create_department_key(redis, "paris_centre", "voirie")
    announcement = {
        "category": "roadworks",
        "target": {"areas": ["75103"]},
        "content": {"fr": {"title": "Travaux", "body": "Rue fermée."}},
    }
    made = {}
    for city, key in (("paris", paris_key), ("paris_centre", centre_key)):
        r = await api.post(f"/v1/cities/{city}/announcements", json=announcement, headers=auth(key))
        assert r.status == 202, await r.text()
        eid = (await r.json())["id"]
        c = await (
            await api.post(f"/v1/cities/{city}/citizens", json={"email": f"x@{city}.example"})
        ).json()
        r = await api.post(
            f"/v1/cities/{city}/requests",
            json={"service_request_id": f"req-{city}", "service_code": "voirie"},
            headers=auth(key),
        )
        assert r.status == 201, await r.text()
        r = await api.post(f"/v1/cities/{city}/drafts", json=announcement, headers=auth(key))
        assert r.status == 201, await r.text()
        made[city] = {
            "eid": eid,
            "did": (await r.json())["id"],
            "cid": c["citizen"]["id"],
            "pid": c["contacts"][0]["id"],
            "sid": "sub_0000000000000000",
            "rid": f"req-{city}",
            "token": c["token"],
        }
    intruder = made["paris_centre"]
    reached = []
    for method, path in routes(api):
        if not path.startswith("/v1/cities/{city}/") or not re.search(r"\{(?!city\})\w+\}", path):
            continue
        for ids in (made["paris"], intruder):  # Paris's objects, and their own under Paris
            url = path.replace("{city}", "paris")
            url = re.sub(r"\{(\w+)\}", lambda m, ids=ids: str(ids[m.group(1)]), url)
            for credential in (centre_key, intruder["token"]):
                r = await api.request(method, url, json=announcement, headers=auth(credential))
                if r.status < 400 or r.status >= 500:
                    reached.append((method, url, r.status))
    assert reached == []
    # and their own city's routes work for them (the test above is not refusing everything)
    r = await api.get(
        f"/v1/cities/paris_centre/announcements/{intruder['eid']}", headers=auth(centre_key)
    )
    assert r.status == 200
    r = await api.get(
        f"/v1/cities/paris_centre/citizens/{intruder['cid']}", headers=auth(intruder["token"])
    )
    assert r.status == 200


async def test_usage_is_shown_to_the_citys_operators_only(api: Client, redis: Redis) -> None:
    await make_centre(redis)
    mine = await create_operator_key(redis, "paris_centre")
    theirs = await create_operator_key(redis, "paris")
    dept = await create_department_key(redis, "paris_centre", "voirie")
    await redis.set("n:{paris_centre}:usage:email:" + _month(), 7)
    r = await api.get("/v1/cities/paris_centre/usage", headers=auth(mine))
    body = await r.json()
    assert r.status == 200, body
    assert body["channels"]["email"] == {
        "handed_over": 7,
        "monthly_quota": None,
        "remaining": None,
        "rate_per_second": None,
    }
    for key, status in ((theirs, 403), (dept, 401)):
        r = await api.get("/v1/cities/paris_centre/usage", headers=auth(key))
        assert (await error_of(r))[0] == status


def _month() -> str:
    return time.strftime("%Y-%m", time.gmtime())


def test_the_city_document_in_the_tests_is_what_the_sources_say() -> None:
    doc = centre_doc()
    names = [f["properties"]["l_aroff"] for f in doc["areas"]["geojson"]["features"]]
    assert sorted(names) == ["Bourse", "Hôtel-de-Ville", "Louvre", "Temple"]


# ---------------------------------------------------------------------------- its own senders


async def test_a_citys_messages_go_from_its_senders_in_its_colours_within_its_quota(
    deps: tuple[Deps, list[tuple[str, bytes, bytes]]],  # noqa: F811 (test_handlers' fixture)
    smtp: tuple[SmtpSink, str],
) -> None:
    d, published = deps
    sink, _ = smtp
    doc = centre_doc()
    doc["limits"] = {"monthly_quotas": {"email": 3}}
    await put_city(d.store.redis, doc)
    assert await d.cities.ensure("paris_centre")
    catalogue = d.catalogues["paris_centre"]
    for i in range(5):
        c = await d.store.create_citizen("paris_centre", "fr")
        await d.store.add_contact(
            "paris_centre", c.id, "email", f"c{i}@example.org", "confirmed", "test"
        )
        sub, index = parse_subscription(
            {"area": "75103"}, sid=new_id("sub"), citizen=c.id, catalogue=catalogue
        )
        await d.store.add_subscription("paris_centre", sub, index)
    a = Announcement.from_input(
        {
            "category": "roadworks",
            "target": {"areas": ["7510301"]},
            "content": {"fr": {"title": "Travaux rue de Bretagne", "body": "Fermée."}},
        },
        id="evt_c",
        city="paris_centre",
        department="voirie",
        catalogue=catalogue,
    )
    await d.events.accept(a)
    await expand_announcement(a, d)
    [batch] = [v for t, _, v in published if t == "deliveries.email"]
    assert await send_batch(batch, d) == {"sent": 3, "failed": 2}
    assert [m["From"] for m in sink.messages] == ["Paris Centre <alertes@paris-centre.example>"] * 3
    assert {m["Reply-To"] for m in sink.messages} == {"mairie@paris-centre.example"}
    assert {e[0] for e in sink.envelopes} == {"alertes@paris-centre.example"}
    html = sink.messages[0].get_body(("html",)).get_content()
    assert "#c8102e" in html and "Paris Centre" in html
    assert await d.ledger.counts("paris_centre", "evt_c") == {"email": {"sent": 3, "failed": 2}}
    letters = [json.loads(v) for t, _, v in published if t == "dead-letters"]
    assert [x["reason"] for x in letters] == [
        "delivery failed: the city's monthly email quota (3) is spent"
    ] * 2
    assert await d.quotas.usage("paris_centre", ["email"]) == {"email": 3}


async def test_an_event_of_one_city_reaches_no_one_of_another_on_the_same_streets(
    deps: tuple[Deps, list[tuple[str, bytes, bytes]]],  # noqa: F811 (test_handlers' fixture)
) -> None:
    d, published = deps
    await make_centre(d.store.redis)
    assert await d.cities.ensure("paris_centre")
    ids = {}
    for city in ("paris", "paris_centre"):
        c = await d.store.create_citizen(city, "fr")
        await d.store.add_contact(city, c.id, "email", "same@example.org", "confirmed", "t")
        sub, index = parse_subscription(
            {"area": "7510301"}, sid=new_id("sub"), citizen=c.id, catalogue=d.catalogues[city]
        )
        await d.store.add_subscription(city, sub, index)
        ids[city] = c.id
    for city in ("paris", "paris_centre"):
        a = Announcement.from_input(
            {
                "category": "roadworks",
                "target": {"areas": ["75103"]},
                "content": {"fr": {"title": "Travaux", "body": "Fermée."}},
            },
            id=f"evt_{city}",
            city=city,
            department="voirie",
            catalogue=d.catalogues[city],
        )
        await d.events.accept(a)
        await expand_announcement(a, d)
    reached = {
        (b["city"], r["citizen"])
        for t, _, v in published
        if t == "deliveries.email"
        for b in [json.loads(v)]
        for r in b["recipients"]
    }
    assert reached == {("paris", ids["paris"]), ("paris_centre", ids["paris_centre"])}


async def test_a_citys_own_rate_replaces_the_deployments(
    deps: tuple[Deps, list[tuple[str, bytes, bytes]]],  # noqa: F811 (test_handlers' fixture)
) -> None:
    d, _ = deps
    d.limiter.rates = {"sms": 100.0}
    await make_centre(d.store.redis)  # its document: 50 SMS a second
    assert await d.cities.ensure("paris_centre")
    assert d.limiter.rate("paris_centre", "sms") == 50.0
    assert d.limiter.rate("paris", "sms") == 100.0
    assert d.limiter.rate("paris_centre", "email") is None


async def test_a_record_of_a_city_made_since_the_worker_started_loads_the_city_where_used(
    deps: tuple[Deps, list[tuple[str, bytes, bytes]]],  # noqa: F811 (test_handlers' fixture)
) -> None:
    """The records decode without the city; the handlers load it to match (``Cities.require``):
    an announcement on city-events, a status change on request-status. A city that does not
    exist is a dead letter saying so."""
    d, published = deps
    await make_centre(d.store.redis)  # by another process: this worker has not loaded it
    elsewhere = Cities(d.store.redis)
    assert await elsewhere.ensure("paris_centre") and "paris_centre" not in d.cities
    catalogue = elsewhere.catalogues["paris_centre"]
    c = await d.store.create_citizen("paris_centre", "fr")
    await d.store.add_contact("paris_centre", c.id, "email", "c@example.org", "confirmed", "t")
    sub, index = parse_subscription(
        {"area": "7510301"}, sid=new_id("sub"), citizen=c.id, catalogue=catalogue
    )
    await d.store.add_subscription("paris_centre", sub, index)
    a = Announcement.from_input(
        {
            "category": "roadworks",
            "target": {"areas": ["75103"]},
            "content": {"fr": {"title": "Travaux", "body": "Fermée."}},
        },
        id="evt_centre",
        city="paris_centre",
        department="voirie",
        catalogue=catalogue,
    )
    await d.events.accept(a)
    assert await handle_city_event(a.to_wire(), d) == 1
    assert "paris_centre" in d.cities
    change = {
        "type": "RequestStatusChanged/1",
        "city": "atlantis",
        "department": "voirie",
        "service_request_id": "r-1",
        "status": "open",
        "updated_datetime": "2026-01-05T08:00:00+01:00",
    }
    for topic, raw, handler in (
        ("city-events", a.to_wire().replace(b'"paris_centre"', b'"atlantis"'), handle_city_event),
        ("request-status", json.dumps(change).encode(), handle_request_status),
    ):
        published.clear()
        await guarded(topic, raw, d, handler)
        [(_, _, letter)] = published
        assert json.loads(letter)["reason"] == "invalid city: unknown city 'atlantis'"
