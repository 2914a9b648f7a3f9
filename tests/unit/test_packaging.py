"""The flat layout uses package names other distributions use too: make sure ours are loaded,
the data files ship, and the worker registers the agents we expect."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

from notifier.settings import Secret, Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["notifier", "channels", "subscriptions", "templates", "streams"])
def test_packages_import_from_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == ROOT / name


def test_build_lists_the_packages_and_the_data_folders() -> None:
    """Every folder of ours is in the list: those with an ``__init__.py`` (or the wheel would
    leave them out) and those that hold only data (templates, pages, area catalogues), which
    setuptools asks to see listed (it warns at every install otherwise, and will refuse).
    ``tests/e2e/test_install.py`` builds the wheel and finds every file in it."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    top = [p for p in conf["packages"] if "." not in p]
    assert top == ["notifier", "channels", "subscriptions", "templates", "streams"]
    folders = {
        ".".join(path.relative_to(ROOT).parts)
        for name in top
        for path in [ROOT / name, *(ROOT / name).glob("**/")]
        if "__pycache__" not in path.parts and any(f.is_file() for f in path.iterdir())
    }
    assert set(conf["packages"]) == folders
    assert "**/*.j2" in conf["package-data"]["templates"]
    assert list((ROOT / "templates").glob("**/*.j2"))
    assert (ROOT / "subscriptions/data/paris_arrondissements.geojson").exists()


def test_the_worker_registers_the_expected_agents(tmp_path: Path) -> None:
    from notifier.worker import build_worker_app

    settings = Settings(
        kafka_url="kafka://127.0.0.1:1",
        redis_url="redis://127.0.0.1:1",
        smtp_url=Secret("smtp://127.0.0.1:1"),
        secret_key=Secret("k" * 48),
        topic_prefix="x.",
        data_dir=tmp_path,
    )
    app = build_worker_app(settings)
    agents = {
        name: set(agent.channel.topics)  # type: ignore[attr-defined]
        for name, agent in app.agents.items()
    }
    assert agents == {
        "notifier.match-city-events": {"x.city-events"},
        "notifier.match-request-status": {"x.request-status"},
        "notifier.expand-fanout": {"x.fanout"},
        "notifier.send-email": {"x.deliveries.email"},
        "notifier.send-sms": {"x.deliveries.sms"},
        "notifier.send-push": {"x.deliveries.push"},
        **{
            f"notifier.send-{channel}-{lane}": {f"x.deliveries.{channel}.{lane}"}
            for channel in ("email", "sms", "push")
            for lane in ("urgent", "bulk", "digest")
        },
        "notifier.release-digests": {"x.digests"},
        "notifier.track-receipts": {"x.receipts"},
    }
    # warm-up, lanes; outbox sweep, scheduler, cities, backlog watch, heartbeat, consumer lag
    assert len(app._app_tasks) == 8
    assert app.conf.web_enabled is False


def test_channels_subscriptions_and_templates_stay_independent() -> None:
    for package in ("channels", "subscriptions", "templates"):
        for path in (ROOT / package).glob("*.py"):
            source = path.read_text()
            for forbidden in ("import faust", "from streams", "from notifier", "import notifier"):
                assert forbidden not in source, f"{path.name} imports {forbidden}"


def test_the_workers_fetches_wait_briefly() -> None:
    """Tansu holds a fetch for its whole wait even when records come: a short wait is what
    keeps each hop of a notification (city-events, deliveries) quick. Faust makes the worker's
    consumer with 1.5 s; ``create_app`` installs ours on its consumer thread, once, and it sets
    100 ms."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from streams.app import FETCH_MAX_WAIT_MS, _short_fetches, create_app, short_fetches

    create_app("fetches", "kafka://127.0.0.1:1", 10.0)
    installed = AIOKafkaConsumerThread._create_worker_consumer
    assert getattr(installed, "short_fetches", False)
    short_fetches()  # again: the one wrapper stays
    assert AIOKafkaConsumerThread._create_worker_consumer is installed
    made = types.SimpleNamespace(_fetch_max_wait_ms=1500)  # as Faust creates it
    assert _short_fetches(lambda thread, transport: made)(None, None) is made
    assert made._fetch_max_wait_ms == FETCH_MAX_WAIT_MS == 100


def test_importing_the_code_changes_nothing_in_faust_or_logging() -> None:
    """What a process changes in its libraries (Faust's fetch wait, ``logging``'s look-ups, the
    delivery lines' writer) is a step of its start, never a side effect of an import."""
    check = """
import logging
srcfile = logging._srcfile
import channels.base, channels.email, channels.sms, channels.push
import notifier.cli.main, notifier.logs, notifier.wiring, notifier.worker, notifier.up
import notifier.api.app
import streams.app, streams.agents
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
assert not hasattr(AIOKafkaConsumerThread._create_worker_consumer, "short_fetches")
assert logging._srcfile is srcfile is not None and logging.logThreads
assert not logging.getLogger().handlers
"""
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_the_worker_and_the_api_never_import_the_dev_fakes() -> None:
    """The fakes of ``notifier.dev`` are for ``notifier up`` and the tests: a production worker
    imports nothing of ``notifier.dev``, and the API only the routes that show the local outbox."""
    check = """
import sys
import notifier.worker
assert not [m for m in sys.modules if m.startswith("notifier.dev")], sys.modules.keys()
import notifier.api.app
fakes = [m for m in sys.modules if m.startswith("notifier.dev.") and m.endswith("_fake")]
assert not fakes, fakes
"""
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_the_delivery_core_and_the_state_never_import_faust() -> None:
    """``streams.delivery`` and ``streams.state`` are plain async code the API and the CLI use
    too (the ledger, the event store, the scheduler): Faust is the worker's alone."""
    check = """
import importlib, pkgutil, sys
import streams.delivery, streams.state
for package in (streams.delivery, streams.state):
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
assert "faust" not in sys.modules, [m for m in sys.modules if m.startswith("faust")]
"""
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
