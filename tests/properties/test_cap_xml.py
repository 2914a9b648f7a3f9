"""CAP 1.2 alerts as a feed sends them, through the API's import (``notifier/cap/parser.py`` parser,
``notifier/cap/mapping.py``): whatever their headline, event, description, instruction and web
hold (of what XML can carry), they are never refused for it, and reach the citizen on email, SMS
and web push with their text recognisable (cut to the API's limits, with "…")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from notifier.cap.mapping import UNTITLED
from streams.records import MAX_BODY, MAX_TITLE
from tests.properties.messages import one_on_each_channel, push_url
from tests.properties.stage import Stage, examples
from tests.properties.texts import cut, fields, in_html, in_sms, one_line

BR = re.compile(r"<br\s*/?>", re.IGNORECASE)  # a producer's layout: a line break

# a failing example of 10,000-character words is reported whatever the size of its repr
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def alert(headline: str | None, event: str, description: str, instruction: str, web: str) -> bytes:
    soon = (datetime.now(UTC) + timedelta(hours=6)).isoformat(timespec="seconds")
    sent = datetime.now(UTC).isoformat(timespec="seconds")

    def element(name: str, text: str | None) -> str:
        return "" if text is None else f"<{name}>{escape(text)}</{name}>"

    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>prop-1</identifier><sender>crue@paris.example</sender><sent>{sent}</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><language>fr-FR</language><category>Met</category>{element("event", event)}
    <urgency>Expected</urgency><severity>Moderate</severity><certainty>Likely</certainty>
    <expires>{soon}</expires>{element("headline", headline)}
    {element("description", description)}{element("instruction", instruction)}
    {element("web", web)}
    <area><areaDesc>5e</areaDesc><circle>48.8462,2.3470 0.5</circle></area>
  </info>
</alert>""".encode()


def words(text: str) -> str:
    """A text's words as the messages show them (a producer's <br> a line break)."""
    return one_line(BR.sub(" ", text))


@examples(200)
@given(
    headline=st.one_of(st.none(), fields(xml=True, limit=MAX_TITLE)),
    event_=fields(xml=True, limit=MAX_TITLE).map(lambda t: "Crue " + t),
    description=fields(xml=True, limit=MAX_BODY),
    instruction=st.one_of(st.just(""), fields(xml=True, limit=MAX_BODY)),
    web=st.one_of(
        st.just(""), fields(xml=True, limit=1900).map(lambda t: "https://v.example/" + t)
    ),
)
def test_never_refused_and_handed_over_on_every_channel(
    stage: Stage, headline: str | None, event_: str, description: str, instruction: str, web: str
) -> None:
    note(ascii({"headline": headline, "event": event_, "description": description}))
    note(ascii({"instruction": instruction, "web": web}))
    stage.run(_import_and_check(stage, headline, event_, description, instruction, web))


async def _import_and_check(
    stage: Stage, headline: str | None, event_: str, description: str, instruction: str, web: str
) -> None:
    key = await stage.reset()
    r = await stage.api.post(
        "/v1/cities/paris/cap",
        data=alert(headline, event_, description, instruction, web),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cap+xml"},
    )
    assert r.status == 202, await r.text()
    [result] = (await r.json())["alerts"]
    assert result["delivered"] is True, result  # a feed is never refused for its text
    await stage.work()
    event("handed over")
    m = one_on_each_channel(stage.received())
    title = cut(words(headline or "") or words(event_) or UNTITLED["fr"], MAX_TITLE)
    assert m.subject == title
    assert title in m.text and in_html(title) in m.html
    assert in_sms(title) in m.sms
    assert m.push["title"] == title
    text = " ".join(m.text.split())
    body = " ".join(t for t in (words(description), words(instruction)) if t)
    if body and len(body) < MAX_BODY - 100:  # else cut to the API's limit: its start is there
        assert body in text
    elif body:
        assert body[:1000] in text
    link = one_line(web)
    if link and len(link) <= 2000:
        assert link in m.text
        assert push_url(m.push, link, stage.settings.base_url)
