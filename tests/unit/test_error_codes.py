"""Every code the API may answer has a plain message in both languages of the pages
(``error.code.<code>`` in ``notifier/web/static/strings.json``): a page never falls back to the
English reason for want of a string."""

from __future__ import annotations

import json
from pathlib import Path

from subscriptions.errors import BY_STATUS, CODES

STRINGS = Path(__file__).parents[2] / "notifier" / "web" / "static" / "strings.json"


def test_every_error_code_has_a_message_in_french_and_english() -> None:
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))
    for language in ("fr", "en"):
        missing = [c for c in CODES if f"error.code.{c}" not in strings[language]]
        assert missing == [], (language, missing)
        # and the page's own (the API did not answer)
        assert "error.code.network" in strings[language]


def test_a_status_without_a_code_of_its_own_has_one_of_the_codes() -> None:
    assert set(BY_STATUS.values()) <= set(CODES)
