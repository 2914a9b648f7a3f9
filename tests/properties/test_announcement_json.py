"""Announcements as departments send them, in JSON through the API: every generated title,
body, link and instructions is either refused with a 4xx naming the field, or reaches the
citizen on email, SMS and web push with its text recognisable. No third outcome."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from notifier.api.http import MAX_BODY
from streams.records import MAX_BODY as MAX_TEXT
from streams.records import MAX_TITLE
from tests.properties.messages import one_on_each_channel, push_url
from tests.properties.stage import Stage, examples
from tests.properties.texts import (
    as_json_reads_it,
    fields,
    has_control,
    in_html,
    in_sms,
    one_line,
    paragraphs,
    truncated,
)

SURROGATE = re.compile("[\ud800-\udfff]")

# a failing example of 10,000-character words is reported whatever the size of its repr
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def encoded(body: dict[str, Any]) -> bytes:
    """The body as a client sends it: UTF-8 JSON, lone surrogates escaped (no UTF-8 has them)."""
    text = json.dumps(body, ensure_ascii=False)
    return SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def refusable(title: str, body: str, link: str, instructions: str) -> set[str]:
    """The fields the API may name in refusing these texts: a control character that is not
    whitespace, nothing left once normalised, or longer than the field's limit (as given, as
    the API's schema says)."""
    out = set()
    for name, text, normal, limit, required in (
        ("title", title, one_line(title), MAX_TITLE, True),
        ("body", body, paragraphs(body), MAX_TEXT, True),
        ("link", link, one_line(link), 2000, False),
        ("instructions", instructions, paragraphs(instructions), MAX_TEXT, False),
    ):
        if has_control(text) or len(text) > limit or (required and not normal):
            out.add(f"content.fr.{name}")
    return out


@examples(300)
@given(
    title=fields(limit=MAX_TITLE),
    body=fields(limit=MAX_TEXT),
    link=st.one_of(st.just(""), fields(limit=1900).map(lambda t: "https://ville.example/" + t)),
    instructions=fields(limit=MAX_TEXT),
)
def test_refused_naming_the_field_or_handed_over_on_every_channel(
    stage: Stage, title: str, body: str, link: str, instructions: str
) -> None:
    note(ascii({"title": title, "body": body, "link": link, "instructions": instructions}))
    title, body, link, instructions = map(as_json_reads_it, (title, body, link, instructions))
    stage.run(_publish_and_check(stage, title, body, link, instructions))


async def _publish_and_check(
    stage: Stage, title: str, body: str, link: str, instructions: str
) -> None:
    key = await stage.reset()
    content = {"title": title, "body": body, "link": link, "instructions": instructions}
    announcement = {
        "category": "roadworks",
        "severity": "minor",
        "target": {"areas": ["75105"]},
        "content": {"fr": content},
    }
    raw = encoded(announcement)
    r = await stage.api.post(
        "/v1/cities/paris/announcements",
        data=raw,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    may_refuse = refusable(title, body, link, instructions)
    if len(raw) > MAX_BODY:
        may_refuse.add("body")
    if r.status != 202:
        assert 400 <= r.status < 500, (r.status, await r.text())
        field = (await r.json())["error"]["field"]
        assert field in may_refuse, (r.status, await r.text())
        event(f"refused: {r.status} {field}")
        return
    assert not may_refuse, f"accepted, though {may_refuse} should have been refused"
    await stage.work()
    event("handed over")
    m = one_on_each_channel(stage.received())
    t, b, i = one_line(title), paragraphs(body), paragraphs(instructions)
    assert m.subject == t
    assert t in m.text and b in m.text and i in m.text and one_line(link) in m.text
    assert in_html(t) in m.html
    assert in_sms(t) in m.sms
    assert m.push["title"] == t
    assert m.push["body"] == truncated(" ".join(b.split()), 300)
    assert push_url(m.push, one_line(link), stage.settings.base_url)
