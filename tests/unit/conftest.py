"""The unit tests start no server: a test here that asks for one of the root fixtures' servers,
directly or through another fixture, belongs in ``tests/integration``."""

from __future__ import annotations

from pathlib import Path

import pytest

SERVERS = frozenset({"kafka_url", "redis_url", "smtp"})  # what every server fixture stands on
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        servers = SERVERS & set(getattr(item, "fixturenames", ()))
        if servers and HERE in item.path.parents:
            wrong.append(f"{item.nodeid} ({', '.join(sorted(servers))})")
    if wrong:
        raise pytest.UsageError("unit tests that need a server: " + "; ".join(wrong))
