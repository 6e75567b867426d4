"""terraform/ read as data: every .tf file parsed and merged, for tests that check the HCL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
PARSE_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


def blocks(parsed: list[dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for entry in parsed:
        for kind, named in entry.items():
            for name, body in named.items():
                yield kind, name, body


class Terraform:
    """Every .tf file under terraform/, merged: resources and data by (type, name), variables,
    locals and outputs by name."""

    def __init__(self, directory: Path) -> None:
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data: dict[tuple[str, str], dict[str, Any]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        for path in sorted(directory.glob("*.tf")):
            with path.open() as source:
                self._add(hcl2.load(source, serialization_options=PARSE_OPTIONS))

    def _add(self, parsed: dict[str, Any]) -> None:
        self.resources |= {(k, n): body for k, n, body in blocks(parsed.get("resource", []))}
        self.data |= {(k, n): body for k, n, body in blocks(parsed.get("data", []))}
        for variable in parsed.get("variable", []):
            self.variables |= variable
        for local_block in parsed.get("locals", []):
            self.locals |= local_block
        for output in parsed.get("output", []):
            self.outputs |= output


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]
