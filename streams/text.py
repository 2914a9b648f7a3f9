"""The text that reaches a message, normalised where it enters (the API, CAP, Open311, bulk
import), by one rule:

- **a line** (a title, a CAP headline, a service name, an address): every run of whitespace
  (spaces of any width, tabs, line breaks, U+2028…) becomes one space, the ends are trimmed;
- **a text** (a body, instructions, status notes): line breaks are kept (CR LF, CR, NEL,
  U+2028 and U+2029 become LF), tabs too; other whitespace controls (VT, FF, the separators
  U+001C–U+001F) become a space;
- in both, every other control character (Unicode Cc: NUL, BEL, ESC, DEL, C1…) and every lone
  surrogate (Cs: not a character, no encoding can carry it) is removed.

Letters, marks, emoji, right-to-left text and format characters (ZWJ, direction marks) are kept
as written. Feeds are normalised and never refused for such characters; the JSON API refuses a
control character other than whitespace with a 422 naming the field (``control``), and takes
the rest normalised. Records already on the topics are decoded as written: these rules apply
where text enters, not where a record is read.
"""

from __future__ import annotations

import re
import unicodedata

from subscriptions.errors import InvalidInput
from subscriptions.rules import Field, Schema, nullable

_LINE_BREAKS = re.compile(r"\r\n|[\r\x85\u2028\u2029]")


def _dropped(c: str) -> bool:
    """A character no message should carry: a control that is not whitespace, a surrogate."""
    category = unicodedata.category(c)
    return category == "Cs" or (category == "Cc" and not c.isspace())


def line(text: str) -> str:
    """``text`` on one line: whitespace runs made one space, controls dropped, trimmed."""
    return " ".join("".join(c for c in text if not _dropped(c)).split())


def paragraphs(text: str) -> str:
    """``text`` with its line breaks (as LF) and tabs, other controls dropped, trimmed."""
    out = []
    for c in _LINE_BREAKS.sub("\n", text):
        if c in "\n\t":
            out.append(c)
        elif unicodedata.category(c) == "Cc" and c.isspace():
            out.append(" ")  # VT, FF, the information separators: a space, never glued words
        elif not _dropped(c):
            out.append(c)
    return "".join(out).strip()


def control(text: str) -> str | None:
    """The first control character of ``text`` that is not whitespace (or a lone surrogate),
    as ``U+0000``; None when there is none. What the API refuses."""
    for c in text:
        if _dropped(c):
            return f"U+{ord(c):04X}"
    return None


# what the OpenAPI document says of a text the JSON API takes
ONE_LINE = (
    "one line: line breaks, tabs and runs of spaces become one space; a control character "
    "other than whitespace (NUL, ESC…) is refused"
)
LINES_KEPT = "line breaks and tabs kept; a control character other than whitespace is refused"
NOT_BLANK = r"\S"


def field(
    limit: int, *, one_line: bool = False, required: bool = True, url: bool = False, what: str = ""
) -> Field:
    """A text a department writes, as the JSON API takes it: at most ``limit`` characters as
    given, a control character other than whitespace refused (naming the field), normalised
    (``line`` or ``paragraphs``); required: not blank once normalised; optional: absent, null
    or "" give ""; ``url``: an http(s) URL."""
    normalise = line if one_line else paragraphs

    def check(value: object, where: str) -> str:
        if not required and (value is None or value == ""):
            return ""
        if not isinstance(value, str):
            raise InvalidInput(where, "required, a non-empty string", "required")
        found = control(value)
        if found is not None:
            raise InvalidInput(where, f"holds a control character ({found}); remove it")
        if len(value) > limit:  # as given, as the schema says (maxLength)
            raise InvalidInput(where, f"longer than {limit} characters", "too_long")
        value = normalise(value)
        if required and not value:
            raise InvalidInput(where, "required, a non-empty string", "required")
        if url and value and not value.startswith(("https://", "http://")):
            raise InvalidInput(where, "must be an http(s) URL", "not_url")
        return value

    schema: Schema = {"type": "string", "maxLength": limit}
    if url:
        schema.update(description="an http(s) URL", pattern=r"^(\s*https?://|$)")
    else:
        schema["description"] = what or (ONE_LINE if one_line else LINES_KEPT)
    if required:
        schema.update(minLength=1, pattern=NOT_BLANK)
    elif not url:
        schema["pattern"] = r"\S|^$"
    return Field(schema if required else nullable(schema), check, required)
