"""The README's walk-through as a newcomer runs it: a fresh clone, ``make run`` in one
terminal, the walk-through's block pasted at once into another.

The block is read from the clone's README.md as it stands (the test breaks when the README
changes and the service does not, or the other way round); each of its ``# -> …`` lines must
be in what it printed. ``make run`` really installs into the clone's own .venv (pip's cache is
shared, as on a newcomer's machine that has installed anything before): about 3 minutes. The
clone is of HEAD: what is not committed is not in it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from notifier.dev import embedded

ROOT = Path(__file__).resolve().parents[2]
# what setuptools says when the packaging configuration leaves data folders out or is deprecated
# (its one note on an editable install of a flat layout, "Editable installation. Please be
# careful with folders in your working directory…", is neither: it stays, ten lines)
SETUPTOOLS_WARNINGS = re.compile(r"is absent from the `packages`|deprecated|SetuptoolsDeprecation")
# pip's notes about this machine's own index configuration (its pip.conf), not about the project
MACHINE_PIP_NOTES = re.compile(r"WARNING: Location '.*' is ignored")


def walk_through(readme: str) -> str:
    """The shell block of the README's "Walk-through with curl" section."""
    section = readme.split("\n## Walk-through with curl\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, re.S | re.M)
    assert len(blocks) == 1, "the walk-through is one ```sh block"
    return blocks[0]


def expectations(block: str) -> list[list[str]]:
    """The ``# -> …`` lines: the pieces between ``...`` must appear in the output, in order
    (a trailing note in parentheses after two spaces is the README's comment on them)."""
    out = []
    for line in block.splitlines():
        m = re.match(r"\s*# -> (.*)", line)
        if m:
            text = re.sub(r"\s{2,}\(.*\)\s*$", "", m.group(1)).strip()
            out.append([p for p in text.split("...") if p])
    return out


def test_the_walk_through_is_read_from_the_readme() -> None:
    block = walk_through((ROOT / "README.md").read_text())
    assert "wait_for" in block and "$U/dev/outbox" in block
    assert expectations(block)[-1] == [
        """{"error": {"field": "target.areas[0]", "reason": "unknown area code '99999'", """
        """"code": "unknown_area", "errors": [""",
        "]}}",
    ]


@pytest.mark.timeout(1500)
def test_the_readme_walk_through_pasted_at_once_after_make_run_in_a_fresh_clone(
    tmp_path: Path,
) -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    clone = tmp_path / "notifier"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", head], check=True)
    block = walk_through((clone / "README.md").read_text())

    port = embedded.free_port()
    env = embedded.child_env({"NOTIFIER_API_PORT": str(port)})  # no other NOTIFIER_* setting
    env.pop("VIRTUAL_ENV", None)
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        make = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C is sent to all of it
        )
    started = time.monotonic()
    try:
        # the other terminal, pasted at once (bash -e: a command that fails stops it there)
        shell = subprocess.run(
            ["bash", "-e", "-c", block],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        took = time.monotonic() - started
        output = shell.stdout + shell.stderr
        assert shell.returncode == 0, f"the walk-through stopped:\n{output[-3000:]}"
        assert "Traceback" not in output and "Error:" not in output, output[-3000:]
        at = 0
        for pieces in expectations(block):
            for piece in pieces:
                found = output.find(piece, at)
                assert found >= 0, f"{piece!r} is not in what the walk-through printed:\n{output}"
                at = found + len(piece)

        # make run installed quietly: no setuptools warnings, a few lines before the service's
        text = log.read_text()
        install = text[: text.index("/bin/notifier up")]
        assert not SETUPTOOLS_WARNINGS.search(install), install
        lines = [line for line in install.splitlines() if not MACHINE_PIP_NOTES.search(line)]
        assert len(lines) <= 25, "\n".join(lines)
        print(f"make run and the walk-through: {took:.0f} s")  # shown with -s or on a failure
    except BaseException:
        print(log.read_text(errors="replace")[-6000:])
        _ctrl_c(make)
        raise
    else:
        assert _ctrl_c(make) == [], "left behind after Ctrl-C"
    finally:
        shutil.rmtree(clone / ".venv", ignore_errors=True)


def _ctrl_c(make: subprocess.Popen[bytes]) -> list[str]:
    """What Ctrl-C in its terminal does: SIGINT to its process group. What was still running
    after it (then killed): [] when everything stopped."""
    top = psutil.Process(make.pid)
    group = [top, *top.children(recursive=True)]
    os.killpg(make.pid, signal.SIGINT)
    deadline = time.monotonic() + 60
    left = group
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    names = []
    for p in left:
        with contextlib.suppress(psutil.Error):
            names.append(" ".join(p.cmdline()))
            p.kill()
    make.wait()
    return names
