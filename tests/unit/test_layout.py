"""The tests' own layout (issue #19): every test module is in the folder of its kind, and no
module of the tests imports from a test module or a conftest; what tests share is a plain
module (``tests/stage.py``, ``tests/web/site.py``…) or a fixture in a conftest."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
KINDS = {"unit", "integration", "e2e", "drills", "web", "security", "properties"}


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_every_test_module_is_in_the_folder_of_its_kind() -> None:
    misplaced = [
        str(p.relative_to(TESTS))
        for p in TESTS.rglob("test_*.py")
        if p.relative_to(TESTS).parts[0] not in KINDS
    ]
    assert misplaced == [], f"put these under one of tests/{sorted(KINDS)}"


def test_no_module_imports_from_a_test_module_or_a_conftest() -> None:
    wrong = sorted(
        f"{p.relative_to(TESTS)} imports {name}"
        for p in TESTS.rglob("*.py")
        for name in imported(p)
        if name.startswith("tests.")
        and any(part.startswith("test_") or part == "conftest" for part in name.split("."))
    )
    assert wrong == [], "move what they share into a plain module or a conftest fixture"


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "test_x.py"
    module.write_text("def test_y():\n    from tests.unit.test_cap import BILLION_LAUGHS\n")
    assert "tests.unit.test_cap" in imported(module)
