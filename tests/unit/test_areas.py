from __future__ import annotations

import pytest

from subscriptions.areas import load_catalogue
from subscriptions.errors import InvalidInput


@pytest.fixture(scope="module")
def paris():
    return load_catalogue("paris")


def test_paris_has_its_20_arrondissements_and_80_quartiers(paris) -> None:
    assert len(paris.of_kind("arrondissement")) == 20
    assert len(paris.of_kind("quartier")) == 80
    assert paris.get("75105").name == "Panthéon"
    assert paris.get("7510501").name == "Saint-Victor"
    assert paris.get("7510501").parent == "75105"


def test_each_quartier_lies_in_its_arrondissement(paris) -> None:
    for q in paris.of_kind("quartier"):
        parent = paris.get(q.parent)
        assert parent.geometry.contains(q.geometry.representative_point()), q.name
        assert q.geometry.intersection(parent.geometry).area / q.geometry.area > 0.99


def test_related_areas_go_up_and_down_the_hierarchy(paris) -> None:
    assert paris.related(["7510501"]) == {"7510501", "75105"}
    assert paris.related(["75105"]) == {"75105", "7510501", "7510502", "7510503", "7510504"}


def test_unknown_area_and_city_are_clear_errors(paris) -> None:
    with pytest.raises(InvalidInput, match="unknown area code '99999'"):
        paris.get("99999")
    with pytest.raises(InvalidInput, match="no area catalogue for city 'lyon'"):
        load_catalogue("lyon")
