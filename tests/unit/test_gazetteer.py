"""The gazetteer without a server: BAN's CSV format read (and refused line by line), the compact
store's round trip, and the search over Paris's shipped extract (real addresses of the Open
Data Paris "Dans ma rue" reports, see ``subscriptions/data/SOURCES.md``)."""

from __future__ import annotations

import pytest

from subscriptions.areas import load_paris
from subscriptions.errors import InvalidInput
from subscriptions.gazetteer import (
    Gazetteer,
    areas_at,
    builtin,
    decode,
    encode,
    parse_query,
    read_ban,
)

HEADER = (
    "id;id_fantoir;numero;rep;nom_voie;code_postal;code_insee;nom_commune;"
    "code_insee_ancienne_commune;nom_ancienne_commune;x;y;lon;lat;type_position;alias;nom_ld;"
    "libelle_acheminement;nom_afnor;source_position;source_nom_voie;certification_commune;"
    "cad_parcelles"
)


def row(numero: str, rep: str, voie: str, lon: str, lat: str, postcode: str = "75013") -> str:
    return (
        f"75113_x_{numero};;{numero};{rep};{voie};{postcode};75113;Paris 13e Arrondissement;;;"
        f";;{lon};{lat};entrée;;;PARIS;;commune;commune;1;"
    )


@pytest.fixture(scope="module")
def paris() -> Gazetteer:
    streets = builtin("paris")
    assert streets is not None
    return Gazetteer(streets)


def test_bans_columns_are_read_by_name_and_grouped_by_street() -> None:
    twelve = row("12", "", "Rue X", "2.35", "48.83")
    lines = [HEADER, twelve, row("12", "bis", "Rue X", "2.351", "48.83")]
    [street] = read_ban(lines)
    assert (street.name, street.postcode, street.commune) == ("Rue X", "75013", "Paris")
    assert [n.number for n in street.numbers] == ["12", "12 bis"]
    assert decode(encode([street]))[0].numbers == street.numbers


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (row("12", "", "Rue X", "2.35", "north"), "line 3: column lat: 'north' is not a number"),
        (row("12", "", "Rue X", "235", "48.8"), "line 3: column lon: 235.0 is not in degrees"),
        (row("douze", "", "Rue X", "2.35", "48.8"), "line 3: column numero: 'douze' is not"),
        (row("12", "", "", "2.35", "48.8"), "line 3: column nom_voie is empty"),
        (row("12", "", "Rue X", "2.35", "48.8", "750"), "line 3: column code_postal: '750'"),
        ("12;Rue X", "line 3: 2 columns where the header has 23"),
    ],
)
def test_a_bad_row_is_refused_with_its_line_and_column(bad: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as e:
        read_ban([HEADER, row("1", "", "Rue X", "2.35", "48.83"), bad])
    assert e.value.field == "file"
    assert e.value.reason.startswith(reason), e.value.reason


def test_a_file_without_bans_columns_is_refused_by_its_header() -> None:
    with pytest.raises(InvalidInput) as e:
        read_ban(["numero,voie,lon,lat", "1,Rue X,2.3,48.8"])
    assert e.value.reason.startswith("line 1: the header lacks numero, rep, nom_voie")
    with pytest.raises(InvalidInput, match="empty"):
        read_ban([])


def test_a_query_is_read_as_number_street_and_postcode() -> None:
    q = parse_query("12 bis, Av. d'Italie 75013")
    assert (q.number, q.postcode, q.words) == ("12 bis", "75013", ("avenue", "italie"))
    assert parse_query("bd Auguste-Blanqui 13e").district == "13"


@pytest.mark.parametrize(
    "typed",
    ["78 rue du Moulin des Prés", "78 RUE DU MOULIN DES PRES", "78 r moulin des pres 75013"],
)
def test_a_street_of_the_13e_is_found_with_or_without_accents(paris: Gazetteer, typed: str) -> None:
    [first, *_] = paris.search(typed)
    assert first["label"] == "78 Rue du Moulin des Prés, 75013 Paris"
    assert first["match"] == "address"
    names = [(a["kind"], a["name"]) for a in areas_at(load_paris(), **first["point"])]
    assert names == [("quartier", "Maison-Blanche"), ("arrondissement", "Gobelins")]


def test_a_street_without_its_number_and_a_number_it_does_not_have(paris: Gazetteer) -> None:
    [street] = paris.search("rue de tolbiac", limit=1)
    assert (street["label"], street["number"], street["match"]) == (
        "Rue de Tolbiac, 75013 Paris",
        None,
        "street",
    )
    [near] = paris.search("50 rue de tolbiac", limit=1)
    assert (near["number"], near["match"]) == ("49", "nearest")


def test_a_postcode_or_an_arrondissement_narrows_a_street_that_crosses_several(
    paris: Gazetteer,
) -> None:
    both = {hit["postcode"] for hit in paris.search("avenue des gobelins")}
    assert both == {"75005", "75013"}
    assert [h["postcode"] for h in paris.search("avenue des gobelins 75005")] == ["75005"]
    assert [h["postcode"] for h in paris.search("av des gobelins 13e")] == ["75013"]
    assert paris.search("rue qui n'existe pas") == []
