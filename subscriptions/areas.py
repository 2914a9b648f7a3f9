"""The area catalogue of a city: named areas (arrondissements, quartiers) with their geometry.

Area codes are the official ones (INSEE for Paris: ``75105`` for the 5th arrondissement,
``7510501`` for its first quartier). A two-level hierarchy (arrondissement > quartier) lets an
event on one level reach subscribers of the other where they overlap.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from shapely import STRtree, unary_union
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from subscriptions.errors import InvalidInput
from subscriptions.geometry import Projection

MIN_OVERLAP_M2 = 1.0


@dataclasses.dataclass(frozen=True)
class Area:
    code: str
    kind: str  # the level's name: "arrondissement", "quartier" in Paris
    name: str
    parent: str | None
    geometry: BaseGeometry = dataclasses.field(compare=False, repr=False)  # lon/lat
    metric: BaseGeometry = dataclasses.field(compare=False, repr=False)  # metres


class AreaCatalogue:
    def __init__(self, areas: Iterable[Area], projection: Projection) -> None:
        self.projection = projection
        self._areas = {a.code: a for a in areas}
        self._children: dict[str, list[str]] = {}
        for a in self._areas.values():
            if a.parent:
                self._children.setdefault(a.parent, []).append(a.code)
        self._codes = list(self._areas)
        self._tree = STRtree([self._areas[c].metric for c in self._codes])
        self.boundary = unary_union([a.metric for a in self._areas.values() if a.parent is None])

    def __len__(self) -> int:
        return len(self._areas)

    def __contains__(self, code: object) -> bool:
        return code in self._areas

    def get(self, code: str) -> Area:
        try:
            return self._areas[code]
        except KeyError:
            raise InvalidInput("area", f"unknown area code {code!r}") from None

    def of_kind(self, kind: str) -> list[Area]:
        return sorted((a for a in self._areas.values() if a.kind == kind), key=lambda a: a.code)

    def related(self, codes: Iterable[str]) -> set[str]:
        """The codes themselves, their ancestors and their descendants.

        An event on a quartier concerns the subscribers of its arrondissement; an event on an
        arrondissement concerns the subscribers of each of its quartiers.
        """
        out: set[str] = set()
        for code in codes:
            area = self.get(code)
            out.add(code)
            parent = area.parent
            while parent:
                out.add(parent)
                parent = self._areas[parent].parent
            stack = list(self._children.get(code, ()))
            while stack:
                child = stack.pop()
                out.add(child)
                stack.extend(self._children.get(child, ()))
        return out

    def leaves(self, codes: Iterable[str]) -> set[str]:
        """The lowest-level areas (quartiers) the codes cover."""
        return {c for c in self.related(codes) if c not in self._children}

    def intersecting(self, metric: BaseGeometry) -> set[str]:
        """Codes of the areas that share some surface (1 m² or more: the boundary files
        overlap by slivers of a few cm²) with a metric geometry."""
        out = set()
        for i in self._tree.query(metric, predicate="intersects"):
            code = self._codes[i]
            if (
                metric.area == 0
                or self._areas[code].metric.intersection(metric).area >= MIN_OVERLAP_M2
            ):
                out.add(code)
        return out

    def crossed_leaves(self, metric: BaseGeometry) -> set[str]:
        """The lowest-level areas (quartiers) a metric geometry shares surface with."""
        return {c for c in self.intersecting(metric) if c not in self._children}

    def union(self, codes: Iterable[str]) -> BaseGeometry:
        return unary_union([self.get(c).metric for c in codes])

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"code": a.code, "kind": a.kind, "name": a.name, "parent": a.parent}
            for a in sorted(self._areas.values(), key=lambda a: (a.parent is not None, a.code))
        ]


def _features(path: Path | Any) -> list[dict[str, Any]]:
    with path.open("rb") as fh:
        data = json.load(fh)
    if data.get("type") != "FeatureCollection":
        raise ValueError(f"{path}: not a GeoJSON FeatureCollection")
    return list(data["features"])


def load_paris() -> AreaCatalogue:
    """Paris's 20 arrondissements and 80 quartiers, from the files shipped in ``data/``."""
    data = resources.files("subscriptions") / "data"
    projection = Projection(lon=2.3488, lat=48.8534)  # Notre-Dame, point zéro des routes de France
    areas: list[Area] = []

    def area(code: object, kind: str, name: str, parent: str | None, geojson: Any) -> Area:
        g = shape(geojson)
        return Area(str(code), kind, name, parent, g, projection.to_metric(g))

    for f in _features(data / "paris_arrondissements.geojson"):
        p = f["properties"]
        areas.append(area(p["c_arinsee"], "arrondissement", p["l_aroff"], None, f["geometry"]))
    for f in _features(data / "paris_quartiers_administratifs.geojson"):
        p = f["properties"]
        parent = str(75100 + int(p["c_ar"]))
        areas.append(area(p["c_quinsee"], "quartier", p["l_qu"], parent, f["geometry"]))
    return AreaCatalogue(areas, projection)


CATALOGUES = {"paris": load_paris}


def load_catalogue(city: str) -> AreaCatalogue:
    try:
        return CATALOGUES[city]()
    except KeyError:
        raise InvalidInput("city", f"no area catalogue for city {city!r}") from None
