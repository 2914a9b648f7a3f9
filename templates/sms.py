"""SMS text: GSM-7 when possible, UCS-2 otherwise, never a "?" for a character.

Typography that GSM-7 lacks (curly quotes, dashes, ellipsis, guillemets, special spaces) is
downgraded to its GSM equivalent; letters are never changed ("août" keeps its "û" and the message
goes as UCS-2). Segments: 160 GSM characters (153 when concatenated, extension characters count
twice), 70 UCS-2 code units (67 concatenated). ``fit`` cuts the body, never the head or the tail
(the link and the STOP line), to stay within a budget of segments.
"""

from __future__ import annotations

import dataclasses
import math

BODY = "\x00BODY\x00"  # where the body goes in a rendered SMS template
# the longest message SMS providers take, in UTF-16 code units (Twilio refuses a Body over
# 1,600 characters with error 21617); ``Renderer.render_sms`` leaves a link out to stay within
MAX_UNITS = 1600

GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = set("^{}\\[~]|€\f")
DOWNGRADE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\t": " ",
    "\u2022": "-", "\u00b7": "-",
})  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SmsText:
    text: str
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # GSM septets or UTF-16 code units


def measure(text: str) -> SmsText:
    """Downgrade the typography and count what the text costs."""
    text = text.translate(DOWNGRADE)
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        units = sum(2 if c in GSM_EXTENSION else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / multi)
    return SmsText(text, encoding, segments, units)


def fit(rendered: str, body: str, max_segments: int) -> SmsText:
    """``rendered`` holds ``BODY`` where the body goes; the body is cut (at a word, with "...")
    until the whole fits in ``max_segments``. If even no body does not fit, the message is sent
    whole: a link or a STOP line is never cut."""
    body = " ".join(body.split())
    whole = measure(rendered.replace(BODY, body))
    if whole.segments <= max_segments or BODY not in rendered:
        return whole
    low, high = 0, len(body)  # the longest prefix that fits
    while low < high:
        mid = (low + high + 1) // 2
        if measure(rendered.replace(BODY, _cut(body, mid))).segments <= max_segments:
            low = mid
        else:
            high = mid - 1
    return measure(rendered.replace(BODY, _cut(body, low)))


def _cut(body: str, n: int) -> str:
    if n >= len(body):
        return body
    head = body[:n].rsplit(" ", 1)[0] if " " in body[:n] else body[:n]
    return head.rstrip(" ,;:.") + "..." if head else ""
