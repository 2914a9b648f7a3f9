"""The second city of the tests: Paris Centre, derived from the Open Data Paris boundaries
(``tests/data/cities/SOURCES.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from subscriptions.city_document import put_city

DOC_FILE = Path(__file__).parent / "data" / "cities" / "paris_centre" / "city.json"


def centre_doc() -> dict[str, Any]:
    """The city document with its GeoJSON inline, as ``PUT /v1/cities/{city}`` takes it."""
    doc = json.loads(DOC_FILE.read_text())
    for level in ("areas", "subareas"):
        doc[level]["geojson"] = json.loads((DOC_FILE.parent / doc[level]["geojson"]).read_text())
    return dict(doc)


async def make_centre(redis: Redis) -> None:
    await put_city(redis, centre_doc())
