"""CAP alerts as the JSON body of our announcements API (``cap_to_announcement_input``)."""

from __future__ import annotations

import re
from typing import Any

from notifier.cap.parser import CapAlert, CapInfo
from streams import text as norm
from streams.records import MAX_BODY, MAX_TITLE, iso
from subscriptions.categories import SEVERITIES
from templates import LANGUAGES

# CAP <category> -> our category (subscriptions.categories.CATEGORIES). Infra is "Utility,
# telecommunication, other non-transport infrastructure": roads are CAP's Transport, and the
# one utility our cities publish about is water (outages, reservoir releases), so Infra goes
# to "water".
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)

CATEGORY_MAP = {
    "Geo": "weather",
    "Met": "weather",
    "Safety": "safety",
    "Security": "safety",
    "Rescue": "safety",
    "CBRNE": "safety",
    "Fire": "safety",
    "Health": "safety",
    "Env": "environment",
    "Transport": "transport",
    "Infra": "water",
    "Other": "general",
}


def _language(tag: str) -> str | None:
    """ "fr-CA" -> "fr", "en-US" -> "en"; None for a language we do not publish in."""
    primary = tag.split("-")[0].strip().lower()
    return primary if primary in LANGUAGES else None


# the title of an info whose headline and event hold no text once normalised
UNTITLED = {"fr": "Alerte", "en": "Alert"}


def _tidy(text: str | None) -> str:
    """Producers' layout out: <br> tags to line breaks, control characters dropped
    (``streams.text``), lines stripped, at most one blank line."""
    lines = [line.strip() for line in norm.paragraphs(_BR.sub("\n", text or "")).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _title(info: CapInfo, lang: str) -> str:
    """The headline on one line (``streams.text``, a <br> a space), else the event, never
    empty."""
    for text in (info.headline or "", info.event):
        if title := norm.line(_BR.sub(" ", text)):
            return title
    return UNTITLED[lang]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _link(web: str | None) -> str:
    """Only an http(s) URL the API takes; anything else is left out."""
    web = norm.line(web or "")
    return web if web.startswith(("https://", "http://")) and len(web) <= 2000 else ""


def _content(infos: list[CapInfo]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """{lang2: {title, body, link}} from the fr/en infos, and the languages left out.

    Several infos in one language (several events in one alert) are all kept: the title and
    link are the first's, and each distinct text follows the previous one."""
    titles: dict[str, str] = {}
    links: dict[str, str] = {}
    texts: dict[str, list[str]] = {}
    skipped: list[str] = []
    for info in infos:
        lang = _language(info.language)
        if lang is None:
            if info.language not in skipped:
                skipped.append(info.language)
            continue
        title = _title(info, lang)
        text = "\n\n".join(t for t in (_tidy(info.description), _tidy(info.instruction)) if t)
        titles.setdefault(lang, title)
        links[lang] = links.get(lang) or _link(info.web)
        if (text or title) not in texts.setdefault(lang, []):
            texts[lang].append(text or title)
    content = {
        lang: {
            "title": _cut(titles[lang], MAX_TITLE),
            "body": _cut("\n\n".join(texts[lang]), MAX_BODY),
            "link": links[lang],
        }
        for lang in titles
    }
    return content, skipped


def _severity(infos: list[CapInfo]) -> str:
    """The highest severity of the infos, on our scale; "unknown" without any."""
    return max((i.severity.lower() for i in infos), key=SEVERITIES.index, default="unknown")


def _category(infos: list[CapInfo]) -> str:
    """The first info's first category decides; "general" without any info."""
    return CATEGORY_MAP[infos[0].categories[0]] if infos else "general"


def _target(infos: list[CapInfo]) -> dict[str, list[Any]]:
    """The areas of all infos (geometry has no language), each shape once."""
    polygons: list[dict[str, Any]] = []
    circles: list[dict[str, float]] = []
    geocodes: list[dict[str, str]] = []
    for area in (a for i in infos for a in i.areas):
        for p in area.polygons:
            geojson = {"type": "Polygon", "coordinates": [[[x, y] for x, y in p.exterior.coords]]}
            if geojson not in polygons:
                polygons.append(geojson)
        for c in area.circles:
            circle = {"lon": c.lon, "lat": c.lat, "radius_m": c.radius_m}
            if circle not in circles:
                circles.append(circle)
        for g in area.geocodes:
            geocode = {"value_name": g.value_name, "value": g.value}
            if geocode not in geocodes:
                geocodes.append(geocode)
    return {"polygons": polygons, "circles": circles, "geocodes": geocodes}


def _not_for_citizens(alert: CapAlert, content: dict[str, dict[str, str]]) -> str | None:
    if alert.status != "Actual":
        return f"status {alert.status}: only Actual alerts reach citizens"
    if alert.scope != "Public":
        return f"scope {alert.scope}: only Public alerts reach citizens"
    if alert.msg_type in ("Ack", "Error"):
        return f"msgType {alert.msg_type}: a message between senders, not for citizens"
    if alert.msg_type != "Cancel" and not content:
        return "no info in French or English"
    return None


def cap_to_announcement_input(alert: CapAlert) -> dict[str, Any]:
    """The JSON body for the announcements API, extended for CAP geometry and provenance::

        {"category": "weather", "severity": "severe",
         "target": {"polygons": [{"type": "Polygon", "coordinates": [[[lon, lat], ...]]}],
                    "circles": [{"lon", "lat", "radius_m"}],
                    "geocodes": [{"value_name", "value"}]},
         "content": {"fr"|"en": {"title", "body", "link"}},
         "skipped_languages": ["es-US"],
         "expires_at": "2003-06-17T23:00:00Z" | None,
         "deliver": True | False, "reason": None | "why not",
         "cap": {"identifier", "sender", "sent", "msg_type", "references": [{"sender",
                 "identifier", "sent"}], "status", "scope"}}

    ``deliver`` is False (with ``reason``) for anything that must never reach citizens: a
    status other than Actual (Test, Exercise, Draft, System), a scope other than Public, an Ack
    or Error, or an Alert/Update with no info in French or English. A Cancel is deliverable
    without info or content: applying it means withdrawing the alerts of ``cap.references``, as
    an Update supersedes them. Title and body are cut to the API's limits (with "…"); a ``web``
    that is not an http(s) URL is left out. ``expires_at`` is the earliest info's expiry, and
    this function does not check it against the clock (the API refuses a past expiry).

    ``target`` holds the shapes of every info (geometry has no language), each once, as
    ``subscriptions.targets.parse_target`` reads them; it gives no ``areas``, and a CAP circle
    of radius 0 (a point, such as an epicentre) is kept as written although the API wants a
    radius of 1 m or more: which area codes to add, and what a point reaches, is the caller's
    choice, as is refusing shapes that do not reach the city.
    """
    content, skipped = _content(alert.infos)
    reason = _not_for_citizens(alert, content)
    expiries = [i.expires for i in alert.infos if i.expires is not None]
    return {
        "category": _category(alert.infos),
        "severity": _severity(alert.infos),
        "target": _target(alert.infos),
        "content": content,
        "skipped_languages": skipped,
        "expires_at": iso(min(expiries).timestamp()) if expiries else None,
        "deliver": reason is None,
        "reason": reason,
        "cap": {
            "identifier": alert.identifier,
            "sender": alert.sender,
            "sent": alert.sent.isoformat(),
            "msg_type": alert.msg_type,
            "references": [
                {"sender": r.sender, "identifier": r.identifier, "sent": r.sent.isoformat()}
                for r in alert.references
            ],
            "status": alert.status,
            "scope": alert.scope,
        },
    }
