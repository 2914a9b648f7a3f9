"""``notifier stuck``: what is not final yet, per city, event and channel, oldest first, with a
hint of why (``streams.watch``): an operator's first look when the lag alert fires."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from notifier.errors import ConfigError
from notifier.settings import Settings
from notifier.wiring import make_redis
from streams.watch import backlogs
from subscriptions.cities import Cities


def _age(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


async def stuck(settings: Settings, city: str | None = None) -> list[str]:
    if not settings.redis_url:
        raise ConfigError("set NOTIFIER_REDIS_URL to the Redis the service uses")
    redis = make_redis(settings)
    try:
        cities = Cities(redis, settings.default_city)
        await cities.refresh()
        names = [city] if city else list(cities.ids())
        now = time.time()
        found = [b for c in names for b in await backlogs(redis, c, now)]
    finally:
        await redis.aclose()
    if not found:
        return ["nothing queued or being sent"]
    lines = ["city  event  channel  lane  queued  sending  stuck  oldest  why"]
    for b in found:
        since = b.stuck_since if b.stuck else b.queued_since
        oldest = _age(now - since) if since else "-"
        stamp = datetime.fromtimestamp(since, UTC).strftime("%H:%M:%SZ") if since else ""
        lines.append(
            f"{b.city}  {b.event}  {b.channel}  {b.lane}  {b.queued}  {b.sending}  {b.stuck}  "
            f"{oldest} {stamp}  {b.hint(now)}"
        )
    return lines
