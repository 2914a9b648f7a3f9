"""What a department checks before an announcement goes out, beyond its reach: an SMS whose text
was cut to fit, and French and English texts that do not say the same dates, times, numbers or
links (a "5 décembre" left as "December 6" in the translation).

``facts(text)`` extracts them, in a form that does not depend on the language ("5 décembre",
"December 5th" and "05/12" are all ``12-05``; "14 h 30" and "2:30 pm" are ``14:30``; "2,5" and
"2.5" are ``2.5``; "1 000" and "1,000" are ``1000``); ``differences`` compares two languages.
Pure functions: no I/O, no state.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from templates.sms import measure

KINDS = ("links", "dates", "times", "numbers")
MONTHS = {
    **{m: i for i, m in enumerate(
        ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout",
         "septembre", "octobre", "novembre", "decembre"), 1)},
    **{m: i for i, m in enumerate(
        ("january", "february", "march", "april", "may", "june", "july", "august",
         "september", "october", "november", "december"), 1)},
    **{m: i for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)},
}  # fmt: skip
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_ORD = r"(?:er|re|eme|e|st|nd|rd|th)?"  # after ``_plain``: no accents
LINK = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
# "5 décembre", "1er décembre 2026"; "December 5", "December 5th, 2026"; "5th of December"
DAY_MONTH = re.compile(rf"\b(\d{{1,2}}){_ORD}(?:\s+of)?\s+({_MONTH})\.?(?:\s+(\d{{4}}))?\b")
MONTH_DAY = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}}){_ORD}\b(?:,?\s+(\d{{4}}))?")
# "05/12", "05/12/2026", "05.12.2026" (day first, as in France and the United Kingdom)
NUMERIC_DATE = re.compile(r"\b(\d{1,2})(?:/(\d{1,2})(?:/(\d{2,4}))?|\.(\d{1,2})\.(\d{4}))\b")
# "2 pm", "2:30 p.m.", "14h", "14 h 30", "14:30", "9h-17h"
TIME = re.compile(
    r"\b(\d{1,2})(?:(?::(\d{2}))?\s*([ap])\.?\s?m\b\.?|\s*(?:h(?![a-z])|:)\s*(\d{2})?)",
    re.IGNORECASE,
)
# 1 000 / 1,000 / 1.000 (thousands), 2,5 / 2.5 (decimals), 12
NUMBER = re.compile(r"\d{1,3}(?:[  ,.]\d{3})+(?!\d)|\d+(?:[.,]\d+)?")


def _plain(text: str) -> str:
    """Lower case, accents off (``décembre`` → ``decembre``), special spaces as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\u202f", " ").replace("\xa0", " "))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _date(day: str, month: int, year: str | None) -> str | None:
    d = int(day)
    if not (1 <= d <= 31 and 1 <= month <= 12):
        return None
    y = f"{int(year) + 2000 if len(year) == 2 else int(year)}-" if year else ""
    return f"{y}{month:02d}-{d:02d}"


def _number(raw: str) -> str:
    if re.fullmatch(r"\d{1,3}(?:[  ,.]\d{3})+", raw):
        return str(int(re.sub(r"\D", "", raw)))
    if re.fullmatch(r"\d+[.,]\d+", raw):
        whole, frac = re.split(r"[.,]", raw)
        return f"{int(whole)}.{frac.rstrip('0')}".rstrip(".")
    return str(int(raw))


def facts(text: str) -> dict[str, set[str]]:
    """The links, dates, times and numbers ``text`` says (numbers: those that are not part of
    a link, a date or a time)."""
    out: dict[str, set[str]] = {k: set() for k in KINDS}

    def take(kind: str, value: str | None) -> str:
        if value is not None:
            out[kind].add(value)
        return " "

    rest = _plain(LINK.sub(lambda m: take("links", m[0].rstrip(".,;:!?")), text))

    rest = DAY_MONTH.sub(lambda m: take("dates", _date(m[1], MONTHS[m[2]], m[3])), rest)
    rest = MONTH_DAY.sub(lambda m: take("dates", _date(m[2], MONTHS[m[1]], m[3])), rest)
    rest = NUMERIC_DATE.sub(
        lambda m: take("dates", _date(m[1], int(m[2] or m[4]), m[3] or m[5])), rest
    )

    def clock(m: re.Match[str]) -> str:
        hour, minute = int(m[1]), int(m[2] or m[4] or 0)
        if m[3]:  # 12-hour clock
            if not 1 <= hour <= 12:
                return m[0]
            hour = hour % 12 + (12 if m[3].lower() == "p" else 0)
        if hour > 24 or minute > 59:
            return m[0]
        return take("times", f"{hour % 24:02d}:{minute:02d}")

    rest = TIME.sub(clock, rest)
    for m in NUMBER.finditer(rest):
        out["numbers"].add(_number(m[0]))
    return out


def content_facts(content: Mapping[str, str]) -> dict[str, set[str]]:
    """The facts of one language's title, body, instructions and link together."""
    text = "\n".join(str(content.get(f) or "") for f in ("title", "body", "instructions", "link"))
    return facts(text)


def differences(
    first: Mapping[str, str], second: Mapping[str, str], langs: tuple[str, str] = ("fr", "en")
) -> list[dict[str, Any]]:
    """What one language says that the other does not, per kind: ``[{kind, fr: [...], en:
    [...]}]`` with the values only in each (sorted); nothing when they agree."""
    a, b = content_facts(first), content_facts(second)
    out = []
    for kind in KINDS:
        if a[kind] != b[kind]:
            out.append(
                {
                    "kind": kind,
                    langs[0]: sorted(a[kind] - b[kind]),
                    langs[1]: sorted(b[kind] - a[kind]),
                }
            )
    return out


def sms_cut(body: str, sms_text: str) -> bool:
    """The SMS holds less than the whole body (``templates.sms.fit`` cut it to its budget)."""
    whole = measure(" ".join(body.split())).text
    return whole not in sms_text
