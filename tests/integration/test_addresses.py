"""Find your street through the API and the command line: ``GET /v1/cities/{city}/addresses``
over Paris's shipped extract, and ``notifier gazetteer load`` / ``notifier city create`` with a
BAN-format file for another city (Paris Centre), its rows taken from the extract (real addresses
of Open Data Paris's "Dans ma rue" reports), inside and outside that city."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from notifier.api.openapi.document import document
from subscriptions.gazetteer import addresses_key
from tests.command import run
from tests.paris_centre import DOC_FILE, make_centre

Client = TestClient[Any, Any]
EXTRACT = Path(__file__).parents[2] / "subscriptions" / "data" / "paris_addresses.csv"
SEARCH = "/v1/cities/{city}/addresses"


async def found(api: Client, q: str, city: str = "paris", **more: str) -> list[dict[str, Any]]:
    r = await api.get(SEARCH.format(city=city), params={"q": q, **more})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["available"] is True
    return list(body["addresses"])


async def test_an_address_of_the_13e_is_found_with_its_point_and_areas(api: Client) -> None:
    for typed in ("111 rue de Tolbiac", "111 RUE DE TOLBIAC 75013", "111 r. de tolbiac, 13e"):
        [hit, *_] = await found(api, typed)
        assert hit["label"] == "111 Rue de Tolbiac, 75013 Paris"
        assert hit["point"] == {"lon": 2.363314, "lat": 48.826492}
        assert [(a["kind"], a["name"]) for a in hit["areas"]] == [
            ("quartier", "Gare"),  # its "conseil de quartier" is Olympiades - Choisy
            ("arrondissement", "Gobelins"),
        ]
    [accents] = await found(api, "place aurelie nemours", limit="1")
    assert accents["label"] == "Place Aurélie Nemours, 75013 Paris"
    assert await found(api, "rue de nulle part") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"q": "x"}, "q"), ({}, "q"), ({"q": "x" * 201}, "q"), ({"q": "rue", "limit": "99"}, "limit")],
)
async def test_a_bad_search_is_a_422_naming_the_parameter(
    api: Client, params: dict[str, str], field: str
) -> None:
    r = await api.get(SEARCH.format(city="paris"), params=params)
    assert r.status == 422
    assert (await r.json())["error"]["field"] == field


async def test_a_city_without_a_gazetteer_says_so_and_an_unknown_city_is_a_404(
    api: Client, redis: Redis
) -> None:
    await make_centre(redis)
    r = await api.get(SEARCH.format(city="paris_centre"), params={"q": "rue"})
    assert (r.status, await r.json()) == (
        200,
        {"city": "paris_centre", "available": False, "addresses": []},
    )
    r = await api.get(SEARCH.format(city="atlantis"), params={"q": "rue"})
    assert r.status == 404


def test_the_route_is_in_the_openapi_document() -> None:
    op = document()["paths"][SEARCH.replace("{city}", "{city}")]["get"]
    assert [p["name"] for p in op["parameters"]] == ["q", "limit"]


def extract_rows(*postcodes: str) -> list[str]:
    lines = EXTRACT.read_text(encoding="utf-8").splitlines()
    return [lines[0], *(line for line in lines[1:] if line.split(";")[5] in postcodes)]


async def test_the_cli_loads_a_ban_file_keeping_the_addresses_inside_the_city(
    api: Client, redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    await make_centre(redis)  # 1st to 4th arrondissements
    ban = tmp_path / "adresses-75.csv"
    ban.write_text("\n".join(extract_rows("75003", "75013")) + "\n", encoding="utf-8")
    env = {"NOTIFIER_REDIS_URL": redis_url}
    r = run("gazetteer", "load", str(ban), "--city", "paris_centre", env=env)
    assert r.returncode == 0, r.stderr
    third = len(extract_rows("75003")) - 1  # a report or two lie just across the boundary
    kept = int(r.stdout.split()[1])
    assert third - 2 <= kept <= third and r.stdout.startswith(f"paris_centre: {kept} addresses on ")
    [hit] = await found(api, "10 bis rue des quatre fils", city="paris_centre", limit="1")
    assert hit["label"] == "10 bis Rue des Quatre-Fils, 75003 Paris"
    assert await found(api, "rue de tolbiac", city="paris_centre") == []  # the 13th is not there
    assert await redis.hlen(addresses_key("paris_centre")) == 2  # one compressed string


def test_a_bad_file_is_refused_with_its_line_and_nothing_is_kept(
    redis_url: str, tmp_path: Path
) -> None:
    rows = extract_rows("75003")
    rows[2] = rows[2].replace(";2.", ";deux.", 1)
    ban = tmp_path / "adresses-75.csv"
    ban.write_text("\n".join(rows), encoding="utf-8")
    r = run("gazetteer", "load", str(ban), env={"NOTIFIER_REDIS_URL": redis_url})
    assert r.returncode == 2
    assert r.stderr.startswith("notifier: file: line 3: column lon: 'deux."), r.stderr
    assert "Traceback" not in r.stderr
    r = run("gazetteer", "load", str(tmp_path / "none.csv"), env={"NOTIFIER_REDIS_URL": redis_url})
    assert r.returncode == 2 and "cannot read" in r.stderr


async def test_a_city_document_names_its_address_file(
    api: Client, redis_url: str, tmp_path: Path
) -> None:
    for f in DOC_FILE.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    doc = json.loads(DOC_FILE.read_text())
    doc["addresses"] = {"csv": "adresses-75.csv"}
    (tmp_path / "city.json").write_text(json.dumps(doc))
    (tmp_path / "adresses-75.csv").write_text("\n".join(extract_rows("75004")), encoding="utf-8")
    r = run("city", "create", str(tmp_path / "city.json"), env={"NOTIFIER_REDIS_URL": redis_url})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith("paris_centre: ")
    hits = await found(api, "quai de l'hotel de ville", city="paris_centre")
    assert hits and hits[0]["postcode"] == "75004"
