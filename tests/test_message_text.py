"""What the property tests of issue #18 found (``tests/properties``), one plain test each: a
department's text that reached the providers garbled, or not at all. Through the API, the
worker's handlers and the real providers (``tests/properties/stage``)."""

from __future__ import annotations

from typing import Any

from tests.properties.messages import Message, one_on_each_channel
from tests.properties.stage import Stage, stage

__all__ = ["stage"]  # the fixture


async def published(s: Stage, content: dict[str, str]) -> Message:
    """The announcement published through the API and handed to the providers."""
    key = await s.reset()
    body: dict[str, Any] = {
        "category": "roadworks",
        "target": {"areas": ["75105"]},
        "content": {"fr": content},
    }
    r = await s.api.post(
        "/v1/cities/paris/announcements", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status == 202, await r.text()
    await s.work()
    return one_on_each_channel(s.received())


def test_a_text_holding_the_unsubscribe_mark_is_shown_as_written(stage: Stage) -> None:
    """Before, the mark in a body was replaced by the recipient's unsubscribe link."""
    m = stage.run(published(stage, {"title": "Test", "body": "Le code : @@UNSUBSCRIBE_URL@@ !"}))
    assert "Le code : @@UNSUBSCRIBE_URL@@ !" in m.text
    assert "Le code : @@UNSUBSCRIBE_URL@@ !" in m.html
    assert m.text.count("/v1/unsubscribe/") == 1  # the footer's link, filled
