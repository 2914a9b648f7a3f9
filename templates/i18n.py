"""Dates and times as a citizen reads them, in their language and the city's timezone (Babel):
"mardi 3 mars à 14 h 00", "Tuesday 3 March at 2:00 PM"."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

PATTERNS = {"fr": "EEEE d MMMM 'à' H 'h' mm", "en": "EEEE d MMMM 'at' h:mm a"}


def when(timestamp: float | None, language: str, timezone: str) -> str:
    """An epoch timestamp in words; empty for None."""
    if timestamp is None:
        return ""
    moment = datetime.fromtimestamp(timestamp, UTC)
    pattern = PATTERNS.get(language, PATTERNS["fr"])
    return format_datetime(moment, pattern, tzinfo=ZoneInfo(timezone), locale=language)
