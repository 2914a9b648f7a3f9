"""The ``notifier`` command as a user runs it: a process of this interpreter, its output kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from notifier.dev import embedded


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        capture_output=True,
        text=True,
        env=embedded.child_env(env or {}),
        timeout=60,
        cwd=cwd,
    )
