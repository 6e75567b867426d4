"""The docs name tests that exist: every `tests/...` path, `path::name` and `path::Class::name` in
README.md and ARCHITECTURE.md points at a file, and at a function or class defined in it.

A bare `test_x.py` (its folder clear from the sentence) must name some file under `tests/`.
Parametrised ids in brackets are ignored; a glob (`test_*_contract.py`) is not a reference.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "ARCHITECTURE.md")
# a path under tests/, then any `::name` parts; a `[...]` id after them is left out
REFERENCE = re.compile(r"(?<![\w/.-])(tests/[\w/.*-]*[\w/*])((?:::\w+)*)")
# a test module named without its folder
BARE_MODULE = re.compile(r"(?<![\w/.*-])(test_\w+\.py)(?![\w*])")


def references(text: str) -> list[tuple[str, list[str]]]:
    """Each `tests/...` reference in `text`: its path and its `::` names."""
    found = []
    for match in REFERENCE.finditer(text):
        path, names = match.group(1), match.group(2)
        if "*" in path:
            continue
        found.append((path.rstrip("/"), [name for name in names.split("::") if name]))
    return found


def bare_modules(text: str) -> list[str]:
    return BARE_MODULE.findall(text)


@cache
def definitions(path: Path) -> dict[str, set[str] | None]:
    """Top-level functions and classes of a module; a class maps to its members (inherited
    from classes of the same module included), a function to None."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def members(node: ast.ClassDef) -> set[str]:
        own = {
            item.name
            for item in node.body
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes and base.id != node.name:
                own |= members(classes[base.id])
        return own

    found: dict[str, set[str] | None] = {name: members(node) for name, node in classes.items()}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = None
    return found


def broken(path: str, names: list[str], root: Path = ROOT) -> str | None:
    """Why the reference does not resolve, or None when it does."""
    target = root / path
    if not target.exists():
        return "no such file or folder"
    if not names:
        return None
    if target.suffix != ".py" or not target.is_file():
        return "names a definition in something that is not a Python file"
    top = definitions(target)
    first, rest = names[0], names[1:]
    if first not in top:
        return f"{first} is not defined in {path}"
    if not rest:
        return None
    members = top[first]
    if members is None or len(rest) > 1:
        return f"{first} has no member {'::'.join(rest)}"
    if rest[0] not in members:
        return f"{rest[0]} is not defined in class {first}"
    return None


def modules_under_tests() -> set[str]:
    return {path.name for path in (ROOT / "tests").rglob("test_*.py")}


@pytest.mark.parametrize("doc", DOCS)
def test_every_test_path_and_name_the_docs_give_exists(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    found = references(text)
    assert found, f"{doc} names no test at all: the pattern no longer matches its references"
    problems = []
    for path, names in found:
        reason = broken(path, names)
        if reason is not None:
            problems.append(f"{'::'.join([path, *names])}: {reason}")
    assert not problems, f"{doc} names tests that do not exist:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS)
def test_every_test_module_named_without_its_folder_exists(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    missing = sorted(set(bare_modules(text)) - modules_under_tests())
    assert not missing, f"{doc} names test modules that exist nowhere under tests/: {missing}"


class TestTheChecker:
    """The checker itself catches what it is for (on this very file)."""

    here = "tests/unit/test_docs_references.py"

    def test_it_reads_paths_names_and_classes_and_ignores_parametrised_ids(self) -> None:
        text = (
            f"`{self.here}::TestTheChecker::test_x[leased-postgres]`, "
            "`tests/e2e/conftest.py`), see tests/unit. Not `tests/integration/test_*_contract.py`, "
            "nor `test_*_book_contract.py`, but `test_publisher.py`."
        )

        assert references(text) == [
            (self.here, ["TestTheChecker", "test_x"]),
            ("tests/e2e/conftest.py", []),
            ("tests/unit", []),
        ]
        assert bare_modules(text) == ["test_publisher.py"]

    def test_it_accepts_what_exists(self) -> None:
        assert broken(self.here, []) is None
        assert broken("tests/unit", []) is None
        assert broken(self.here, ["references"]) is None
        assert broken(self.here, ["TestTheChecker", "test_it_accepts_what_exists"]) is None

    def test_it_refuses_a_missing_file_function_class_or_method(self) -> None:
        assert broken("tests/unit/test_gone.py", []) == "no such file or folder"
        assert broken(self.here, ["test_gone"]) == f"test_gone is not defined in {self.here}"
        assert broken(self.here, ["TestTheChecker", "test_gone"]) == (
            "test_gone is not defined in class TestTheChecker"
        )
        assert broken(self.here, ["references", "test_gone"]) == (
            "references has no member test_gone"
        )
