"""The worker's own small HTTP server, on ``NOTIFIER_WORKER_METRICS_HOST:PORT``: ``/metrics``
(Prometheus) and ``/readyz``, the worker's readiness.

A worker is ready once it has joined its consumer group (its first rebalance has completed: it
holds its partitions and fetches from them) and loaded the cities with their subscriptions
(the matcher answers without going to Redis first). Until then ``/readyz`` answers 503 and
says which of the two it still waits for. The API's own ``/readyz`` never asks the workers: a
production API is ready when Redis and the broker are, whatever the workers do.

The server runs in a thread, as ``prometheus_client``'s does, so that a busy event loop does
not hide the figures; the flags it reads are plain attributes the loop sets.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer


class WorkerReadiness:
    """What the worker still waits for before it can deliver."""

    def __init__(self) -> None:
        self.joined = False  # its consumer group joined, partitions assigned and resumed
        self.cities_loaded = False  # the cities and their subscriptions in memory

    @property
    def ready(self) -> bool:
        return self.joined and self.cities_loaded

    def report(self) -> dict[str, str]:
        return {
            "status": "ready" if self.ready else "not ready",
            "group": "joined" if self.joined else "joining",
            "cities": "loaded" if self.cities_loaded else "loading",
        }


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not log lines
        pass


def wsgi_app(registry: CollectorRegistry, readiness: WorkerReadiness) -> Callable[..., Any]:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path in ("/readyz", "/healthz"):
            body = readiness.report() if path == "/readyz" else {"status": "ok"}
            status = "503 Service Unavailable"
            if path == "/healthz" or readiness.ready:
                status = "200 OK"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        return metrics(environ, start_response)  # type: ignore[no-any-return]

    return app


def serve(
    host: str, port: int, registry: CollectorRegistry, readiness: WorkerReadiness
) -> ThreadingWSGIServer:
    """Serve ``/metrics``, ``/readyz`` and ``/healthz`` from a daemon thread."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class Server(ThreadingWSGIServer):
        address_family = family

    httpd = make_server(host, port, wsgi_app(registry, readiness), Server, handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, name="worker-http", daemon=True).start()
    return httpd
