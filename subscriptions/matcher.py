"""From an event's target, category and severity to the matching citizens.

A target is a set of area codes and/or a drawn shape (polygons, circles), in metres.
- Area subscriptions match when their area overlaps the target: for codes, the areas above and
  below them in the hierarchy; for a shape, every area that shares surface with it.
- Point-and-radius and polygon subscriptions are indexed by the quartiers they cross; those of
  the quartiers an area target covers cross it; for a drawn target, shapely decides exactly which
  of the candidates intersect it.
- Then the category and the minimum severity, and one entry per citizen (the union of their
  subscriptions' channels). The work is done in memory: ``subscriptions.live_index``.
"""

from __future__ import annotations

import dataclasses

from redis.asyncio import Redis
from shapely import unary_union
from shapely.geometry.base import BaseGeometry

from subscriptions.areas import AreaCatalogue
from subscriptions.live_index import Audience, LiveIndex


@dataclasses.dataclass(frozen=True)
class Target:
    codes: tuple[str, ...] = ()
    shape: BaseGeometry | None = None  # metric: polygons and circles drawn by the sender

    def geometry(self, catalogue: AreaCatalogue) -> BaseGeometry:
        parts = [catalogue.get(c).metric for c in self.codes]
        if self.shape is not None:
            parts.append(self.shape)
        return unary_union(parts)


class Matcher:
    """Each city's subscriptions in memory (``subscriptions.live_index``), loaded on the first
    match of the city in this process and kept current from the store's change log."""

    def __init__(self, redis: Redis, catalogues: dict[str, AreaCatalogue]) -> None:
        self.redis = redis
        self.catalogues = catalogues  # shared with the city registry, which adds cities to it
        self.indexes: dict[str, LiveIndex] = {}

    def index(self, city: str) -> LiveIndex:
        catalogue = self.catalogues[city]
        index = self.indexes.get(city)
        if index is None or index.catalogue is not catalogue:  # new, or its areas replaced
            index = self.indexes[city] = LiveIndex(self.redis, city, catalogue)
        return index

    async def warm(self) -> None:
        """Load every known city now (a worker's start), not on its first event."""
        for city in list(self.catalogues):
            await self.index(city).refresh()

    async def match(
        self,
        city: str,
        target: Target,
        category: str,
        severity: str,
        department: str | None = None,
        explain: bool = False,
        reasons: int = 0,
    ) -> Audience:
        """Also, with ``department``, the subscribers of that department, wherever it applies.
        ``explain``: say which subscriptions matched each citizen; ``reasons``: what each
        citizen subscribed to that matched, for an audience of at most that many."""
        catalogue = self.catalogues[city]
        area_codes = catalogue.related(target.codes)
        leaves = catalogue.leaves(target.codes)
        if target.shape is not None:
            area_codes |= catalogue.intersecting(target.shape)
            leaves |= catalogue.crossed_leaves(target.shape)
        entries = [("area", c) for c in area_codes] + [("geo", c) for c in leaves]
        if department:
            entries.append(("dept", department))
        index = self.index(city)
        await index.refresh()
        # shaped subscriptions are indexed under the quartiers they cross: those under a quartier
        # of an area target cross the target; only a drawn target needs the geometry
        shape = target.geometry(catalogue) if target.shape is not None else None
        return index.match(entries, category, severity, shape, explain, reasons)
