"""What a draft announcement would do, before it is sent: how many citizens and contact points
per channel it reaches, and the messages as they would read, with SMS encoding and segments.

The reach is coarse on purpose, so that a department key cannot find where one subscriber lives
by previewing smaller and smaller shapes: a drawn shape narrower than ``MIN_WIDTH_M`` (twice its
area over its perimeter: a circle's radius) is counted with a margin of ``MIN_WIDTH_M`` around
it, and every count is rounded up to a multiple of ``COUNT_STEP`` (0 stays 0). Publishing takes
any shape (a gas leak may concern one street), and a published announcement's figures are exact:
those messages really go out.
"""

from __future__ import annotations

from typing import Any, Protocol

from shapely import unary_union
from shapely.geometry.base import BaseGeometry

from streams.announcements import Announcement
from streams.delivery.expand import context_of, render_announcement
from streams.deps import Rendering
from streams.records import unsubscribe_mark
from subscriptions.matcher import Matcher, Target
from subscriptions.store import SubscriptionStore

MIN_WIDTH_M = 200.0
COUNT_STEP = 10


def coarse(target: Target) -> Target:
    """The target a preview counts: each drawn shape narrower than ``MIN_WIDTH_M`` widened."""
    if target.shape is None:
        return target
    parts = getattr(target.shape, "geoms", [target.shape])
    return Target(target.codes, unary_union([_wide(p) for p in parts]))


def _wide(part: BaseGeometry) -> BaseGeometry:
    narrow = part.length == 0 or 2 * part.area / part.length < MIN_WIDTH_M
    return part.buffer(MIN_WIDTH_M) if narrow else part


class Previewing(Rendering, Protocol):
    """The audience matched, its contact points counted, the messages rendered."""

    store: SubscriptionStore
    matcher: Matcher
    enabled: tuple[str, ...]


def rounded(n: int) -> int:
    return -(-n // COUNT_STEP) * COUNT_STEP


async def preview(deps: Previewing, a: Announcement) -> dict[str, Any]:
    catalogue = deps.catalogues[a.city]
    audience = await deps.matcher.match(
        a.city, coarse(a.target.resolve(catalogue)), a.category, a.severity, a.department
    )
    wanting = {channel: audience.wanting(channel) for channel in deps.enabled}
    reach = await deps.store.reach(a.city, wanting)  # one message per citizen and channel
    messages: dict[str, dict[str, Any]] = {}
    sample_link = f"{deps.base_url}/v1/unsubscribe/…"
    mark = unsubscribe_mark()  # a mark the department's text cannot hold (``render_announcement``)
    for channel in deps.enabled:
        messages[channel] = {}
        for lang in a.content:
            parts: dict[str, Any] = {
                name: text.replace(mark, sample_link)  # each their own
                for name, text in render_announcement(a, lang, channel, deps, mark).items()
            }
            if channel == "sms":
                sms = deps.renderer.render_sms("announcement", lang, context_of(a, lang, deps))
                parts.update(encoding=sms.encoding, segments=sms.segments, length=sms.units)
            messages[channel][lang] = parts
    return {
        "citizens": rounded(len(audience)),
        "contact_points": {channel: rounded(n) for channel, n in reach.items()},
        "areas": a.target.area_names(catalogue),
        "messages": messages,
    }
