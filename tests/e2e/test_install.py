"""The package as pip builds it from a copy of this tree: quietly, and with every file.

The flat layout has data folders inside the packages (templates, pages, area catalogues):
setuptools warned about each at every install (~500 lines) and will refuse them unlisted. The
walk-through's test (``tests/e2e/test_readme.py``) checks ``make run``'s own output too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# what setuptools says of data folders left out of the packages, or of deprecated configuration
SETUPTOOLS_WARNINGS = re.compile(
    r"BuildBackendWarning|SetuptoolsDeprecationWarning|is absent from the `packages`"
)


def test_the_wheel_builds_without_warnings_and_ships_every_file(tmp_path: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    files = [f for f in listed if f and (ROOT / f).is_file()]
    src = tmp_path / "src"  # a copy: pip builds in the source tree (build/, egg-info)
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    output = built.stdout + built.stderr
    assert not SETUPTOOLS_WARNINGS.search(output), output

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    top = {p for p in conf["packages"] if "." not in p}
    [wheel] = (tmp_path / "dist").glob("notifier-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    ours = {f for f in files if f.split("/", 1)[0] in top}
    assert ours - shipped == set()
    assert {f for f in ours if f.endswith(".j2")} and "subscriptions/data/SOURCES.md" in shipped
