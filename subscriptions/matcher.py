"""From an event's target, category and severity to the matching subscriptions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from subscriptions.areas import AreaCatalogue
from subscriptions.categories import severity_rank
from subscriptions.store import Subscription, SubscriptionStore, key


@dataclasses.dataclass(frozen=True)
class Match:
    """One citizen matched by an event, with the subscriptions that matched."""

    citizen: str
    subscriptions: tuple[str, ...]
    channels: frozenset[str]


async def match_areas(
    store: SubscriptionStore,
    catalogue: AreaCatalogue,
    city: str,
    areas: Iterable[str],
    category: str,
    severity: str,
) -> list[Match]:
    """Subscriptions on the target areas or on areas above or below them, filtered, by citizen."""
    codes = sorted(catalogue.related(areas))
    ids = await store.redis.sunion([key(city, "idx", "area", c) for c in codes]) if codes else set()
    subs = await store.subscriptions(city, sorted(ids))
    return group_by_citizen(s for s in subs if wants(s, category, severity))


def wants(sub: Subscription, category: str, severity: str) -> bool:
    if sub.categories and category not in sub.categories:
        return False
    return severity_rank(severity) >= severity_rank(sub.min_severity)


def group_by_citizen(subs: Iterable[Subscription]) -> list[Match]:
    by: dict[str, tuple[list[str], set[str]]] = {}
    for s in subs:
        ids, channels = by.setdefault(s.citizen, ([], set()))
        ids.append(s.id)
        channels.update(s.channels)
    return [Match(c, tuple(ids), frozenset(ch)) for c, (ids, ch) in sorted(by.items())]
