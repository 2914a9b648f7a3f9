"""The service request routes against real Redis and a real Kafka producer (no worker)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from notifier.api.auth import create_department_key
from notifier.api.keys import DEPS
from notifier.settings import Settings
from streams.delivery.requests import handle_request_status
from streams.request_records import StatusChange
from subscriptions.store import key
from tests.stage import stored

Client = TestClient[Any, Any]
FILED = {
    "service_request_id": "14-00684314",
    "service_code": "4fd3b656e750846c53000004",
    "service_name": "Nid-de-poule",
    "agency_responsible": "Section territoriale de voirie",
    "requested_datetime": "2024-11-02T09:15:00+01:00",
    "updated_datetime": "2024-11-02T09:15:00+01:00",
    "address": "12 rue Monge, 75005 Paris",
    "lat": 48.8462,
    "long": 2.3470,
    "email": "Requester@Example.org",
    "language": "fr",
}


@pytest.fixture
def client(api: Client) -> Client:
    """The API of tests/conftest.py (real Redis, real Kafka producer)."""
    return api


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def error_of(r: Any) -> tuple[int, str | None, str]:
    body = await r.json()
    return r.status, body["error"]["field"], body["error"]["reason"]


async def file(client: Client, key_: str, **changes: object) -> Any:
    body = {k: v for k, v in {**FILED, **changes}.items() if v is not None}
    return await client.post("/v1/cities/paris/requests", json=body, headers=auth(key_))


async def test_filing_with_a_new_address_subscribes_the_requester_pending_opt_in(
    client: Client, redis: Redis
) -> None:
    voirie = await create_department_key(redis, "paris", "voirie")
    r = await file(client, voirie)
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body == {
        "service_request_id": "14-00684314",
        "status": "open",
        "href": "/v1/cities/paris/requests/14-00684314",
        "requester": {"subscribed": True, "contacts": [{"channel": "email", "status": "pending"}]},
    }
    [sid] = await redis.smembers(key("paris", "idx", "request", "14-00684314"))
    sub = await redis.hgetall(key("paris", "sub", sid))
    assert (sub["kind"], sub["request"], sub["channels"]) == ("request", "14-00684314", "[]")
    cp = await client.app[DEPS].store.contact_by_address("paris", "email", "requester@example.org")
    assert cp is not None and cp.citizen == sub["citizen"] and cp.address == "Requester@example.org"
    consent = await client.app[DEPS].store.consent_log("paris", cp.citizen)
    assert [(c["change"], c["how"]) for c in consent] == [
        ("pending", "service request 14-00684314")
    ]
    # the confirmation request is on its way (the worker would send it)
    queued = await stored(redis, key("paris", "event", f"confirmation-{cp.id}-*", "counts"))
    assert len(queued) == 1

    r = await file(client, voirie)
    assert await error_of(r) == (409, "service_request_id", "14-00684314 is already filed")


async def test_filing_finds_a_known_citizen_by_address(client: Client, redis: Redis) -> None:
    r = await client.post(
        "/v1/cities/paris/citizens", json={"email": "requester@example.org", "language": "en"}
    )
    citizen = (await r.json())["citizen"]["id"]
    store = client.app[DEPS].store
    cp = await store.contact_by_address("paris", "email", "requester@example.org")
    assert cp is not None
    await store.set_contact_status("paris", cp.id, "confirmed", "test")
    voirie = await create_department_key(redis, "paris", "voirie")
    r = await file(client, voirie, email="REQUESTER@example.org", language="fr")
    body = await r.json()
    assert body["requester"]["contacts"] == [{"channel": "email", "status": "confirmed"}]
    subs = await store.subscriptions_of("paris", citizen)
    assert [(s.kind, s.request) for s in subs] == [("request", "14-00684314")]
    assert (await store.citizen("paris", citizen)).language == "en"  # theirs, unchanged
    assert await redis.hget(key("paris", "request", "14-00684314"), "requester") == citizen


async def test_a_request_filed_without_a_contact_has_no_requester(
    client: Client, redis: Redis
) -> None:
    voirie = await create_department_key(redis, "paris", "voirie")
    r = await file(client, voirie, email=None, service_request_id=None, status="acknowledged")
    body = await r.json()
    assert r.status == 201 and body["requester"] == {"subscribed": False, "contacts": []}
    assert body["service_request_id"].startswith("req_") and body["status"] == "acknowledged"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "fixed"}, "status"),
        ({"service_code": None}, "service_code"),
        ({"service_request_id": "14/1"}, "service_request_id"),
        ({"lat": "north"}, "lat"),
        ({"long": None}, "long"),
        ({"requested_datetime": "yesterday"}, "requested_datetime"),
        ({"email": "not an address"}, "email"),
        ({"phone": "06 12 34 56 78"}, "phone"),  # SMS is not offered by this deployment
        ({"language": "de"}, "language"),
        ({"status_notes": "x" * 1001}, "status_notes"),
    ],
)
async def test_a_malformed_filing_names_the_field(
    client: Client, redis: Redis, changes: dict[str, object], field: str
) -> None:
    voirie = await create_department_key(redis, "paris", "voirie")
    status, f, _ = await error_of(await file(client, voirie, **changes))
    assert (status, f) == (422, field)
    assert await stored(redis, key("paris", "request", "*")) == []  # nothing kept


async def test_a_department_cannot_see_or_change_another_departments_request(
    client: Client, redis: Redis
) -> None:
    voirie = await create_department_key(redis, "paris", "voirie")
    proprete = await create_department_key(redis, "paris", "proprete")
    assert (await file(client, voirie)).status == 201
    href = "/v1/cities/paris/requests/14-00684314"
    change = {"status": "in_progress", "updated_datetime": "2024-11-03T08:00:00+01:00"}
    for r in (
        await client.post(f"{href}/status", json=change, headers=auth(proprete)),
        await client.get(href, headers=auth(proprete)),
    ):
        assert await error_of(r) == (404, None, "no service request 14-00684314")
    assert (await client.get(href, headers=auth("nk_wrong"))).status == 401
    r = await client.post(f"{href}/status", json=change, headers=auth(voirie))
    assert r.status == 202, await r.text()


async def test_status_changes_go_to_the_topic_in_order_and_stale_ones_are_refused(
    client: Client, redis: Redis, settings: Settings
) -> None:
    voirie = await create_department_key(redis, "paris", "voirie")
    await file(client, voirie)
    url = "/v1/cities/paris/requests/14-00684314/status"
    later = {
        "status": "scheduled",
        "status_notes": "Intervention prévue le 5 novembre.",
        "updated_datetime": "2024-11-03T08:00:00+01:00",
    }
    r = await client.post(url, json=later, headers=auth(voirie))
    assert r.status == 202 and (await r.json())["status"] == "scheduled"
    same_as_filed = {"status": "open", "updated_datetime": "2024-11-02T09:15:00+01:00"}
    r = await client.post(url, json=same_as_filed, headers=auth(voirie))
    assert r.status == 200  # a retry of what is applied: nothing to do
    older = {"status": "in_progress", "updated_datetime": "2024-11-01T09:15:00+01:00"}
    status, field, _ = await error_of(await client.post(url, json=older, headers=auth(voirie)))
    assert (status, field) == (409, "updated_datetime")
    status, field, _ = await error_of(
        await client.post(url, json={"status": "mended"}, headers=auth(voirie))
    )
    assert (status, field) == (422, "status")

    consumer = AIOKafkaConsumer(
        settings.topic_prefix + "request-status",
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        got = await consumer.getmany(timeout_ms=10_000, max_records=10)
        records = [(m.key, m.value) for ms in got.values() for m in ms]
    finally:
        await consumer.stop()
    [(k, raw)] = records
    change = StatusChange.from_wire(raw)
    assert k == b"14-00684314"
    assert (change.department, change.status, change.status_notes) == (
        "voirie",
        "scheduled",
        "Intervention prévue le 5 novembre.",
    )


async def test_the_department_reads_the_request_its_history_and_deliveries(
    client: Client, redis: Redis
) -> None:
    deps = client.app[DEPS]
    voirie = await create_department_key(redis, "paris", "voirie")
    await file(client, voirie, email="alice@example.org")
    cp = await deps.store.contact_by_address("paris", "email", "alice@example.org")
    assert cp is not None
    await deps.store.set_contact_status("paris", cp.id, "confirmed", "test")
    record = {
        "type": "RequestStatusChanged/1",
        "city": "paris",
        "department": "voirie",
        "service_request_id": "14-00684314",
        "status": "closed",
        "status_notes": "Rebouché.",
        "updated_datetime": "2024-11-04T16:30:00+01:00",
    }
    assert await handle_request_status(json.dumps(record).encode(), deps) == 1
    r = await client.get("/v1/cities/paris/requests/14-00684314", headers=auth(voirie))
    body = await r.json()
    assert body == {
        "service_request_id": "14-00684314",
        "department": "voirie",
        "service_code": "4fd3b656e750846c53000004",
        "service_name": "Nid-de-poule",
        "agency_responsible": "Section territoriale de voirie",
        "requested_datetime": "2024-11-02T09:15:00+01:00",
        "address": "12 rue Monge, 75005 Paris",
        "lat": 48.8462,
        "long": 2.347,
        "status": "closed",
        "open311_status": "closed",
        "status_notes": "Rebouché.",
        "updated_datetime": "2024-11-04T16:30:00+01:00",
        "requester_subscribed": True,
        "followers": 1,
        "history": [
            {
                "status": "open",
                "status_notes": "",
                "updated_datetime": "2024-11-02T09:15:00+01:00",
                "deliveries": {},
            },
            {
                "status": "closed",
                "status_notes": "Rebouché.",
                "updated_datetime": "2024-11-04T16:30:00+01:00",
                "deliveries": {"email": {"queued": 1}},
            },
        ],
        "deliveries": {"email": {"queued": 1}},
    }


async def test_a_status_change_the_event_log_cannot_take_is_a_503_to_send_again(
    client: Client, redis: Redis, settings: Settings
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from notifier.api.app import create_api
    from notifier.wiring import build_services

    voirie = await create_department_key(redis, "paris", "voirie")
    await file(client, voirie)

    async def log_away(topic: str, key: bytes, value: bytes) -> None:
        raise ConnectionError("the broker is unreachable")

    app = create_api(settings, build_services(settings, redis, log_away))
    async with TestClient(TestServer(app)) as away:
        change = {"status": "in_progress", "updated_datetime": "2024-11-03T08:00:00+01:00"}
        url = "/v1/cities/paris/requests/14-00684314/status"
        r = await away.post(url, json=change, headers=auth(voirie))
        assert r.headers["Retry-After"] == "5"
        assert await error_of(r) == (
            503,
            None,
            "the event log is unavailable; send the same change again",
        )
    r = await client.post(url, json=change, headers=auth(voirie))  # the log is back
    assert r.status == 202
