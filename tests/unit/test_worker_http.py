"""What the worker's own HTTP server answers, called as WSGI (``tests/e2e/test_ready.py`` runs
a real worker and asks its port)."""

from __future__ import annotations

import json
from typing import Any
from wsgiref.util import setup_testing_defaults

from prometheus_client import CollectorRegistry, Counter

from notifier.worker_http import WorkerReadiness, wsgi_app


def call(app: Any, path: str) -> tuple[str, bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers: status.append(s)))
    return status[0], body


def test_readyz_says_what_the_worker_waits_for_until_both_are_done() -> None:
    readiness = WorkerReadiness()
    app = wsgi_app(CollectorRegistry(), readiness)
    status, body = call(app, "/readyz")
    assert status.startswith("503")
    assert json.loads(body) == {"status": "not ready", "group": "joining", "cities": "loading"}
    readiness.cities_loaded = True
    status, body = call(app, "/readyz")
    assert status.startswith("503") and json.loads(body)["group"] == "joining"
    readiness.joined = True
    status, body = call(app, "/readyz")
    assert status.startswith("200")
    assert json.loads(body) == {"status": "ready", "group": "joined", "cities": "loaded"}


def test_metrics_and_health_answer_whatever_the_readiness() -> None:
    registry = CollectorRegistry()
    Counter("notifier_things", "things", registry=registry).inc()
    app = wsgi_app(registry, WorkerReadiness())
    status, body = call(app, "/metrics")
    assert status.startswith("200") and b"notifier_things_total 1.0" in body
    status, body = call(app, "/healthz")
    assert status.startswith("200") and json.loads(body) == {"status": "ok"}
