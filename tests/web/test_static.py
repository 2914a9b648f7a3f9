"""What the pages are made of, without a browser: the strings in both languages, the map's
geometry endpoint, the pages' headers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

STATIC = Path(__file__).resolve().parents[2] / "notifier" / "web" / "static"
# keys built at run time from a value: the prefix, and the values it takes
DYNAMIC = {
    "category.": "roadworks water waste transport events safety weather environment culture "
    "general",
    "severity.": "unknown minor moderate severe extreme",
    "level.": "unknown minor moderate severe extreme",
    "day.": "monday tuesday wednesday thursday friday saturday sunday",
    "channel.": "email sms push",
    "status.": "pending confirmed unsubscribed opted_out bounced gone",
    "event.": "scheduled accepted processed cancelled",
    "figure.": "queued sending sent delivered failed undelivered expired skipped superseded "
    "cancelled other",
    "map.mode.": "areas point polygon",
    "map.level.": "quartier arrondissement",
    "map.help.": "areas point polygon",
    "portal.error.where.": "areas point polygon",
}


def used_keys() -> set[str]:
    keys = set()
    for path in [*STATIC.glob("*.js"), *STATIC.glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r"data-i18n=\"(\w+\.[\w.]+)\"", text))
        keys |= set(re.findall(r"[:;]([a-z_]+\.[\w.]+)\"", text))  # data-i18n-attr
        keys |= set(re.findall(r"\bt\(\s*\"([\w.]+)\"", text))
        keys |= set(re.findall(r"\"((?:push|portal|manage|console|map|dev)\.[\w.]+)\"", text))
    for prefix, values in DYNAMIC.items():
        keys |= {prefix + v for v in values.split()}
    return keys


def test_every_string_is_in_french_and_in_english() -> None:
    strings = json.loads((STATIC / "strings.json").read_text(encoding="utf-8"))
    assert set(strings) == {"fr", "en"}
    assert set(strings["fr"]) == set(strings["en"])
    missing = sorted(used_keys() - set(strings["fr"]))
    assert missing == []
    for lang in ("fr", "en"):
        for key, value in strings[lang].items():
            forms = value.values() if isinstance(value, dict) else [value]
            assert all(isinstance(f, bool) or f.strip() for f in forms), (lang, key)


async def test_the_map_draws_every_area_and_names_an_unknown_city(
    api: TestClient[Any, Any],
) -> None:
    r = await api.get("/v1/cities/paris/map")
    assert r.status == 200
    body = await r.json()
    kinds = [a["kind"] for a in body["areas"]]
    assert kinds.count("arrondissement") == 20 and kinds.count("quartier") == 80
    saint_victor = next(a for a in body["areas"] if a["code"] == "7510501")
    assert saint_victor["parent"] == "75105" and saint_victor["d"].startswith("M")
    tr = body["transform"]
    # the label of the 5th (around the Panthéon) falls where its longitude and latitude say
    fifth = next(a for a in body["areas"] if a["code"] == "75105")
    lon = tr["lon0"] + fifth["label"][0] / tr["x_per_lon"]
    lat = tr["lat0"] - fifth["label"][1] / tr["y_per_lat"]
    assert 2.34 < lon < 2.37 and 48.83 < lat < 48.86
    assert 0 < body["height"] < body["width"] == 1000
    r = await api.get("/v1/cities/atlantis/map")
    assert r.status == 404
    assert (await r.json())["error"]["reason"] == "no city 'atlantis'"


async def test_the_pages_allow_only_their_own_scripts(api: TestClient[Any, Any]) -> None:
    for path in ("/", "/console"):
        r = await api.get(path)
        assert r.status == 200 and r.content_type == "text/html"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        text = await r.text()
        assert "{{" not in text and "<script>" not in text
    page = await (await api.get("/")).text()
    assert 'content="email,sms,push"' in page  # the channels offered here
    r = await api.get("/sw.js")
    assert r.content_type == "text/javascript" and "notificationclick" in await r.text()
    assert (await api.get("/dev/")).status == 404  # only under `notifier up`
