"""The tests' own layout: helpers live in tests/support, and no test module imports another."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_test_module_imports_another() -> None:
    offending = {
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in TESTS.rglob("*.py")
        for module in imported_modules(path)
        if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")
    }

    assert not offending, "move what they share to tests/support: " + "; ".join(sorted(offending))


def test_helpers_live_in_support_and_every_other_module_is_a_test() -> None:
    strays = {
        str(path.relative_to(TESTS.parent))
        for path in TESTS.rglob("*.py")
        if "support" not in path.relative_to(TESTS).parts
        and path.name not in ("__init__.py", "conftest.py")
        and not path.name.startswith("test_")
    }

    assert not strays, f"helpers belong in tests/support: {sorted(strays)}"


def test_no_production_module_cites_a_test_path() -> None:
    # a test moves or is renamed without the code knowing: name the behaviour, not the file
    root = TESTS.parent
    citing = {
        f"{path.relative_to(root)}:{number}"
        for folder in ("shared", "services", "embedded", "scripts")
        for path in (root / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "tests/" in line
    }

    assert not citing, f"production code cites test paths: {sorted(citing)}"
