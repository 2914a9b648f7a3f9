"""Providers: the ``Channel`` contract (``channels.base``) and one module per provider.

A channel is one module here that owns its vocabulary: its message type and how it builds one
from a batch's rendered parts and a contact point (``Channel.messages``), how its provider's
refusals map to consent (``PermanentChannelError.contact_status``) and, when the provider sends
status callbacks, what they mean for the ledger (``Channel.receipt``). Nothing outside this
package names a provider's codes or types.

``KINDS`` is the one list of channels, in order, with what the rest of the service knows of
each without its provider's client (``Kind``); ``NAMES`` is its keys. The delivery topics and
their agents, the wire records' parts, the contact kinds, the settings' channel list and the
backlog watch are made from it. Adding a provider: its module, its templates
(``templates/renderer.py``), its line here and its construction in
``notifier.wiring.make_channels`` (``tests/test_toy_channel.py`` shows one).

This module imports nothing of ours: every package may read it.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Kind:
    """What the service knows of a channel without its client: the parts its messages are
    rendered into (a delivery batch's variants; a ``url`` part is where a click on the message
    leads: the event's link, or the city's site), whether each message carries the recipient's
    own link to unsubscribe (email's; SMS has STOP, a browser drops its push subscription), and
    whether it interrupts (a phone buzzes: held through the citizen's quiet hours)."""

    parts: tuple[str, ...]
    unsubscribe_link: bool = False
    interrupts: bool = False


KINDS: dict[str, Kind] = {
    "email": Kind(("subject", "text", "html"), unsubscribe_link=True),
    "sms": Kind(("text",), interrupts=True),
    "push": Kind(("title", "body", "url"), interrupts=True),
}
NAMES: tuple[str, ...] = tuple(KINDS)
