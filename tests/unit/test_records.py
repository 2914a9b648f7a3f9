from __future__ import annotations

import dataclasses
import json

import pytest

from streams import announcements, text
from streams.announcements import CONTENT, Announcement, Cancellation, decode_city_event
from streams.records import DeliveryBatch, Recipient, dead_letter
from subscriptions import categories, geometry, targets
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
    b = Announcement.from_wire(a.to_wire())
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
        Announcement.from_wire(raw)


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


def record(**fields: object) -> bytes:
    """An ``AnnouncementPublished/1`` as a release writes it (``streams.records.dumps``), with
    ``fields`` changed: written by hand, as no rule of today's API would let it through."""
    d: dict[str, object] = {
        "type": "AnnouncementPublished/1",
        "id": "evt_old",
        "version": 1,
        "city": "paris",
        "department": "eau",
        "category": "water",
        "severity": "severe",
        "target": {"areas": ["75105"]},
        "content": {"fr": {"title": "Coupure", "body": "Demain.", "link": "", "instructions": ""}},
        "published_at": "2026-01-05T08:00:00Z",
        "expires_at": None,
    }
    return json.dumps({**d, **fields}, ensure_ascii=False, separators=(",", ":")).encode()


def test_a_record_decodes_from_its_own_fields_without_a_city_or_geometry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No catalogue and no shapely on decode: a city no process has loaded, codes no catalogue
    holds, a polygon and a circle nowhere near it, all taken as the record says."""

    def parsed(*args: object, **kwargs: object) -> None:
        raise AssertionError("a record's target is parsed on decode")

    for module, name in (
        (announcements, "parse_target"),
        (targets, "shape"),
        (geometry, "shape"),
        (geometry, "parse_polygon"),
    ):
        monkeypatch.setattr(module, name, parsed)
    polygon = {
        "type": "Polygon",
        "coordinates": [[[5.7, 45.1], [5.8, 45.1], [5.8, 45.2], [5.7, 45.1]]],
    }
    target = {
        "areas": ["38185", "nowhere"],
        "polygons": [polygon],
        "circles": [{"lon": 5.72, "lat": 45.18, "radius_m": 250.0}],
    }
    a = Announcement.from_wire(record(city="grenoble", target=target))
    assert (a.city, a.target.areas, a.target.polygons) == (
        "grenoble",
        ("38185", "nowhere"),
        (polygon,),
    )
    assert a.target.circles == ((5.72, 45.18, 250.0),)
    assert a.target.to_json() == target  # written again as it was read


@pytest.mark.parametrize(
    ("tighten", "fields"),
    [
        # a control character in the title (refused by the API since issue #18)
        (None, {"content": {"fr": {"title": "Crue\x00\r\nrouge", "body": "Évacuez\x07."}}}),
        # a category the city no longer offers
        (("categories", "CATEGORIES", ("roadworks",)), {}),
        # a shorter limit on titles (its one declaration)
        (
            ("announcements", "CONTENT", {**CONTENT, "title": text.field(3, one_line=True)}),
            {},
        ),
        # an expiry already past when it is read (the sender and the digests leave it out)
        (None, {"expires_at": "2026-01-05T09:00:00Z"}),
    ],
)
def test_a_record_a_tightened_input_rule_would_refuse_still_decodes(
    monkeypatch: pytest.MonkeyPatch,
    tighten: tuple[str, str, object] | None,
    fields: dict[str, object],
) -> None:
    if tighten is not None:
        module, name, value = tighten
        monkeypatch.setattr(
            {"categories": categories, "announcements": announcements}[module], name, value
        )
    raw = record(**fields)
    body = json.loads(raw)
    with pytest.raises(InvalidInput):  # where text enters, the rule applies
        Announcement.from_input(
            body, id="evt_new", city="paris", department="eau", catalogue=PARIS, now=1_800_000_000
        )
    a = Announcement.from_wire(raw)  # what was written before is read as it was written
    assert a.content["fr"].title == body["content"]["fr"]["title"]
    assert (a.category, a.published_at) == (body["category"], 1_767_600_000.0)


def test_updates_cancellations_and_drawn_targets_round_trip_on_the_wire() -> None:
    drawn = {
        **GOOD,
        "target": {
            "polygons": [
                {
                    "type": "Polygon",
                    "coordinates": [
                        [[2.34, 48.84], [2.36, 48.84], [2.36, 48.85], [2.34, 48.85], [2.34, 48.84]]
                    ],
                }
            ],
            "circles": [{"lon": 2.35, "lat": 48.85, "radius_m": 300}],
        },
    }
    for a in (make(drawn), dataclasses.replace(make(GOOD), version=3)):
        assert Announcement.from_wire(a.to_wire()) == a
    c = Cancellation("evt_1", "paris", "eau", 2, True, "Reporté." * 100, 1_800_000_000.0)
    assert decode_city_event(c.to_wire()) == c  # the reason's limit is the API's
    with pytest.raises(InvalidInput, match="expected an announcement"):
        Announcement.from_wire(c.to_wire())
