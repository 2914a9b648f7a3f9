"""What the property tests of issue #18 found (``tests/properties``), one plain test each: a
department's text that reached the providers garbled, or not at all. Through the API, the
worker's handlers and the real providers (``tests/properties/stage``)."""

from __future__ import annotations

from typing import Any

from tests.properties.messages import Message, one_on_each_channel
from tests.properties.stage import Stage


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
    assert m.text.count("/v1/unsubscribe/") == 2  # the footer's links (and /manage), filled


LONG_LINK = "https://www.paris.fr/pages/travaux?" + "&zone=5e" * 230  # 1,875 characters


def test_a_link_too_long_for_an_sms_is_left_out_of_it(stage: Stage) -> None:
    """Before, the SMS went over Twilio's 1,600 characters and was refused (error 21617)."""
    m = stage.run(published(stage, {"title": "Travaux", "body": "Rue fermée.", "link": LONG_LINK}))
    assert m.sms.startswith("Paris : Travaux. Rue fermée.") and LONG_LINK not in m.sms
    assert LONG_LINK in m.text  # the email carries it


def test_a_link_too_long_for_a_push_leads_to_the_citys_site(stage: Stage) -> None:
    """Before, the payload went over the 4 KB a push service takes and the push failed."""
    link = "https://www.paris.fr/" + "é" * 1950  # 3,900 bytes of UTF-8
    m = stage.run(published(stage, {"title": "Travaux", "body": "Rue fermée.", "link": link}))
    assert (m.push["title"], m.push["url"]) == ("Travaux", stage.settings.base_url)
    assert link in m.text


def test_a_title_that_reads_as_an_encoded_word_is_the_subject_as_written(stage: Stage) -> None:
    """Before, "=?utf-8?q?...?=" in a title was decoded as the Subject was set."""
    title = "Code =?utf-8?q?Travaux_termin=C3=A9s?= reçu"
    m = stage.run(published(stage, {"title": title, "body": "Rue fermée."}))
    assert m.subject == title  # as a mail client shows it


def test_a_long_subject_split_in_encoded_words_keeps_its_spaces(stage: Stage) -> None:
    """Before, the standard library's folding put the space between two encoded words, where
    mail clients drop it: "rue deRivolié"."""
    # as the property tests found it (a service name, in a request's Subject)
    title = (
        "La demande que vous suivez n° req-1 (Travauxrue de Rivolie\u0301rue de Rivoliaoût) : en"
    )
    title += " cours de traitement"
    m = stage.run(published(stage, {"title": title, "body": "Rue fermée."}))
    assert m.subject == title
