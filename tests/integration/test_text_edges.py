"""Titles and texts normalised where they enter, by one rule (``streams.text``, issue #18): the
JSON API refuses a control character naming the field and takes a line break in a title; the
feeds (CAP, Open311, bulk import) are normalised and never refused for such characters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from notifier.api.app import create_api
from notifier.api.auth import create_department_key
from notifier.bulk_import.rows import parse_row
from notifier.settings import Secret, Settings
from notifier.wiring import build_services
from streams import text
from streams.request_records import StatusChange
from subscriptions.areas import load_catalogue
from tests.cap_documents import paris_alert

PARIS = load_catalogue("paris")
Published = list[tuple[str, bytes, bytes]]


def test_a_line_has_its_whitespace_runs_made_one_space_and_no_control() -> None:
    assert text.line(" Crue de la Seine\r\n  niveau\trouge\u2028\x85 ") == (
        "Crue de la Seine niveau rouge"
    )
    assert text.line("A\x00B\x1b[31m\x7fC\x9b\ud800") == "AB[31mC"
    # letters, marks, emoji, right-to-left text and direction marks are kept as written
    kept = "e\u0301 👩\u200d👩\u200d👧 שלום \u200f 𝔘"
    assert text.line(kept) == kept


def test_a_text_keeps_its_lines_and_tabs_and_loses_the_other_controls() -> None:
    assert text.paragraphs("Ligne 1\r\nLigne 2\rLigne 3\x85Ligne 4\u2028\tfin\x00") == (
        "Ligne 1\nLigne 2\nLigne 3\nLigne 4\n\tfin"
    )
    assert text.paragraphs("mot\x0bmot\x0cmot\x1fmot") == "mot mot mot mot"  # never glued


def test_the_api_refuses_a_control_character_only() -> None:
    assert text.control("Crue\r\n\tde la Seine\u2028") is None  # whitespace is normalised
    assert text.control("Crue\x00") == "U+0000"
    assert text.control("Crue\ud83d") == "U+D83D"  # a lone surrogate


@pytest.fixture
async def client(redis: Redis) -> AsyncIterator[tuple[TestClient[Any, Any], Published, str]]:
    published: Published = []

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        published.append((topic, key, value))

    s = Settings(secret_key=Secret("k" * 48), public_url="https://alerts.example")
    key = await create_department_key(redis, "paris", "voirie")
    async with TestClient(TestServer(create_api(s, build_services(s, redis, publish)))) as c:
        yield c, published, key


def announcement(title: str, body: str = "Rue fermée.") -> dict[str, Any]:
    return {
        "category": "roadworks",
        "target": {"areas": ["75105"]},
        "content": {"fr": {"title": title, "body": body}},
    }


async def post(c: TestClient[Any, Any], key: str, raw: bytes) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    r = await c.post("/v1/cities/paris/announcements", data=raw, headers=headers)
    return r.status, await r.json()


async def test_the_api_takes_a_line_break_in_a_title_on_one_line(
    client: tuple[TestClient[Any, Any], Published, str],
) -> None:
    c, published, key = client
    body = announcement(
        "Crue de la Seine\r\n  niveau\trouge", "Évacuez.\r\nLes quais\tsont fermés."
    )
    status, _ = await post(c, key, json.dumps(body).encode())
    assert status == 202
    [(_, _, raw)] = published
    content = json.loads(raw)["content"]["fr"]
    assert content["title"] == "Crue de la Seine niveau rouge"
    assert content["body"] == "Évacuez.\nLes quais\tsont fermés."


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (json.dumps(announcement("Crue\x00")).encode(), "content.fr.title"),
        (json.dumps(announcement("Crue", "Évacuez\x1b[31m")).encode(), "content.fr.body"),
        # a lone surrogate, as JSON may escape one: before, the record could not be encoded
        # and the API answered 500
        (json.dumps(announcement("Crue \ud83d")).encode(), "content.fr.title"),
    ],
)
async def test_the_api_refuses_a_control_character_naming_the_field(
    client: tuple[TestClient[Any, Any], Published, str], raw: bytes, field: str
) -> None:
    c, published, key = client
    status, answer = await post(c, key, raw)
    assert (status, answer["error"]["field"]) == (422, field)
    assert "control character" in answer["error"]["reason"] and published == []


async def test_a_cap_headline_is_normalised_never_refused(
    client: tuple[TestClient[Any, Any], Published, str],
) -> None:
    c, published, key = client
    xml = paris_alert("crue-1").replace(
        b"Crue de la Seine : quais ferm",
        "Crue\x85de la\x80 Seine\r\n\t:\u2028quais ferm".encode(),
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cap+xml"}
    r = await c.post("/v1/cities/paris/cap", data=xml, headers=headers)
    assert r.status == 202
    [result] = (await r.json())["alerts"]
    assert result["delivered"] is True, result
    [(_, _, raw)] = published
    assert json.loads(raw)["content"]["fr"]["title"] == "Crue de la Seine : quais fermés"


async def test_a_cap_info_whose_headline_and_event_hold_no_text_has_a_title(
    client: tuple[TestClient[Any, Any], Published, str],
) -> None:
    c, published, key = client
    xml = paris_alert("crue-2").replace(
        b"<headline>Crue de la Seine : quais ferm\xc3\xa9s</headline>", b""
    )
    xml = xml.replace(b"<event>Crue de la Seine</event>", "<event>\x80\x9f</event>".encode())
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cap+xml"}
    r = await c.post("/v1/cities/paris/cap", data=xml, headers=headers)
    [result] = (await r.json())["alerts"]
    assert result["delivered"] is True, result
    [(_, _, raw)] = published
    assert json.loads(raw)["content"]["fr"]["title"] == "Alerte"


async def test_a_cap_event_is_a_title_without_the_producers_layout(
    client: tuple[TestClient[Any, Any], Published, str],
) -> None:
    """Found by the property tests: without a headline, the event was the title as written,
    its <br> shown to the citizen."""
    c, published, key = client
    xml = paris_alert("crue-3").replace(
        b"<headline>Crue de la Seine : quais ferm\xc3\xa9s</headline>", b""
    )
    xml = xml.replace(
        b"<event>Crue de la Seine</event>", b"<event>Crue&lt;br/&gt;de la Seine</event>"
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cap+xml"}
    r = await c.post("/v1/cities/paris/cap", data=xml, headers=headers)
    [result] = (await r.json())["alerts"]
    assert result["delivered"] is True, result
    [(_, _, raw)] = published
    assert json.loads(raw)["content"]["fr"]["title"] == "Crue de la Seine"


def test_an_open311_change_is_normalised_never_refused_for_its_text() -> None:
    record = {
        "type": "RequestStatusChanged/1",
        "city": "paris",
        "department": "voirie",
        "service_request_id": "req-1",
        "status": "in_progress",
        "status_notes": "Intervention\x00 prévue\r\nle 3 mars.\x07",
        "service_name": "Nids\r\nde poule\t",
        "updated_datetime": datetime.now(UTC).isoformat(),
    }
    change = StatusChange.from_wire(json.dumps(record).encode())
    assert change.status_notes == "Intervention prévue\nle 3 mars."
    assert change.info.service_name == "Nids de poule"


def test_a_bulk_import_consent_source_is_normalised_never_refused() -> None:
    header = ["contact", "area", "consent_date", "consent_source"]
    parsed = parse_row(
        2,
        header,
        ["a@example.org", "75105", "2024-01-02", "Ancien\tportail\r\n de la\x00 mairie"],
        catalogue=PARIS,
        enabled=("email",),
        today=datetime.now(UTC).date(),
    )
    assert parsed.rejections == [] and parsed.row is not None
    assert parsed.row.consent == "import from Ancien portail de la mairie consent given 2024-01-02"
