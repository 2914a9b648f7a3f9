from __future__ import annotations

import json

import pytest

from streams.announcements import Announcement
from streams.records import DeliveryBatch, Recipient, dead_letter
from subscriptions.areas import load_catalogue
from subscriptions.errors import InvalidInput

PARIS = load_catalogue("paris")
GOOD = {
    "category": "water",
    "severity": "severe",
    "target": {"areas": ["75105", "7510501"]},
    "content": {"fr": {"title": "Coupure d'eau", "body": "Demain de 8 h à 12 h."}},
    "expires_at": "2030-01-01T12:00:00+01:00",
}


def make(body: object) -> Announcement:
    return Announcement.from_input(
        body, id="evt_1", city="paris", department="eau", catalogue=PARIS, now=1_800_000_000
    )


def test_a_valid_announcement_round_trips_on_the_wire() -> None:
    a = make(GOOD)
    b = Announcement.from_wire(a.to_wire(), {"paris": PARIS})
    assert b == a
    assert json.loads(a.to_wire())["type"] == "AnnouncementPublished/1"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": None}, "target"),
        ({"target": {"areas": []}}, "target.areas"),
        ({"target": {"areas": ["75105", "nowhere"]}}, "target.areas[1]"),
        ({"category": "gossip"}, "category"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"content": {}}, "content"),
        ({"content": {"de": {"title": "t", "body": "b"}}}, "content.de"),
        ({"content": {"fr": {"title": "", "body": "b"}}}, "content.fr.title"),
        ({"content": {"fr": {"title": "t", "body": "b" * 5001}}}, "content.fr.body"),
        (
            {"content": {"fr": {"title": "t", "body": "b", "link": "javascript:alert(1)"}}},
            "content.fr.link",
        ),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": "2030-01-01T12:00:00"}, "expires_at"),
        ({"expires_at": "2020-01-01T12:00:00Z"}, "expires_at"),
    ],
)
def test_each_bad_field_is_named(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        make({**GOOD, **change})
    assert e.value.field == field


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe",
        b"[]",
        b'{"type": "Other/1"}',
        b'{"type": "AnnouncementPublished/1", "id": "e", "city": "lyon", "department": "d"}',
    ],
)
def test_records_that_do_not_decode_raise_invalid_input(raw: bytes) -> None:
    with pytest.raises(InvalidInput):
        Announcement.from_wire(raw, {"paris": PARIS})


def test_content_falls_back_to_french_then_to_what_exists() -> None:
    a = make({**GOOD, "content": {"en": {"title": "Water cut", "body": "b"}}})
    assert a.content_for("fr") == ("en", a.content["en"])
    assert make(GOOD).content_for("en")[0] == "fr"


def test_email_batches_round_trip_and_check_their_languages() -> None:
    batch = DeliveryBatch(
        "paris",
        "evt_1",
        "announcement",
        {"fr": {"subject": "s", "text": "t", "html": "h"}},
        (Recipient("ntf_1", "cit_1", "cp_1", "a@example.org", "fr", "u"),),
        None,
    )
    assert DeliveryBatch.from_wire(batch.to_wire()) == batch
    bad = json.loads(batch.to_wire())
    bad["recipients"][0]["language"] = "en"
    with pytest.raises(InvalidInput, match="no variant in 'en'"):
        DeliveryBatch.from_wire(json.dumps(bad).encode())


def test_a_dead_letter_keeps_binary_input_intact() -> None:
    d = json.loads(dead_letter("city-events", b"\xff\x00", "invalid record", partition=1, offset=7))
    assert d["raw"] is None and d["raw_base64"] == "/wA="
    assert (d["reason"], d["partition"], d["offset"]) == ("invalid record", 1, 7)
