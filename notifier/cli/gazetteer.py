"""``notifier gazetteer load FILE [--city C]``: a city's addresses, from France's national
address base (BAN) CSV format (``adresses-75.csv`` or ``.csv.gz``, one file per département)
or any CSV with the same columns; those inside the city's areas are kept, replacing the city's
gazetteer. A city document may name the file (``"addresses": {"csv": "adresses-69.csv"}``,
beside the document): ``notifier city create`` then loads it the same way.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from redis.asyncio import Redis

from subscriptions import gazetteer
from subscriptions.cities import Cities


async def load_into(redis: Redis, city: str, path: Path, default_city: str = "paris") -> str:
    """The line to print; ``InvalidInput`` naming the city, or the file's line and column."""
    cities = Cities(redis, default_city)
    catalogue = await cities.require(city)
    streets = await asyncio.to_thread(gazetteer.read_file, path, catalogue)
    kept = await gazetteer.save(redis, city, streets)
    return f"{city}: {kept} addresses on {len(streets)} streets from {path.name}"
