"""CAP 1.2 import (notifier.cap): every file of tests/data/cap/ (see its SOURCES.md), the safety
of the parser (no DTD, no entity, nothing fetched or read), the checks, and the mapping to the
announcements API's body."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Polygon

from notifier.cap.mapping import CATEGORY_MAP, cap_to_announcement_input
from notifier.cap.parser import (
    CAP_CATEGORIES,
    MAX_XML_BYTES,
    CapAlert,
    CapCircle,
    CapGeocode,
    CapReference,
    parse_cap,
    parse_cap_collection,
)
from streams.announcements import Announcement
from streams.records import MAX_BODY, MAX_TITLE
from subscriptions.areas import load_catalogue
from subscriptions.categories import CATEGORIES
from subscriptions.errors import InvalidInput
from subscriptions.targets import parse_target
from tests.cap_documents import BILLION_LAUGHS

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data" / "cap"
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
SMHI = "real_smhi_alerts_wrapper_collection.xml"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


@dataclasses.dataclass(frozen=True)
class Valid:
    """What a file that imports must give (for SMHI: its first alert, and ``count`` of them)."""

    identifier: str
    msg_type: str
    severity: str  # ours, the highest of the infos
    languages: tuple[str, ...]  # of the info blocks, in order
    expires_at: str | None  # the earliest, as the API body carries it
    polygons: int  # parsed, over all infos and areas
    circles: int
    deliver: bool
    content: tuple[str, ...]  # the languages of the API body's content
    count: int = 1


VALID = {
    "cap12_spec_A1_homeland_security_advisory.xml": Valid(
        "43b080713727", "Alert", "severe", ("en-US",), None, 0, 0, True, ("en",)
    ),
    "cap12_spec_A2_severe_thunderstorm_polygon.xml": Valid(
        "KSTO1055887203", "Alert", "severe", ("en-US",), "2003-06-17T23:00:00Z", 1, 0, True,
        ("en",),
    ),
    "cap12_spec_A3_earthquake_update_circle.xml": Valid(
        "TRI13970876.2", "Update", "minor", ("en-US",), None, 0, 1, True, ("en",)
    ),
    "cap12_spec_A4_amber_alert_en_es.xml": Valid(
        "KAR0-0306112239-SW", "Alert", "severe", ("en-US", "es-US"), None, 0, 0, True, ("en",)
    ),
    # XSD-valid, breaks the Canadian profile (CAP-CP), which we do not enforce: it imports.
    "negative/NEGATIVE_canada_profile_errors.xml": Valid(
        "2.49.0.1.124.6bddbc91.2012", "Update", "minor", ("en-CA",), "2012-05-03T00:20:00Z",
        1, 0, True, ("en",),
    ),
    "real_athoc_cancel_no_info.xml": Valid(
        "1017033100951096-517189320160225203219800_Cancel", "Cancel", "unknown", (), None,
        0, 0, True, (),
    ),
    "real_australia_bom_thunderstorm.xml": Valid(
        "AusBoM-IDN21033-2019-01-16T03:15:58+00:00", "Alert", "unknown", ("en-AU",),
        "2019-01-16T06:15:52Z", 0, 0, True, ("en",),
    ),
    "real_australia_nsw_rfs_fire_circles.xml": Valid(
        "tag:www.rfs.nsw.gov.au2011-10-06:40184", "Alert", "minor", ("en-AU", "en-AU"),
        "2011-10-06T13:04:00Z", 0, 2, True, ("en",),
    ),
    "real_canada_ec_snowfall_xmldsig_signed_en_fr.xml": Valid(
        "2.49.0.1.124.f2c83f5f.2013", "Update", "moderate", ("en-CA", "fr-CA"),
        "2013-01-25T13:26:00Z", 4, 0, True, ("en", "fr"),
    ),
    "real_canada_ec_thunderstorm_update_en_fr.xml": Valid(
        "2.49.0.1.124.6bddbc91.2012", "Update", "minor", ("en-CA", "fr-CA"),
        "2012-05-03T00:20:00Z", 4, 0, True, ("en", "fr"),
    ),
    "real_canada_naad_weather_en_fr.xml": Valid(
        "urn:oid:2.49.0.1.124.3026064006.2019", "Alert", "minor", ("en-CA", "fr-CA"),
        "2019-07-13T01:59:29Z", 2, 0, True, ("en", "fr"),
    ),
    "real_iceland_imo_wind_is_en.xml": Valid(
        "is-IMO-2a4c2db8-07fd-4a0f-b372-9667280d46d1", "Alert", "moderate", ("is-IS", "en-US"),
        "2021-09-13T10:00:00Z", 2, 0, True, ("en",),
    ),
    "real_ipaws_cancel_no_info.xml": Valid(
        "AS-NV-58d33e3a-1f9a-4909-9d59-34e90b33b3e8", "Cancel", "unknown", (), None, 0, 0, True,
        (),
    ),
    "real_ipaws_local_area_emergency_polygon.xml": Valid(
        "402013233923688", "Alert", "extreme", ("en-US",), "2019-12-13T22:24:50Z", 1, 0, True,
        ("en",),
    ),
    "real_mexico_smn_tropical_cyclone_es.xml": Valid(
        "avisossmn-ciclontropical-4063", "Update", "unknown", ("es-419",),
        "2018-10-20T15:15:00Z", 1, 0, False, (),
    ),
    "real_noaa_wcatwc_tsunami_cancellation_circle.xml": Valid(
        "PAAQ-4-mg5a94", "Update", "unknown", ("en-US",), "2013-01-05T10:58:23Z", 0, 1, True,
        ("en",),
    ),
    "real_noaa_wcatwc_tsunami_warning.xml": Valid(
        "PAAQ-2-lqw6d6", "Update", "extreme", ("en-US",), "2011-09-02T12:36:50Z", 0, 0, True,
        ("en",),
    ),
    "real_nws_hurricane_warning_multi_polygon.xml": Valid(
        "NWS-IDP-PROD-4412298-3677414", "Update", "extreme", ("en-US",),
        "2020-08-26T17:15:00Z", 2, 0, True, ("en",),
    ),
    "real_philippines_pagasa_cyclone_status_test.xml": Valid(
        "103ff55e-b538-49a2-a94a-64470ddea2cc", "Alert", "minor", ("en-US",),
        "2014-11-03T19:57:28Z", 1, 0, False, ("en",),
    ),
    SMHI: Valid(
        "smhi-bpm-1552396920785", "Alert", "moderate", ("sv-SE",), "2020-03-11T13:22:00Z",
        0, 0, False, (), count=17,
    ),
    # Elements out of schema order and non-CAP <Type>/<Polygon> elements: a lenient import.
    "real_sweden_krisinformation_news_sv.xml": Valid(
        "11337sv", "Alert", "unknown", ("sv-SE",), None, 0, 0, False, ()
    ),
    "real_taiwan_wra_reservoir_zh.xml": Valid(
        "WRA_ReservoirWarn_201405142010", "Alert", "moderate", ("zh-tw",),
        "2014-05-14T13:10:00Z", 0, 0, False, (),
    ),
    "real_usgs_earthquake_iso8859-1_encoding.xml": Valid(
        "USGS-earthquakes-usB000D5T4.3947362.7.20121014T225304.360Z.0", "Alert", "unknown",
        ("en-US",), "2012-10-21T22:53:04Z", 0, 1, True, ("en",),
    ),
}  # fmt: skip

REFUSED = {
    "negative/NEGATIVE_missing_scope.xml": ("alert/scope", "required, missing"),
    "negative/NEGATIVE_wrong_namespace.xml": (
        "alert",
        f"namespace urn:oasis:names:tc:emergency:alerts:1.2 is not CAP 1.2 ({CAP12})",
    ),
    "negative/NEGATIVE_noaa_profile_errors_cap11.xml": (
        "alert",
        f"CAP 1.1 (namespace urn:oasis:names:tc:emergency:cap:1.1) is not supported, "
        f"only CAP 1.2 ({CAP12})",
    ),
    "real_nws_blizzard_warning_cap11.xml": ("alert", "CAP 1.1 (namespace"),
    "negative/NEGATIVE_xxe_external_entities_DO_NOT_RESOLVE.xml": (
        "xml",
        "DOCTYPE declarations are refused",
    ),
    "schema/CAP-v1.2.xsd": ("xml", "the root element is <schema>, not a CAP <alert>"),
}

EVERY_FILE = sorted(
    p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file() and p.suffix != ".md"
)


def test_every_file_of_the_folder_has_an_expectation() -> None:
    assert len(EVERY_FILE) == 29  # 28 CAP documents and the XSD
    assert set(EVERY_FILE) == set(VALID) | set(REFUSED)
    assert not set(VALID) & set(REFUSED)


def test_the_data_folder_says_where_its_files_come_from() -> None:
    sources = (DATA / "SOURCES.md").read_text()
    for name in ("willglynn/oasiscap", "kelvinn/capparselib", "google/cap-library"):
        assert name in sources
    for name in EVERY_FILE:
        assert name.split("/")[-1] in sources or name.startswith("cap12_spec_A"), name


@pytest.mark.parametrize("name", sorted(VALID))
def test_each_valid_file_imports_and_maps(name: str) -> None:
    want = VALID[name]
    alerts = parse_cap_collection(read(name))
    assert len(alerts) == want.count
    alert = alerts[0]
    if want.count == 1:
        assert parse_cap(read(name)) == alert
    assert alert.identifier == want.identifier
    assert alert.msg_type == want.msg_type
    assert alert.sent.tzinfo is not None
    assert tuple(i.language for i in alert.infos) == want.languages
    areas = [a for i in alert.infos for a in i.areas]
    assert sum(len(a.polygons) for a in areas) == want.polygons
    assert sum(len(a.circles) for a in areas) == want.circles
    for polygon in (p for a in areas for p in a.polygons):
        assert isinstance(polygon, Polygon)
        assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in polygon.exterior.coords)

    body = cap_to_announcement_input(alert)
    assert json.loads(json.dumps(body)) == body
    assert body["severity"] == want.severity
    assert body["category"] in CATEGORIES
    assert body["expires_at"] == want.expires_at
    assert body["deliver"] is want.deliver
    assert (body["reason"] is None) is want.deliver
    assert tuple(sorted(body["content"])) == want.content
    assert body["cap"]["identifier"] == want.identifier
    assert body["cap"]["msg_type"] == want.msg_type
    assert len(body["cap"]["references"]) == len(alert.references)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_negative_file_is_refused_with_a_clear_reason(name: str) -> None:
    field, reason = REFUSED[name]
    for parse in (parse_cap, parse_cap_collection):
        with pytest.raises(InvalidInput) as e:
            parse(read(name))
        assert e.value.field == field
        assert reason in e.value.reason


EXPIRED_ON_ARRIVAL = "real_noaa_wcatwc_tsunami_cancellation_circle.xml"


@pytest.mark.parametrize(
    "name", [n for n, v in VALID.items() if v.deliver and v.content and n != EXPIRED_ON_ARRIVAL]
)
def test_the_mapped_body_is_one_the_announcements_api_takes(name: str) -> None:
    alert = parse_cap(read(name))
    body = cap_to_announcement_input(alert)
    a = Announcement.from_input(
        {**body, "target": {"areas": ["75105"]}},  # geometry -> areas is the caller's step
        id="evt_cap",
        city="paris",
        department="cap",
        catalogue=load_catalogue("paris"),
        now=alert.sent.timestamp(),
    )
    assert set(a.content) == set(body["content"])
    assert a.severity == body["severity"]


def test_an_alert_that_expires_when_sent_is_left_to_the_api_to_refuse() -> None:
    alert = parse_cap(read(EXPIRED_ON_ARRIVAL))
    body = cap_to_announcement_input(alert)
    assert alert.infos[0].expires == alert.sent
    assert body["deliver"] is True  # no clock here: the API refuses a past expiry
    with pytest.raises(InvalidInput) as e:
        Announcement.from_input(
            {**body, "target": {"areas": ["75105"]}},
            id="evt_cap",
            city="paris",
            department="cap",
            catalogue=load_catalogue("paris"),
            now=alert.sent.timestamp(),
        )
    assert (e.value.field, e.value.reason) == ("expires_at", "is in the past")


# --- exact values from the files ---------------------------------------------------------------


def test_thunderstorm_polygon_is_lon_lat_and_closed() -> None:
    alert = parse_cap(read("cap12_spec_A2_severe_thunderstorm_polygon.xml"))
    area = alert.infos[0].areas[0]
    (polygon,) = area.polygons
    assert list(polygon.exterior.coords)[0] == (-120.14, 38.47)  # CAP wrote "38.47,-120.14"
    assert len(polygon.exterior.coords) == 5
    assert area.geocodes == [
        CapGeocode("SAME", "006109"),
        CapGeocode("SAME", "006009"),
        CapGeocode("SAME", "006003"),
    ]
    assert alert.infos[0].expires == datetime(2003, 6, 17, 16, tzinfo=timezone(timedelta(hours=-7)))
    target = cap_to_announcement_input(alert)["target"]
    (ring,) = target["polygons"][0]["coordinates"]
    assert target["polygons"][0]["type"] == "Polygon"
    assert ring[0] == ring[-1] == [-120.14, 38.47]
    assert target["geocodes"][0] == {"value_name": "SAME", "value": "006109"}


def test_earthquake_update_has_a_zero_radius_circle_and_its_reference() -> None:
    alert = parse_cap(read("cap12_spec_A3_earthquake_update_circle.xml"))
    assert alert.infos[0].areas[0].circles == [CapCircle(-115.5527, 32.9525, 0.0)]
    pdt = timezone(timedelta(hours=-7))
    assert alert.references == [
        CapReference(
            "trinet@caltech.edu", "TRI13970876.1", datetime(2003, 6, 11, 20, 30, tzinfo=pdt)
        )
    ]
    body = cap_to_announcement_input(alert)
    assert body["target"]["circles"] == [{"lon": -115.5527, "lat": 32.9525, "radius_m": 0.0}]
    assert body["cap"]["references"] == [
        {
            "sender": "trinet@caltech.edu",
            "identifier": "TRI13970876.1",
            "sent": "2003-06-11T20:30:00-07:00",
        }
    ]
    assert body["cap"]["sent"] == "2003-06-11T20:56:00-07:00"


def test_fire_circles_are_in_metres_and_fire_is_safety() -> None:
    alert = parse_cap(read("real_australia_nsw_rfs_fire_circles.xml"))
    assert alert.infos[0].categories == ["Fire", "Met"]
    assert alert.infos[0].areas[0].circles == [CapCircle(147.0598, -35.3888, 25_000.0)]
    body = cap_to_announcement_input(alert)
    assert body["category"] == "safety"
    # Two en-AU infos with the same text and circle: kept once each.
    assert body["target"]["circles"] == [{"lon": 147.0598, "lat": -35.3888, "radius_m": 25_000.0}]
    assert body["content"]["en"]["body"].count("LOCATION: 12 Cox Street, Yerong Creek") == 1
    assert "<br" not in body["content"]["en"]["body"]


def test_canada_naad_has_english_and_french() -> None:
    alert = parse_cap(read("real_canada_naad_weather_en_fr.xml"))
    body = cap_to_announcement_input(alert)
    assert body["content"]["en"]["title"] == "special weather statement in effect"
    assert body["content"]["fr"]["title"] == "bulletin météorologique spécial en vigueur"
    assert body["content"]["fr"]["link"] == "http://meteo.gc.ca/warnings/index_f.html?prov=nl"
    assert body["skipped_languages"] == []
    assert body["category"] == "weather"
    # The en and fr infos carry the same polygon and geocodes: the target has each once.
    assert len(body["target"]["polygons"]) == 1
    assert len(body["target"]["geocodes"]) == 10
    assert sum(len(a.geocodes) for i in alert.infos for a in i.areas) == 20


def test_other_languages_are_reported_not_silently_dropped() -> None:
    amber = cap_to_announcement_input(parse_cap(read("cap12_spec_A4_amber_alert_en_es.xml")))
    assert amber["skipped_languages"] == ["es-US"]
    assert amber["category"] == "safety"  # Rescue
    iceland = cap_to_announcement_input(parse_cap(read("real_iceland_imo_wind_is_en.xml")))
    assert iceland["skipped_languages"] == ["is-IS"]
    mexico = cap_to_announcement_input(parse_cap(read("real_mexico_smn_tropical_cyclone_es.xml")))
    assert mexico["skipped_languages"] == ["es-419"]
    assert mexico["content"] == {}
    assert mexico["deliver"] is False
    assert mexico["reason"] == "no info in French or English"


def test_iso_8859_1_document_reads_the_right_characters() -> None:
    raw = read("real_usgs_earthquake_iso8859-1_encoding.xml")
    assert "Usulután".encode("latin-1") in raw and "Usulután".encode() not in raw
    info = parse_cap(raw).infos[0]
    assert info.headline == "EQ 4.6 Usulután, Usulután, El Salvador - PRELIMINARY REPORT"
    assert info.areas[0].description.startswith("47 miles (76 km) SSW of Usulután, Usulután")
    assert info.onset == datetime(2012, 10, 14, 22, 40, 56, tzinfo=UTC)
    assert info.areas[0].circles == [CapCircle(-88.783, 12.747, 0.0)]


def test_xmldsig_signed_alert_parses_and_the_signature_is_not_verified() -> None:
    name = "real_canada_ec_snowfall_xmldsig_signed_en_fr.xml"
    assert b"<Signature" in read(name) or b"<ds:Signature" in read(name)
    alert = parse_cap(read(name))
    assert len(alert.references) == 9
    assert alert.references[0] == CapReference(
        "cap-pac@ec.gc.ca", "2.49.0.1.124.726d2331.2013", datetime(2013, 1, 23, 21, 31, tzinfo=UTC)
    )
    # Tampering with the signed text still parses: the signature is ignored, not checked.
    tampered = read(name).replace(b"2.49.0.1.124.f2c83f5f.2013", b"2.49.0.1.124.tampered.2013", 1)
    assert parse_cap(tampered).identifier == "2.49.0.1.124.tampered.2013"


def test_sweden_out_of_order_and_non_standard_elements_import_leniently() -> None:
    alert = parse_cap(read("real_sweden_krisinformation_news_sv.xml"))
    info = alert.infos[0]
    assert info.headline == "Viktigt meddelande till allmänheten i Gävle"  # before <senderName>
    assert [a.description for a in info.areas] == ["Gävleborgs län", "Gävle"]
    assert all(not a.polygons and not a.circles for a in info.areas)  # <Polygon> is not CAP
    body = cap_to_announcement_input(alert)
    assert body["category"] == "general"  # Other
    assert body["skipped_languages"] == ["sv-SE"]
    assert body["deliver"] is False


def test_philippines_test_status_is_flagged_never_delivered() -> None:
    alert = parse_cap(read("real_philippines_pagasa_cyclone_status_test.xml"))
    assert alert.status == "Test"
    body = cap_to_announcement_input(alert)
    assert body["deliver"] is False
    assert body["reason"] == "status Test: only Actual alerts reach citizens"
    assert body["cap"]["status"] == "Test"
    assert body["target"]["polygons"][0]["coordinates"][0][0] == [120.0, 21.0]


def test_smhi_wrapper_holds_17_alerts() -> None:
    alerts = parse_cap_collection(read(SMHI))
    assert len(alerts) == 17
    assert len({a.identifier for a in alerts}) == 17
    assert all(a.infos[0].language == "sv-SE" and a.msg_type == "Alert" for a in alerts)
    with pytest.raises(InvalidInput) as e:
        parse_cap(read(SMHI))
    assert e.value.field == "alerts"
    assert "use parse_cap_collection" in e.value.reason


@pytest.mark.parametrize("name", ["real_athoc_cancel_no_info.xml", "real_ipaws_cancel_no_info.xml"])
def test_a_cancel_without_info_still_maps(name: str) -> None:
    alert = parse_cap(read(name))
    assert alert.msg_type == "Cancel"
    assert alert.infos == []
    assert len(alert.references) == 1
    body = cap_to_announcement_input(alert)
    assert body["deliver"] is True  # applying it withdraws cap.references
    assert body["content"] == {}
    assert body["target"] == {"polygons": [], "circles": [], "geocodes": []}
    assert body["cap"]["msg_type"] == "Cancel"
    assert body["cap"]["references"][0]["identifier"] == alert.references[0].identifier


def test_athoc_cancel_reference() -> None:
    alert = parse_cap(read("real_athoc_cancel_no_info.xml"))
    pst = timezone(timedelta(hours=-8))
    assert alert.references == [
        CapReference(
            "AtHoc",
            "1017033100951096-517189320160225203219800",
            datetime(2016, 2, 25, 12, 32, 19, tzinfo=pst),
        )
    ]


def test_canada_profile_errors_imports_with_an_empty_references() -> None:
    alert = parse_cap(read("negative/NEGATIVE_canada_profile_errors.xml"))
    assert alert.msg_type == "Update"
    assert alert.references == []  # <references/>: CAP-CP wants some, CAP 1.2 allows none
    assert alert.sent == datetime(2012, 5, 2, 23, 21, 4, tzinfo=UTC)  # "-00:00"


def test_taiwan_utf8_bom_and_infra_maps_to_water() -> None:
    raw = read("real_taiwan_wra_reservoir_zh.xml")
    assert raw.startswith(b"\xef\xbb\xbf")
    alert = parse_cap(raw)
    assert alert.infos[0].event == "水庫洩洪"
    assert cap_to_announcement_input(alert)["category"] == "water"


def test_prefixed_cap_namespace_is_cap() -> None:
    assert b"<cap:alert" in read("real_australia_bom_thunderstorm.xml")
    alert = parse_cap(read("real_australia_bom_thunderstorm.xml"))
    assert len(alert.infos[0].areas[0].geocodes) == 7


def test_hurricane_has_two_polygons_in_one_area() -> None:
    alert = parse_cap(read("real_nws_hurricane_warning_multi_polygon.xml"))
    (area,) = alert.infos[0].areas
    assert [len(p.exterior.coords) for p in area.polygons][0] == 4
    assert list(area.polygons[0].exterior.coords)[0] == (-92.619, 30.094)
    body = cap_to_announcement_input(alert)
    assert len(body["target"]["polygons"]) == 2
    assert len(body["content"]["en"]["body"]) <= MAX_BODY


# --- safety: no DTD, no entity, nothing fetched or read ----------------------------------------

_recorded: list[tuple[str, str]] | None = None
_recording_thread: int | None = None  # other threads (a test server's) are not watched
_HOOKED: list[Any] = []
_WATCHED = ("open", "socket.", "urllib.", "http.", "os.", "subprocess.", "ftplib.")


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if (
        _recorded is not None
        and threading.get_ident() == _recording_thread
        and event.startswith(_WATCHED)
    ):
        _recorded.append((event, repr(args)[:200]))


@contextlib.contextmanager
def no_io() -> Iterator[None]:
    """Fails if anything opens a file or a socket, or starts a process, meanwhile (audit hooks
    see the interpreter's own I/O, whoever asks for it)."""
    global _recorded, _recording_thread
    if _audit not in _HOOKED:
        sys.addaudithook(_audit)  # cannot be removed; idle outside this block
        _HOOKED.append(_audit)
    _recorded, _recording_thread = [], threading.get_ident()
    try:
        yield
        assert _recorded == [], f"the parser did I/O: {_recorded}"
    finally:
        _recorded, _recording_thread = None, None


def test_the_io_guard_sees_io(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(AssertionError, match="the parser did I/O"), no_io():
        (tmp_path / "file").read_text()


def test_the_xxe_fixture_is_refused_without_any_io() -> None:
    raw = read("negative/NEGATIVE_xxe_external_entities_DO_NOT_RESOLVE.xml")
    with no_io(), pytest.raises(InvalidInput) as e:
        parse_cap(raw)
    assert e.value.field == "xml"
    assert e.value.reason == (
        "DOCTYPE declarations are refused: CAP needs no DTD, and entities could read files"
    )


def test_billion_laughs_is_refused() -> None:
    with no_io(), pytest.raises(InvalidInput) as e:
        parse_cap(BILLION_LAUGHS)
    assert e.value.field == "xml"
    assert "DOCTYPE declarations are refused" in e.value.reason
    assert "lollol" not in str(e.value)


def test_external_entities_fetch_nothing_and_read_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        documents = [
            f'<!DOCTYPE alert SYSTEM "{url}/cap.dtd"><alert xmlns="{CAP12}"/>',
            f'<!DOCTYPE alert [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
            f'<alert xmlns="{CAP12}"><identifier>&x;</identifier></alert>',
            f'<!DOCTYPE alert [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]><alert xmlns="{CAP12}"/>',
            f'<!DOCTYPE alert [<!ENTITY u SYSTEM "{url}/u" NDATA gif>]><alert xmlns="{CAP12}"/>',
        ]
        for doc in documents:
            with no_io(), pytest.raises(InvalidInput) as e:
                parse_cap_collection(doc.encode())
            assert e.value.field == "xml"
            assert "refused" in e.value.reason
            assert "TOP-SECRET" not in str(e.value)
        with pytest.raises(BlockingIOError):
            server.accept()  # a fetch would have left a connection here: loopback is synchronous


def test_an_undeclared_entity_is_not_well_formed() -> None:
    with no_io(), pytest.raises(InvalidInput) as e:
        parse_cap(f'<alert xmlns="{CAP12}"><identifier>&xxe;</identifier></alert>'.encode())
    assert e.value.field == "xml"
    assert e.value.reason.startswith("not well-formed XML: undefined entity (line 1, column")


def test_xinclude_and_stylesheets_are_never_acted_on() -> None:
    doc = MINIMAL.replace(
        b"<identifier>",
        b'<x xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd"/>'
        b"</x><identifier>",
    )
    doc = change(
        "<alert ", '<?xml-stylesheet type="text/xsl" href="file:///etc/passwd"?><alert ', doc
    )
    with no_io():
        assert parse_cap(doc).identifier == "id-1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not well-formed XML: no element found"),
        (b"not xml", "not well-formed XML: syntax error"),
        (b"<alert", "not well-formed XML"),
        (b"<feed/>", "the root element is <feed>, not a CAP <alert>"),
        (b" " * (MAX_XML_BYTES + 1), f"larger than {MAX_XML_BYTES} bytes"),
        ("<alert/>", "must be the document's bytes"),
    ],
)
def test_what_is_not_a_cap_document(raw: Any, reason: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_cap(raw)
    assert e.value.field == "xml"
    assert e.value.reason.startswith(reason)


# --- checks on a minimal alert, one change at a time -------------------------------------------

MINIMAL = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP12}">
  <identifier>id-1</identifier>
  <sender>city@example.org</sender>
  <sent>2030-01-01T10:00:00+01:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>fr-FR</language>
    <category>Infra</category>
    <event>Coupure d'eau</event>
    <urgency>Expected</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <expires>2030-01-02T10:00:00+01:00</expires>
    <headline>Coupure d'eau rue Mouffetard</headline>
    <description>Travaux sur le réseau.</description>
    <instruction>Prévoyez de l'eau.</instruction>
    <web>https://example.org/eau</web>
    <area>
      <areaDesc>Rue Mouffetard</areaDesc>
      <polygon>48.84,2.34 48.85,2.34 48.85,2.35 48.84,2.34</polygon>
      <circle>48.843,2.349 0.5</circle>
    </area>
  </info>
</alert>
""".encode()


def change(old: str, new: str, doc: bytes = MINIMAL) -> bytes:
    assert old.encode() in doc, old
    return doc.replace(old.encode(), new.encode(), 1)


def test_the_minimal_alert_parses_and_maps() -> None:
    alert = parse_cap(MINIMAL)
    info = alert.infos[0]
    assert info.areas[0].circles == [CapCircle(2.349, 48.843, 500.0)]
    assert list(info.areas[0].polygons[0].exterior.coords)[1] == (2.34, 48.85)
    body = cap_to_announcement_input(alert)
    assert body == {
        "category": "water",
        "severity": "moderate",
        "target": {
            "polygons": [
                {
                    "type": "Polygon",
                    "coordinates": [[[2.34, 48.84], [2.34, 48.85], [2.35, 48.85], [2.34, 48.84]]],
                }
            ],
            "circles": [{"lon": 2.349, "lat": 48.843, "radius_m": 500.0}],
            "geocodes": [],
        },
        "content": {
            "fr": {
                "title": "Coupure d'eau rue Mouffetard",
                "body": "Travaux sur le réseau.\n\nPrévoyez de l'eau.",
                "link": "https://example.org/eau",
            }
        },
        "skipped_languages": [],
        "expires_at": "2030-01-02T09:00:00Z",
        "deliver": True,
        "reason": None,
        "cap": {
            "identifier": "id-1",
            "sender": "city@example.org",
            "sent": "2030-01-01T10:00:00+01:00",
            "msg_type": "Alert",
            "references": [],
            "status": "Actual",
            "scope": "Public",
        },
    }


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("<identifier>id-1</identifier>", "", "alert/identifier", "required, missing"),
        ("<identifier>id-1</identifier>", "<identifier> </identifier>", "alert/identifier",
         "required, is empty"),
        ("<identifier>id-1</identifier>", "<identifier>id 1</identifier>", "alert/identifier",
         "must not contain spaces, commas, '<' or '&'"),
        ("<identifier>id-1</identifier>", "<identifier>id-1</identifier><identifier>b</identifier>",
         "alert/identifier", "appears 2 times, CAP allows one"),
        ("<sender>city@example.org</sender>", "", "alert/sender", "required, missing"),
        ("+01:00</sent>", "</sent>", "alert/sent", "has no UTC offset"),
        ("2030-01-01T10:00:00+01:00</sent>", "tomorrow</sent>", "alert/sent",
         "'tomorrow' is not a date-time like 2003-06-17T14:57:00-07:00"),
        ("<status>Actual</status>", "<status>Real</status>", "alert/status",
         "'Real' is not one of Actual, Exercise, System, Test, Draft"),
        ("<msgType>Alert</msgType>", "", "alert/msgType", "required, missing"),
        ("<msgType>Alert</msgType>", "<msgType>alert</msgType>", "alert/msgType",
         "'alert' is not one of Alert, Update, Cancel, Ack, Error"),
        ("<scope>Public</scope>", "<scope>Everyone</scope>", "alert/scope", "is not one of"),
        ("<scope>Public</scope>", "<scope>Public</scope><references>a,b</references>",
         "alert/references", "reference 1 'a,b' is not 'sender,identifier,sent'"),
        ("<category>Infra</category>", "", "alert/info[1]/category", "required, missing"),
        ("<category>Infra</category>", "<category>Water</category>",
         "alert/info[1]/category[1]", "'Water' is not one of Geo, Met,"),
        ("<event>Coupure d'eau</event>", "", "alert/info[1]/event", "required, missing"),
        ("<urgency>Expected</urgency>", "", "alert/info[1]/urgency", "required, missing"),
        ("<severity>Moderate</severity>", "<severity>High</severity>",
         "alert/info[1]/severity", "'High' is not one of Extreme, Severe, Moderate, Minor"),
        ("<certainty>Likely</certainty>", "<certainty>Very Likely</certainty>",
         "alert/info[1]/certainty", "'Very Likely' is not one of"),
        ("<expires>2030-01-02T10:00:00+01:00</expires>", "<expires>2030-01-02</expires>",
         "alert/info[1]/expires", "has no UTC offset"),
        ("<areaDesc>Rue Mouffetard</areaDesc>", "", "alert/info[1]/area[1]/areaDesc",
         "required, missing"),
        ("48.85,2.35 48.84,2.34</polygon>", "48.85,2.35 48.80,2.30</polygon>",
         "alert/info[1]/area[1]/polygon[1]", "is not closed"),
        ("<polygon>48.84,2.34 48.85,2.34 48.85,2.35 48.84,2.34",
         "<polygon>48.84,2.34 48.85,2.34 48.84,2.34", "alert/info[1]/area[1]/polygon[1]",
         "needs 4 or more points (the first repeated last), has 3"),
        ("<polygon>48.84,2.34 ", "<polygon>48.84;2.34 ", "alert/info[1]/area[1]/polygon[1]",
         "'48.84;2.34' is not a 'latitude,longitude' pair"),
        ("<polygon>48.84,2.34 48.85,2.34", "<polygon>48.84,2.34 98.85,2.34",
         "alert/info[1]/area[1]/polygon[1]", "latitude 98.85 is not within -90..90"),
        ("<circle>48.843,2.349 0.5</circle>", "<circle>48.843,2.349</circle>",
         "alert/info[1]/area[1]/circle[1]", "is not 'latitude,longitude radius_km'"),
        ("<circle>48.843,2.349 0.5</circle>", "<circle>2.349,248.843 1</circle>",
         "alert/info[1]/area[1]/circle[1]", "longitude 248.843 is not within -180..180"),
        ("<circle>48.843,2.349 0.5</circle>", "<circle>48.843,2.349 -1</circle>",
         "alert/info[1]/area[1]/circle[1]", "radius '-1' is not a number of kilometres >= 0"),
        ("</area>", "<geocode><valueName>INSEE</valueName></geocode></area>",
         "alert/info[1]/area[1]/geocode[1]/value", "required, missing"),
    ],
)  # fmt: skip
def test_the_first_problem_is_named_by_its_element_path(
    old: str, new: str, field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_cap(change(old, new))
    assert e.value.field == field
    assert e.value.reason.startswith(reason) or reason in e.value.reason


def test_a_second_info_is_named_by_its_index() -> None:
    doc = change("</info>", "</info><info><category>Met</category></info>")
    with pytest.raises(InvalidInput) as e:
        parse_cap(doc)
    assert e.value.field == "alert/info[2]/event"


@pytest.mark.parametrize(
    ("xmlns", "reason"),
    [
        ("urn:oasis:names:tc:emergency:cap:1.1", "CAP 1.1 (namespace"),
        ("http://www.incident.com/cap/1.0", "CAP 1.0 (namespace http://www.incident.com/cap/1.0)"),
        ("urn:oasis:names:tc:emergency:cap:1.3", "namespace urn:oasis:names:tc:emergency:cap:1.3"),
        ("", f'has no namespace; CAP 1.2 needs xmlns="{CAP12}"'),
    ],
)
def test_only_the_cap_1_2_namespace(xmlns: str, reason: str) -> None:
    doc = change(f'<alert xmlns="{CAP12}">', f'<alert xmlns="{xmlns}">' if xmlns else "<alert>")
    with pytest.raises(InvalidInput) as e:
        parse_cap(doc)
    assert (e.value.field, reason in e.value.reason) == ("alert", True)


def test_lenient_on_order_unknown_and_empty_elements() -> None:
    doc = change("<identifier>id-1</identifier>", "")
    doc = change("<scope>Public</scope>", "<scope>Public</scope><identifier>id-1</identifier>", doc)
    doc = change(
        "<areaDesc>Rue Mouffetard</areaDesc>",
        "<polygon/><circle> </circle><areaDesc>Rue Mouffetard</areaDesc><altitude>3</altitude>",
        doc,
    )
    doc = change("<info>", '<references/><note>x</note><other xmlns="urn:x"/><info>', doc)
    alert = parse_cap(doc)
    assert alert.identifier == "id-1"
    assert alert.references == []
    assert len(alert.infos[0].areas[0].polygons) == 1
    assert len(alert.infos[0].areas[0].circles) == 1


def test_defaults_language_to_en_us() -> None:
    alert = parse_cap(change("<language>fr-FR</language>", ""))
    assert alert.infos[0].language == "en-US"
    assert list(cap_to_announcement_input(alert)["content"]) == ["en"]


def test_collection_checks_its_children() -> None:
    inner = MINIMAL.split(b"?>", 1)[1]
    two = b"<alerts>" + inner + inner.replace(b"id-1", b"id-2") + b"</alerts>"
    assert [a.identifier for a in parse_cap_collection(two)] == ["id-1", "id-2"]
    bad = b"<alerts>" + inner + change("<scope>Public</scope>", "", inner) + b"</alerts>"
    with pytest.raises(InvalidInput) as e:
        parse_cap_collection(bad)
    assert e.value.field == "alerts/alert[2]/scope"
    with pytest.raises(InvalidInput) as e:
        parse_cap_collection(b"<alerts>" + inner + b"<feed/></alerts>")
    assert (e.value.field, e.value.reason) == (
        "alerts/alert[2]",
        "<feed> in a collection: only <alert>",
    )
    with pytest.raises(InvalidInput) as e:
        parse_cap_collection(f'<alerts xmlns="{CAP12}"/>'.encode())
    assert (e.value.field, e.value.reason) == ("alerts", "holds no alert")
    with pytest.raises(InvalidInput) as e:
        parse_cap_collection(b'<alerts xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>')
    assert e.value.field == "alerts" and "CAP 1.1" in e.value.reason
    cap11 = inner.replace(CAP12.encode(), b"urn:oasis:names:tc:emergency:cap:1.1")
    with pytest.raises(InvalidInput) as e:
        parse_cap_collection(b"<alerts>" + cap11 + b"</alerts>")
    assert e.value.field == "alerts/alert[1]" and "CAP 1.1" in e.value.reason


# --- mapping ------------------------------------------------------------------------------------


def test_every_cap_category_maps_to_one_of_ours() -> None:
    assert set(CATEGORY_MAP) == set(CAP_CATEGORIES)
    assert set(CATEGORY_MAP.values()) <= set(CATEGORIES)
    assert CATEGORY_MAP["Infra"] == "water"
    assert {c for c, ours in CATEGORY_MAP.items() if ours == "safety"} == {
        "Safety", "Security", "Rescue", "CBRNE", "Fire", "Health"
    }  # fmt: skip


@pytest.mark.parametrize("status", ["Exercise", "System", "Test", "Draft"])
def test_statuses_other_than_actual_never_reach_citizens(status: str) -> None:
    body = cap_to_announcement_input(parse_cap(change("Actual", status)))
    assert body["deliver"] is False
    assert body["reason"] == f"status {status}: only Actual alerts reach citizens"
    assert body["content"]  # still mapped, for the console


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("<scope>Public</scope>", "<scope>Restricted</scope>", "scope Restricted: only Public"),
        ("<msgType>Alert</msgType>", "<msgType>Ack</msgType>", "msgType Ack: a message between"),
        ("<msgType>Alert</msgType>", "<msgType>Error</msgType>", "msgType Error: a message"),
        ("<language>fr-FR</language>", "<language>de-DE</language>", "no info in French or"),
    ],
)
def test_other_reasons_not_to_deliver(old: str, new: str, reason: str) -> None:
    body = cap_to_announcement_input(parse_cap(change(old, new)))
    assert body["deliver"] is False
    assert body["reason"].startswith(reason)


def test_language_tags_fold_to_two_letters() -> None:
    tags = ["fr-CA", "fr-FR", "FR", "en-US", "en-CA", "en-GB", "es-US"]
    info = MINIMAL.split(b"<info>")[1].split(b"</info>")[0].decode()
    infos = "".join(f"<info>{info.replace('fr-FR', tag)}</info>" for tag in tags)
    doc = MINIMAL.split(b"<info>")[0] + infos.encode() + b"</alert>"
    body = cap_to_announcement_input(parse_cap(doc))
    assert sorted(body["content"]) == ["en", "fr"]
    assert body["skipped_languages"] == ["es-US"]
    assert body["content"]["fr"]["body"] == "Travaux sur le réseau.\n\nPrévoyez de l'eau."


def test_severity_is_the_highest_and_expiry_the_earliest() -> None:
    second = (
        "</info><info><language>en-CA</language><category>Met</category><event>Storm</event>"
        "<urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty>"
        "<expires>2030-01-01T12:00:00-00:00</expires></info>"
    )
    body = cap_to_announcement_input(parse_cap(change("</info>", second)))
    assert body["severity"] == "extreme"
    assert body["expires_at"] == "2030-01-01T12:00:00Z"
    assert body["category"] == "water"  # the first info's first category
    assert body["content"]["en"] == {"title": "Storm", "body": "Storm", "link": ""}


def test_the_target_is_one_the_api_reads() -> None:
    paris = load_catalogue("paris")
    target = parse_target(cap_to_announcement_input(parse_cap(MINIMAL))["target"], paris)
    assert target.circles == ((2.349, 48.843, 500.0),)
    assert target.polygons[0]["coordinates"][0][0] == [2.34, 48.84]
    assert target.area_names(paris)


def test_long_texts_are_cut_to_the_api_limits_and_bad_links_dropped() -> None:
    doc = change(
        "<headline>Coupure d'eau rue Mouffetard</headline>", f"<headline>{'H' * 300}</headline>"
    )
    doc = change("Travaux sur le réseau.", "x" * 6000, doc)
    doc = change("https://example.org/eau", "www.example.org/eau", doc)
    content = cap_to_announcement_input(parse_cap(doc))["content"]["fr"]
    assert len(content["title"]) == MAX_TITLE and content["title"].endswith("…")
    assert len(content["body"]) == MAX_BODY and content["body"].endswith("…")
    assert content["link"] == ""


def test_dataclasses_hold_what_the_brief_names() -> None:
    alert = parse_cap(read("real_canada_naad_weather_en_fr.xml"))
    assert isinstance(alert, CapAlert)
    names = {f.name for f in dataclasses.fields(alert)}
    assert {"identifier", "sender", "sent", "status", "msg_type", "references", "infos"} <= names
    info = alert.infos[1]
    assert (info.language, info.categories, info.urgency, info.certainty) == (
        "fr-CA", ["Met"], "Future", "Possible"
    )  # fmt: skip
    assert info.effective is not None and info.effective.tzinfo is not None


def test_the_module_imports_nothing_of_notifier_but_its_errors() -> None:
    tree = ast.parse((ROOT / "notifier" / "cap" / "parser.py").read_text())
    modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    ours = {m for m in modules if m.split(".")[0] in ("notifier", "channels", "templates")}
    assert ours <= {"notifier.errors"}
    # and no parsing entry point that would take a DTD: only expat, with our handlers
    source = (ROOT / "notifier" / "cap" / "parser.py").read_text()
    for call in ("ET.fromstring", "ET.parse", "ET.XMLParser", "minidom", "xml.sax", "lxml"):
        assert call not in source
