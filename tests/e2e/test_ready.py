"""Ready means ready: a worker says it is ready once it has joined its consumer group and
loaded the cities, and ``notifier up`` says it is up (banner and ``/readyz``) only then."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from notifier.dev import embedded
from notifier.settings import Settings
from tests.stage import eventually


async def _readyz(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str]] | None:
    """(status, body) of a ``/readyz``, or None while nothing listens."""
    try:
        async with http.get(url) as r:
            return r.status, await r.json(content_type=None)
    except aiohttp.ClientConnectionError:
        return None


async def test_the_worker_is_ready_once_it_has_joined_its_group(
    settings: Settings, tmp_path: Path
) -> None:
    """Its ``/readyz`` (on its metrics port) answers 503 from its start, saying what it waits
    for, and 200 once it has joined its group (Faust's line of the partitions it was given is in
    its log by then) and loaded the cities."""
    base = f"http://127.0.0.1:{settings.worker_metrics_port}"
    log = tmp_path / "worker.log"
    proc = embedded.spawn(
        embedded.python_module("notifier", "worker"), log, env=embedded.child_env(settings.to_env())
    )
    seen: list[tuple[int, dict[str, str], bool]] = []  # status, body, joined in the log then
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                answer = await _readyz(http, f"{base}/readyz")
                if answer is not None:
                    seen.append((*answer, "_on_partitions_assigned" in log.read_text()))
                return answer is not None and answer[0] == 200

            await eventually(ready, within=90, what="the worker's /readyz saying ready")
            metrics = await http.get(f"{base}/metrics")
            assert metrics.status == 200 and "notifier_" in await metrics.text()
    finally:
        embedded.stop(proc)
    first_status, first, _ = seen[0]
    assert (first_status, first["status"], first["group"]) == (503, "not ready", "joining")
    assert seen[-1][:2] == (200, {"status": "ready", "group": "joined", "cities": "loaded"})
    assert seen[-1][2], "the worker said ready before its log showed the partitions it holds"
    assert {status for status, _, _ in seen} == {503, 200}


async def test_notifier_up_is_up_only_once_its_worker_has_joined(tmp_path: Path) -> None:
    """Its ``/readyz`` answers 200, and its banner comes, only after the worker's log shows
    the partitions it was assigned (Faust's line); before, ``/readyz`` says what it waits for."""
    port = embedded.free_port()
    env = embedded.child_env(
        {"NOTIFIER_DATA_DIR": str(tmp_path / "var"), "NOTIFIER_API_PORT": str(port)}
    )
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(  # noqa: ASYNC220 (started once, then polled)
            [sys.executable, "-m", "notifier", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    seen: list[tuple[int, dict[str, str], bool]] = []  # status, body, joined in the log then
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                answer = await _readyz(http, f"http://127.0.0.1:{port}/readyz")
                if answer is None:
                    return False
                # read after the answer: a 200 must already have the worker's line behind it
                seen.append((*answer, "_on_partitions_assigned" in log.read_text()))
                return answer[0] == 200

            await eventually(ready, within=120, what="`notifier up`'s /readyz saying ready")
        text = await eventually(
            lambda: "Department key" in log.read_text() and log.read_text(),
            what="the banner of `notifier up`",
        )
        assert seen[-1][2], "/readyz said 200 before the worker had joined its group"
        assert all(joined for status, _, joined in seen if status == 200)
        waiting = [body for status, body, _ in seen if status == 503]
        assert all(body["worker"] != "ok" for body in waiting)
        banner = text.index("notifier is up")
        assert text.index("_on_partitions_assigned") < banner
        assert text.index("waiting for the worker") < banner  # it said what it waited for
        assert re.search(r"Worker: +http://127\.0\.0\.1:\d+/metrics", text)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(30)
    assert up.returncode == 0
