"""Fixtures of the integration tests only: a server that never answers (the channels' time
limits), and the property tests' message stage (``tests/properties/stage.py``) for the plain tests
of what they found."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from notifier.dev import embedded

# the property tests' stage, for the plain tests of what they found
from tests.properties.stage import stage  # noqa: F401


@pytest.fixture
async def hanging() -> AsyncIterator[str]:
    """A server that accepts the request and never answers (until the test ends)."""
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=201)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1", port=embedded.free_port())
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    release.set()
    await server.close()
