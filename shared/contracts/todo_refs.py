"""A calendar snapshot by reference: which version of which todo it holds, written compactly.

A snapshot is the tenant's todos as they stood when the calendar was asked for; the todo streams
in todo_api's log hold every version of every todo, so naming the (id, version) pairs names the
snapshot exactly, concurrent edits or not. Written as runs of consecutive ids at one version,
`first[-last]:version` separated by commas: a board of 1,000 todos created in a row and never
edited is `1-1000:1`, and each edited todo adds a run or two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# a whole reference string: runs, comma separated (empty: no todos)
REFS_PATTERN = r"^(\d+(-\d+)?:\d+(,\d+(-\d+)?:\d+)*)?$"
_RUN = re.compile(r"(\d+)(?:-(\d+))?:(\d+)")


def encode_refs(versions: Iterable[tuple[int, int]]) -> str:
    """The (todo id, stream version) pairs, in id order, as runs."""
    runs: list[list[int]] = []
    for todo_id, version in sorted(versions):
        last = runs[-1] if runs else None
        if last is not None and last[1] + 1 == todo_id and last[2] == version:
            last[1] = todo_id
        else:
            runs.append([todo_id, todo_id, version])
    return ",".join(
        f"{first}:{version}" if first == last else f"{first}-{last}:{version}"
        for first, last, version in runs
    )


def decode_refs(refs: str, at_most: int) -> list[tuple[int, int]]:
    """The (todo id, stream version) pairs the runs name, in id order; ValueError if malformed
    or naming more than `at_most` todos (the request's count: a run cannot make a huge list)."""
    if not re.fullmatch(REFS_PATTERN, refs):
        raise ValueError(f"not a todo reference list: {refs[:80]!r}")
    pairs: list[tuple[int, int]] = []
    for match in _RUN.finditer(refs):
        first, last, version = int(match[1]), int(match[2] or match[1]), int(match[3])
        if last < first:
            raise ValueError(f"run {match[0]!r} ends before it starts")
        if len(pairs) + last - first + 1 > at_most:
            raise ValueError(f"the references name more than {at_most} todos")
        pairs.extend((todo_id, version) for todo_id in range(first, last + 1))
    return pairs
