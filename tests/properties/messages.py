"""What a citizen checks in what the providers took: one message on each of their channels,
and the text in it."""

from __future__ import annotations

import dataclasses
from typing import Any

from channels.push import MAX_PAYLOAD, encode
from tests.properties.stage import Received


@dataclasses.dataclass(frozen=True)
class Message:
    subject: str  # the email's Subject, as a mail client shows it
    text: str  # the email's plain text part
    html: str  # its HTML part
    sms: str  # the SMS body Twilio took
    push: dict[str, Any]  # the push payload the browser decrypts


def one_on_each_channel(received: Received) -> Message:
    """Exactly one message on every channel of the citizen, or the assertion says which."""
    got = {"email": len(received.email), "sms": len(received.sms), "push": len(received.push)}
    assert got == {"email": 1, "sms": 1, "push": 1}, f"handed over: {got}; {received.why}"
    [mail], [sms], [push] = received.email, received.sms, received.push
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    return Message(
        subject=str(mail["Subject"]),
        text=plain.get_content().replace("\r\n", "\n"),  # lines, as a mail client shows them
        html=html.get_content().replace("\r\n", "\n"),
        sms=sms.body,
        push=push.json(),
    )


def push_url(pushed: dict[str, Any], link: str, site: str) -> bool:
    """The push leads to the link, or to the city's site when there is none or it is too long
    for a push payload."""
    if not link:
        return pushed["url"] == site
    with_link = encode({**pushed, "url": link})
    return pushed["url"] == (link if len(with_link) <= MAX_PAYLOAD else site)
