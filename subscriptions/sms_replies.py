"""What an SMS a citizen sends us does to their number's consent, and what we text back.

The provider's webhook reads the message into a keyword (STOP, ARRET… → ``STOP``; START →
``START``; ``HELP``: ``channels.twilio_webhooks.keyword_of``); here is what each does to the
contact point of the number it came from:

================  ===================  ============  ====================  =================
the message       the number           its status    how (consent ledger)  reply
================  ===================  ============  ====================  =================
HELP              any, ours or not     unchanged                           ``help``
STOP              ours                 opted_out     SMS STOP
START             ours, opted out      confirmed     SMS START
its 6-digit code  ours, pending        confirmed     SMS code reply        ``number_confirmed``
anything else                          unchanged
================  ===================  ============  ====================  =================

A code is checked against the one sent (``SubscriptionStore.check_code``: hashed, expiring, five
tries); a wrong one changes nothing and has no reply. Replying with the code needs no token (an
imported phone-only citizen has none): the reply comes from the number itself. A reply is the
kind of the message to text back (its wording is in ``templates/<kind>/sms.<language>.j2``), in
the citizen's language; "" for a number that is not ours.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from subscriptions import editing
from subscriptions.store import SubscriptionStore

CODE = re.compile(r"\d{6}")

Reply = Literal["help", "number_confirmed"]


@dataclasses.dataclass(frozen=True)
class Decision:
    status: str | None = None  # the contact point's new status; None: unchanged
    how: str = ""  # how the consent ledger records the change
    code: str | None = None  # the code to check first: the change and reply hold if it is right
    reply: Reply | None = None


NOTHING = Decision()


def decide(keyword: str | None, body: str, status: str | None) -> Decision:
    """What a message (its ``keyword``, else None; its whole ``body``) does to the contact point
    of the number it came from, whose ``status`` is None when the number is not ours."""
    if keyword == "HELP":
        return Decision(reply="help")
    if status is None:
        return NOTHING
    if keyword == "STOP":
        return Decision("opted_out", "SMS STOP")
    if keyword == "START" and status == "opted_out":
        return Decision("confirmed", "SMS START")
    code = body.strip()
    if status == "pending" and CODE.fullmatch(code):
        return Decision("confirmed", "SMS code reply", code, "number_confirmed")
    return NOTHING


@dataclasses.dataclass(frozen=True)
class Answer:
    reply: Reply
    language: str  # the citizen's; "" when the number is not ours


async def act_on(
    store: SubscriptionStore, city: str, phone: str, keyword: str | None, body: str
) -> Answer | None:
    """The message from ``phone`` (E.164) done; what to text back, None for nothing."""
    cp = await store.contact_by_address(city, "sms", phone)
    d = decide(keyword, body, None if cp is None else cp.status)
    if cp is None:
        return None if d.reply is None else Answer(d.reply, "")
    if d.code is not None and not await store.check_code(city, cp.id, d.code):
        return None
    if d.status is not None:
        now = await store.set_contact_status(city, cp.id, d.status, d.how)
        if cp.status == "pending" and now.status == "confirmed":  # a new number: it joins
            await editing.join(store, city, now)
    if d.reply is None:
        return None
    return Answer(d.reply, (await store.citizen(city, cp.citizen)).language)
