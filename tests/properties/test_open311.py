"""Service request status changes, from the back office (Open311): through the API's routes,
or written straight to ``request-status`` as a back office does. Whatever the notes, service
name, address and description hold, the change is never refused for whitespace or control
characters (the API may refuse a text longer than its field, naming the field), and the
followers are told on email, SMS and web push with the text recognisable."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from hypothesis import event, given, note
from hypothesis import strategies as st

from notifier.api.http import MAX_BODY
from streams.request_records import MAX_NOTES, STATUS_CHANGED, TEXT_FIELDS
from tests.properties.messages import one_on_each_channel
from tests.properties.stage import Stage, examples
from tests.properties.texts import as_json_reads_it, fields, in_sms, one_line, paragraphs, truncated

RID = "req-1"
SURROGATE = re.compile("[\ud800-\udfff]")

# a failing example of 10,000-character words is reported whatever the size of its repr
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def encoded(body: dict[str, Any]) -> bytes:
    """UTF-8 JSON, lone surrogates escaped (no UTF-8 has them), as a producer writes it."""
    text = json.dumps(body, ensure_ascii=False)
    return SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def too_long(texts: dict[str, str]) -> set[str]:
    """The fields longer than the API takes (as given, as its schema says): what it may name
    in a 4xx, a length limit, never a rule about whitespace or control characters."""
    limits = {**TEXT_FIELDS, "status_notes": MAX_NOTES}
    return {n for n, t in texts.items() if len(t) > limits[n]}


@examples(250)
@given(
    via=st.sampled_from(["api", "topic"]),
    notes=fields(limit=MAX_NOTES),
    service_name=fields(limit=TEXT_FIELDS["service_name"]),
    address=fields(limit=TEXT_FIELDS["address"]),
    description=fields(limit=TEXT_FIELDS["description"]),
)
def test_never_refused_for_its_text_and_handed_over_on_every_channel(
    stage: Stage, via: str, notes: str, service_name: str, address: str, description: str
) -> None:
    texts = {
        "status_notes": notes,
        "service_name": service_name,
        "address": address,
        "description": description,
    }
    note(ascii(texts))
    texts = {name: as_json_reads_it(t) for name, t in texts.items()}
    stage.run(_change_and_check(stage, via, texts))


def in_sms_cut(notes: str, sms: str) -> bool:
    """The SMS carries the notes whole, or their start cut with "..." to fit its 2 segments
    (at a word, else within the first): always something when the first word is short."""
    if notes in sms:
        return True
    cuts = [notes[:k].rstrip(" ,;:.") for k in range(1, len(notes))]
    if any(c and f" {c}..." in sms for c in cuts):
        return True
    return len(notes.split()[0]) > 20  # too long for the room the SMS has left: cut to nothing


async def _refused(r: ClientResponse, may: set[str], raw: bytes) -> bool:
    """True when the API refused, naming a field it may refuse (or the body, over the size
    the API takes); anything else fails."""
    if len(raw) > MAX_BODY:
        may = {*may, "body"}
    if r.status in (201, 202):
        assert not may, f"accepted, though {may} are too long"
        return False
    assert 400 <= r.status < 500, (r.status, await r.text())
    assert (await r.json())["error"]["field"] in may, await r.text()
    event(f"refused: {r.status}")
    return True


async def _change_and_check(stage: Stage, via: str, texts: dict[str, str]) -> None:
    key = await stage.reset()
    await stage.follow(RID)
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    filed = {"service_request_id": RID, "service_code": "voirie-01", "status": "open"}
    info = {n: t for n, t in texts.items() if n != "status_notes"}
    first = datetime.now(UTC) - timedelta(minutes=5)
    if via == "topic":  # filed plainly; the back office's record carries the texts
        filed["updated_datetime"] = first.isoformat()
        r = await stage.api.post("/v1/cities/paris/requests", data=encoded(filed), headers=auth)
        assert r.status == 201, await r.text()
        record = {
            "type": STATUS_CHANGED,
            "city": "paris",
            "department": "voirie",
            "service_request_id": RID,
            "status": "in_progress",
            "updated_datetime": datetime.now(UTC).isoformat(),
            **texts,
        }
        if too_long(texts):
            return  # a record over the limits goes to dead letters (not a text rule)
        await stage.publish(stage.deps.topics.request_status, RID.encode(), encoded(record))
    else:
        filed = {**filed, **info, "updated_datetime": first.isoformat()}
        raw = encoded(filed)
        r = await stage.api.post("/v1/cities/paris/requests", data=raw, headers=auth)
        if await _refused(r, too_long(info), raw):
            return
        change = {"status": "in_progress", "status_notes": texts["status_notes"]}
        raw = encoded(change)
        r = await stage.api.post(f"/v1/cities/paris/requests/{RID}/status", data=raw, headers=auth)
        if await _refused(r, too_long({"status_notes": texts["status_notes"]}), raw):
            return
    await stage.work()
    event(f"handed over ({via})")
    m = one_on_each_channel(stage.received())
    notes = paragraphs(texts["status_notes"])
    name, address = one_line(texts["service_name"]), one_line(texts["address"])
    if name:
        assert f"({name})" in m.subject and f"({name})" in m.text
    if address:
        assert address in m.text
    if notes:
        assert f"Note du service : {notes}" in m.text
        in_one_line = " ".join(notes.split())
        assert m.push["body"] == truncated(in_one_line, 300)
        assert in_sms_cut(in_sms(in_one_line), m.sms)
