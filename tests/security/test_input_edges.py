"""Input at the edges of what the parsers take: numbers Python refuses to convert, ids from
paths that name other keys. Each is a 4xx naming what is wrong, never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.api.auth import create_department_key
from tests.command import run
from tests.stage import stored

Client = TestClient[Any, Any]
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "number",
    ["1" * 4301, "-" + "9" * 10_000, "1e400", "NaN", "-Infinity"],
    ids=["4301 digits", "10000 digits", "float overflow", "NaN", "-Infinity"],
)
async def test_a_number_json_cannot_hold_is_a_400_naming_the_body(
    api: Client, redis: Redis, number: str
) -> None:
    body = '{"email": "a@example.org", "language": "fr", "x": ' + number + "}"
    r = await api.post("/v1/cities/paris/citizens", data=body, headers=JSON)
    assert r.status == 400
    assert (await r.json())["error"]["field"] == "body"
    assert await redis.exists("n:{paris}:address:email:a@example.org") == 0  # nothing written


async def test_a_big_number_in_a_department_body_is_a_400(api: Client, redis: Redis) -> None:
    key = await create_department_key(redis, "paris", "voirie")
    body = '{"category": "roadworks", "target": {"point": {"lon": 2.3, "lat": 48.8}, ' + (
        '"radius_m": ' + "1" * 5000 + '}, "content": {"fr": {"title": "T", "body": "B"}}}'
    )
    r = await api.post(
        "/v1/cities/paris/announcements/preview",
        data=body,
        headers={**JSON, "Authorization": f"Bearer {key}"},
    )
    assert r.status == 400 and (await r.json())["error"]["field"] == "body"


async def test_an_event_id_naming_a_key_of_another_type_is_a_404(api: Client, redis: Redis) -> None:
    key = await create_department_key(redis, "paris", "voirie")
    await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})
    counts = next(k for k in await stored(redis, "n:{paris}:event:*:counts"))  # the confirmation's
    event = counts.removeprefix("n:{paris}:event:").removesuffix(":counts")
    for eid in (f"{event}:notifs", f"{event}:counts", event, "..", "a" * 4000, "evt_:x"):
        r = await api.get(
            f"/v1/cities/paris/announcements/{eid}", headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status == 404, (eid[:40], r.status, await r.text())
        assert "internal error" not in await r.text()


async def test_malformed_ids_in_citizen_paths_are_404_before_any_key_is_read(
    api: Client, redis: Redis
) -> None:
    c = await (await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})).json()
    me, h = (
        f"/v1/cities/paris/citizens/{c['citizen']['id']}",
        {"Authorization": f"Bearer {c['token']}"},
    )
    bad = ("x:contacts", "cp_..", "cit_" + "0" * 15 + "g", "a" * 2000)
    for pid in bad:
        r = await api.post(f"{me}/contacts/{pid}/confirm", json={"code": "123456"}, headers=h)
        assert r.status == 404, (pid, r.status)
    for sid in bad:
        r = await api.delete(f"{me}/subscriptions/{sid}", headers=h)
        assert r.status == 404, (sid, r.status)
    r = await api.get(f"/v1/cities/paris/citizens/{c['citizen']['id']}:consent", headers=h)
    assert r.status == 404
    r = await api.get("/v1/cities/Paris:x/areas")
    assert r.status == 404


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b"garbage"),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--",
        ),
        ("application/x-www-form-urlencoded; charset=nope", b"MessageSid=SM1&MessageStatus=sent"),
        ("application/x-www-form-urlencoded; charset=utf-16", b"\xff\xfeM\x00\x00\xd8"),
    ],
)
async def test_a_webhook_body_that_is_not_a_form_is_a_400(
    api: Client, content_type: str, body: bytes
) -> None:
    for path in ("/v1/cities/paris/twilio/status", "/v1/cities/paris/twilio/inbound"):
        r = await api.post(path, data=body, headers={"Content-Type": content_type})
        assert r.status == 400, (path, r.status, await r.text())
        assert (await r.json())["error"]["field"] in ("Content-Type", "body")


def test_a_city_document_with_a_huge_number_is_refused_by_the_cli(tmp_path: Path) -> None:
    doc = tmp_path / "city.json"
    doc.write_text('{"id": "lille", "name": "Lille", "x": ' + "7" * 5000 + "}")
    r = run("city", "create", str(doc))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not JSON: a number of 5000 digits" in r.stderr
