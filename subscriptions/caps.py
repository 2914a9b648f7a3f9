"""How much one citizen may hold: contact points (push ones apart: a browser makes a new
subscription at will) and subscriptions. Checked before anything is written; over a cap, a 422
names the field. (A polygon's vertices are capped where it is parsed.)"""

from __future__ import annotations

from collections.abc import Sequence

from subscriptions.contacts import FIELDS, ContactPoint
from subscriptions.errors import InvalidInput
from subscriptions.store import SubscriptionStore, key

MAX_CONTACTS = 10
MAX_PUSH = 5
MAX_SUBSCRIPTIONS = 50


def check_contacts(held: Sequence[ContactPoint], channel: str) -> None:
    """One more contact point on ``channel`` for a citizen who has ``held``."""
    if len(held) >= MAX_CONTACTS:
        reason = f"a citizen has at most {MAX_CONTACTS} contact points; remove one first"
        raise InvalidInput(FIELDS[channel], reason, "too_many")
    if channel == "push" and sum(c.channel == "push" for c in held) >= MAX_PUSH:
        reason = f"a citizen has at most {MAX_PUSH} push subscriptions; remove one first"
        raise InvalidInput("push", reason, "too_many")


async def check_subscriptions(store: SubscriptionStore, city: str, cid: str) -> None:
    """One more subscription for this citizen."""
    if await store.redis.scard(key(city, "citizen", cid, "subs")) >= MAX_SUBSCRIPTIONS:
        reason = f"a citizen has at most {MAX_SUBSCRIPTIONS} subscriptions; remove one first"
        raise InvalidInput("subscriptions", reason, "too_many")
