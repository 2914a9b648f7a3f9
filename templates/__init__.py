"""Jinja2 templates per message kind x channel part x language, and their sandboxed renderer.

``LANGUAGES`` is the one list of the languages the service writes in (every kind has its
templates in each: ``tests/unit/test_templates.py``); a citizen's language, a department's
content and a city's languages are chosen from it. ``MESSAGE_KINDS`` is the one list of the
kinds of message, with what the rest of the service knows of each (``MessageKind``): the
renderer loads their templates, the delivery batches carry one of them, email marks list mail.
Adding a language or a kind: its templates, and its line here.

This module imports nothing of ours: every package may read it.
"""

from __future__ import annotations

import dataclasses

LANGUAGES: tuple[str, ...] = ("fr", "en")
FALLBACK = "fr"  # the language a message falls back to


@dataclasses.dataclass(frozen=True)
class MessageKind:
    """A kind of message: the channels it has templates for, whether it is list mail (a
    citizen's subscription brought it: email carries a one-click List-Unsubscribe, RFC 8058),
    and whether it is a direct answer to an SMS (texted back at once, never in a delivery
    batch)."""

    channels: tuple[str, ...]
    listed: bool = False
    reply: bool = False


MESSAGE_KINDS: dict[str, MessageKind] = {
    "announcement": MessageKind(("email", "sms", "push"), listed=True),
    "cancellation": MessageKind(("email", "sms", "push"), listed=True),
    "confirmation": MessageKind(("email", "sms")),
    "digest": MessageKind(("email", "sms", "push"), listed=True),
    "help": MessageKind(("sms",), reply=True),  # the answer to an SMS saying HELP
    "magic_link": MessageKind(("email", "sms")),
    "number_confirmed": MessageKind(("sms",), reply=True),  # a right code sent back by SMS
    "request_status": MessageKind(("email", "sms", "push"), listed=True),
}
# the kinds a delivery batch carries (the others are texted back directly)
BATCH_KINDS: tuple[str, ...] = tuple(k for k, m in MESSAGE_KINDS.items() if not m.reply)
