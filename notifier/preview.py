"""What a draft announcement would do, before it is sent: how many citizens and contact points
per channel it reaches, and the messages as they would read, with SMS encoding and segments."""

from __future__ import annotations

from typing import Any

from streams.announcements import Announcement
from streams.deps import Deps
from streams.expand import context_of, render_announcement
from streams.records import UNSUBSCRIBE_PLACEHOLDER


async def preview(deps: Deps, a: Announcement) -> dict[str, Any]:
    catalogue = deps.catalogues[a.city]
    audience = await deps.matcher.match(
        a.city, a.target.resolve(catalogue), a.category, a.severity, a.department
    )
    wanting = {channel: audience.wanting(channel) for channel in deps.enabled}
    reach = await deps.store.reach(a.city, wanting)  # one message per citizen and channel
    messages: dict[str, dict[str, Any]] = {}
    sample_link = f"{deps.base_url}/v1/unsubscribe/…"
    for channel in deps.enabled:
        messages[channel] = {}
        for lang in a.content:
            parts: dict[str, Any] = {
                name: text.replace(UNSUBSCRIBE_PLACEHOLDER, sample_link)  # each their own
                for name, text in render_announcement(a, lang, channel, deps).items()
            }
            if channel == "sms":
                sms = deps.renderer.render_sms("announcement", lang, context_of(a, lang, deps))
                parts.update(encoding=sms.encoding, segments=sms.segments, length=sms.units)
            messages[channel][lang] = parts
    return {
        "citizens": len(audience),
        "contact_points": reach,
        "areas": a.target.area_names(catalogue),
        "messages": messages,
    }
