"""`python -m scripts.asyncapi`: print the AsyncAPI document of the messaging; with `--check`,
validate it against the official AsyncAPI 3.0.0 JSON Schema (npm's @asyncapi/specs, pinned in
tools/asyncapi/ and installed there by make) and check that its references resolve."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from shared.contracts.asyncapi import ASYNCAPI_VERSION, asyncapi_document

SPECS_DIR = Path(__file__).resolve().parents[1] / "tools" / "asyncapi"
SPEC_SCHEMA = SPECS_DIR / "node_modules" / "@asyncapi" / "specs" / "schemas"
INSTALL_HINT = "npm ci --prefix tools/asyncapi (make install does it)"


def specification_schema() -> dict[str, Any]:
    path = SPEC_SCHEMA / f"{ASYNCAPI_VERSION}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {INSTALL_HINT}")
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def problems(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """What the specification's schema refuses, then every local reference that leads nowhere."""
    refused = [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in Draft7Validator(schema).iter_errors(document)
    ]
    dangling = [
        f"{ref}: leads nowhere" for ref in local_refs(document) if not resolves(ref, document)
    ]
    return refused + dangling


def local_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            yield ref
        for value in node.values():
            yield from local_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from local_refs(value)


def resolves(ref: str, document: dict[str, Any]) -> bool:
    node: Any = document
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    document = asyncapi_document()
    if args != ["--check"]:
        if args:
            print("usage: python -m scripts.asyncapi [--check]", file=sys.stderr)
            return 2
        print(json.dumps(document, indent=2))
        return 0
    try:
        schema = specification_schema()
    except FileNotFoundError as missing:
        print(missing, file=sys.stderr)
        return 1
    found = problems(document, schema)
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        return 1
    print(f"AsyncAPI {ASYNCAPI_VERSION} document: valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
