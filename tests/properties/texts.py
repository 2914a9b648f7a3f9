"""Generated texts, and what a citizen must find of them in a message.

Texts are made of pieces that have broken text handling somewhere: line breaks of every kind,
tabs, NUL and other controls (C0, DEL, C1), lone surrogates, combining marks (alone too),
right-to-left text and direction marks, emoji and other astral characters (ZWJ sequences),
10,000-character words, HTML and Jinja syntax, our own placeholders, SMTP and MIME syntax,
GSM-7's extension characters, and any other text Hypothesis makes.
"""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st
from markupsafe import escape

from templates.sms import DOWNGRADE

BREAKS = ["\n", "\r\n", "\r", "\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1f"]
SPACES = [" ", "  ", "\t", "\xa0", "\u202f", "\u3000", " \n\n ", "\t\r\n\t"]
CONTROLS = ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x7f", "\x80", "\x9b", "\ud800", "\udfff"]
MARKS = ["e\u0301", "\u0301", "\u0338", "n\u0303\u0303", "\u200d"]
RTL = ["שלום", "مرحبا بالعالم", "\u200f", "\u202e", "\u2067abc\u2069", "ا\u064b"]
ASTRAL = ["🚧", "👩\u200d👩\u200d👧", "🏳️\u200d🌈", "𝔘𝔫𝔦", "𠀀", "\U0010fffd", "🇫🇷"]
MARKUP = [
    "<b>gras</b>",
    "<script>alert(1)</script>",
    "&amp; &lt;",
    "<br>",
    "<br/>",
    "\"quoted\" 'single'",
    "{{ 7 * 7 }}",
    "{% if true %}x{% endif %}",
    "{# comment #}",
    "{{ unsubscribe_url }}",
    "@@UNSUBSCRIBE_URL@@",
    "\x00BODY\x00",
    "=?utf-8?q?encoded?=",
    "\r\n.\r\n",
    "\nFrom the start",
    "--boundary",
    "€[]{}^~|\\",
    "%s %(x)s {0}",
]
WORDS = ["Travaux", "rue de Rivoli", "août", "Crue", "quais", "fermé", "Île", "œuvre", "niveau"]


def pieces(xml: bool = False, controls: bool = True) -> st.SearchStrategy[str]:
    """One piece of a text; ``xml``: only what an XML 1.0 document can carry; ``controls``:
    with control characters other than whitespace (the API refuses those)."""
    special = BREAKS + SPACES + MARKS + RTL + ASTRAL + MARKUP
    excluded = [] if controls and not xml else ["Cs"] if xml else ["Cc", "Cs"]
    free = st.text(st.characters(exclude_categories=excluded), max_size=12)
    out = st.one_of(st.sampled_from(WORDS), st.sampled_from(special), free)
    if controls:
        out = st.one_of(out, st.sampled_from(CONTROLS))
    return out.map(xml_safe) if xml else out.map(_clean) if not controls else out


def _clean(text: str) -> str:
    return "".join(c for c in text if not dropped(c))


def texts(xml: bool = False, max_pieces: int = 8, controls: bool = True) -> st.SearchStrategy[str]:
    words = st.sampled_from(WORDS)
    parts = st.lists(st.one_of(words, pieces(xml, controls)), min_size=1, max_size=max_pieces)
    return parts.map("".join)


def xml_safe(text: str) -> str:
    """What XML 1.0 can carry: Tab, LF, CR, and from U+0020 on, without surrogates and
    U+FFFE/U+FFFF (a feed cannot hold the others at all)."""
    return "".join(
        c
        for c in text
        if c in "\t\n\r"
        or (" " <= c and unicodedata.category(c) != "Cs" and c not in "\ufffe\uffff")
    )


# -- the rule, as a citizen reads it (written here again, not imported) ----------------------


def dropped(c: str) -> bool:
    category = unicodedata.category(c)
    return category == "Cs" or (category == "Cc" and not c.isspace())


def one_line(text: str) -> str:
    return " ".join("".join(c for c in text if not dropped(c)).split())


def has_control(text: str) -> bool:
    return any(dropped(c) for c in text)


def words_of(text: str) -> str:
    """A text as the single-line parts of a message show it: its words, one space apart."""
    return one_line(text)


def in_sms(text: str) -> str:
    """A text as an SMS carries it: its typography downgraded to GSM-7 where it can be."""
    return text.translate(DOWNGRADE)


def in_html(text: str) -> str:
    return str(escape(text))


def cut(text: str, limit: int) -> str:
    """As a feed's text is cut to the API's limits (CAP)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def paragraphs(text: str) -> str:
    """A body as a citizen reads it: its lines (any line break), tabs kept, other controls
    gone (a whitespace control a space)."""
    for br in ("\r\n", "\r", "\x85", "\u2028", "\u2029"):
        text = text.replace(br, "\n")
    kept = (
        c if c in "\n\t" else " " if c.isspace() and unicodedata.category(c) == "Cc" else c
        for c in text
    )
    return "".join(c for c in kept if not dropped(c)).strip()


def truncated(text: str, limit: int) -> str:
    """Jinja's ``truncate(limit, True, "…", 0)``: what a push body shows of a longer text."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def long_words(limit: int) -> st.SearchStrategy[str]:
    """One unbreakable word, about as long as a field of ``limit`` characters allows, or far
    longer (10,000 characters)."""
    return st.builds(
        lambda c, n: c * n,
        st.characters(min_codepoint=0x21, exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]),
        st.sampled_from([limit // 2, limit - 20, 10_000]),
    )


def fields(xml: bool = False, controls: bool = True, limit: int = 200) -> st.SearchStrategy[str]:
    """A field's text: mostly pieces, sometimes one long word among them; with control
    characters in one field out of four (where ``controls``)."""
    clean = texts(xml, controls=False)
    long = st.tuples(texts(xml, 2, False), long_words(limit), texts(xml, 2, False)).map("".join)
    if xml:
        long = long.map(xml_safe)
    alternatives = [clean, clean, long] + ([texts(xml)] if controls else [])
    return st.one_of(*alternatives)


def as_json_reads_it(text: str) -> str:
    """A generated text as a JSON parser reads it back: a high and a low surrogate side by side,
    escaped, are one character (``"\\ud800\\udc00"`` is U+10000); the others stay lone."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
