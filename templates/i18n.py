"""Dates and times as a citizen reads them, in their language and the city's timezone (Babel):
"mardi 3 mars à 14 h 00", "Tuesday 3 March at 2:00 PM"; and the places a reader subscribed to."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

PATTERNS = {"fr": "EEEE d MMMM 'à' H 'h' mm", "en": "EEEE d MMMM 'at' h:mm a"}


# what an update changed (``Announcement.changes_for``), as a reader reads it
CHANGES = {
    "fr": {
        "title": "le titre",
        "text": "le texte",
        "link": "le lien",
        "area": "la zone concernée",
        "validity": "la date de fin",
        "severity": "la gravité",
        "category": "la catégorie",
    },
    "en": {
        "title": "the title",
        "text": "the text",
        "link": "the link",
        "area": "the area",
        "validity": "the end date",
        "severity": "the severity",
        "category": "the category",
    },
}
AND = {"fr": "et", "en": "and"}
# a language's name, in each language: a text left in its own language says which it is
LANGUAGE_NAMES = {
    "fr": {"fr": "français", "en": "anglais"},
    "en": {"fr": "French", "en": "English"},
}


def in_words(changes: tuple[str, ...] | list[str], language: str) -> str:
    """What changed, as a list in words: "le titre, le texte et la zone concernée"."""
    names = CHANGES.get(language, CHANGES["fr"])
    words = [names.get(c, c) for c in dict.fromkeys(changes)]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {AND.get(language, 'et')} {words[-1]}"


def language_name(language: str, reader: str) -> str:
    """``language``'s name, in the ``reader``'s language."""
    return LANGUAGE_NAMES.get(reader, LANGUAGE_NAMES["fr"]).get(language, language)


def when(timestamp: float | None, language: str, timezone: str) -> str:
    """An epoch timestamp in words; empty for None."""
    if timestamp is None:
        return ""
    moment = datetime.fromtimestamp(timestamp, UTC)
    pattern = PATTERNS.get(language, PATTERNS["fr"])
    return format_datetime(moment, pattern, tzinfo=ZoneInfo(timezone), locale=language)


# what a reader subscribed to, in their language (an area is named by the city's catalogue)
PLACES = {
    "fr": {
        "point": "les environs du point que vous avez choisi",
        "polygon": "votre zone dessinée",
        "dept": "{name} (toutes ses annonces)",
    },
    "en": {
        "point": "around the point you chose",
        "polygon": "the area you drew",
        "dept": "{name} (all its announcements)",
    },
}


def places(
    reasons: Iterable[tuple[str, str]], language: str, area_name: Callable[[str], str]
) -> str:
    """The places a reader subscribed to that an announcement reached, in words:
    ``reasons`` as the matcher gives them (``subscriptions.live_index.Audience.reasons``)."""
    words = PLACES.get(language, PLACES["fr"])
    out = []
    for kind, value in reasons:
        if kind == "area":
            out.append(area_name(value))
        elif kind == "point":
            out.append(words["point"])
        elif kind == "polygon":
            out.append(words["polygon"])
        elif kind == "dept":
            out.append(words["dept"].format(name=value))
    return ", ".join(out)
