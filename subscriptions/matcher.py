"""From an event's target, category and severity to the matching citizens.

A target is a set of area codes and/or a drawn shape (polygons, circles), in metres.
- Area subscriptions match when their area overlaps the target: for codes, the areas above and
  below them in the hierarchy; for a shape, every area that shares surface with it.
- Point-and-radius and polygon subscriptions are indexed by the quartiers they cross; those of
  the quartiers the target covers are the candidates, and shapely decides exactly which of them
  intersect the target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from shapely import unary_union
from shapely.geometry.base import BaseGeometry

from subscriptions.areas import AreaCatalogue
from subscriptions.cadence import Cadence
from subscriptions.categories import severity_rank
from subscriptions.store import SubscriptionStore, key
from subscriptions.subscription import Subscription


@dataclasses.dataclass(frozen=True)
class Match:
    """One citizen matched by an event, with the subscriptions that matched."""

    citizen: str
    subscriptions: tuple[str, ...]
    channels: frozenset[str]  # told at once on these
    digests: tuple[tuple[str, Cadence], ...] = ()  # (channel, cadence) of digest-only channels


@dataclasses.dataclass(frozen=True)
class Target:
    codes: tuple[str, ...] = ()
    shape: BaseGeometry | None = None  # metric: polygons and circles drawn by the sender

    def geometry(self, catalogue: AreaCatalogue) -> BaseGeometry:
        parts = [catalogue.get(c).metric for c in self.codes]
        if self.shape is not None:
            parts.append(self.shape)
        return unary_union(parts)


async def match(
    store: SubscriptionStore,
    catalogue: AreaCatalogue,
    city: str,
    target: Target,
    category: str,
    severity: str,
    department: str | None = None,
) -> list[Match]:
    """Also, with ``department``, the subscribers of that department, wherever it applies."""
    area_codes = catalogue.related(target.codes)
    leaves = catalogue.leaves(target.codes)
    if target.shape is not None:
        crossed = catalogue.intersecting(target.shape)
        area_codes |= crossed
        leaves |= catalogue.crossed_leaves(target.shape)
    keys = [key(city, "idx", "area", c) for c in sorted(area_codes)]
    keys += [key(city, "idx", "geo", c) for c in sorted(leaves)]
    if department:
        keys.append(key(city, "idx", "dept", department))
    ids = await store.redis.sunion(keys) if keys else set()
    subs = [s for s in await store.subscriptions(city, sorted(ids)) if wants(s, category, severity)]
    shaped = [s for s in subs if s.kind in ("point", "polygon")]
    if shaped:
        geometry = target.geometry(catalogue)
        inside = {s.id for s in shaped if s.metric(catalogue).intersects(geometry)}
        subs = [s for s in subs if s.kind not in ("point", "polygon") or s.id in inside]
    return group_by_citizen(subs)


def wants(sub: Subscription, category: str, severity: str) -> bool:
    if sub.categories and category not in sub.categories:
        return False
    return severity_rank(severity) >= severity_rank(sub.min_severity)


def group_by_citizen(subs: Iterable[Subscription]) -> list[Match]:
    """One match per citizen: a channel any immediate subscription names is told at once;
    a channel only digest subscriptions name joins the digest of the first of them."""
    by: dict[str, tuple[list[str], set[str], dict[str, Cadence]]] = {}
    for s in sorted(subs, key=lambda s: s.id):
        ids, now, later = by.setdefault(s.citizen, ([], set(), {}))
        ids.append(s.id)
        for channel in s.channels:
            if s.cadence.immediate:
                now.add(channel)
            else:
                later.setdefault(channel, s.cadence)
    return [
        Match(
            c,
            tuple(ids),
            frozenset(now),
            tuple(sorted((ch, cad) for ch, cad in later.items() if ch not in now)),
        )
        for c, (ids, now, later) in sorted(by.items())
    ]
