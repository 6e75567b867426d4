"""A snapshot's references: any list of (todo id, version) pairs survives the round trip, a
board made in a row is one run, and a malformed or oversized reference list is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts.todo_refs import decode_refs, encode_refs

# a tenant's list: distinct ids, each at some version of its stream
LISTS = st.dictionaries(
    st.integers(min_value=1, max_value=10**12), st.integers(min_value=1, max_value=10**6)
)


@given(LISTS)
def test_any_list_survives_the_round_trip(versions: dict[int, int]) -> None:
    pairs = sorted(versions.items())

    assert decode_refs(encode_refs(pairs), len(pairs)) == pairs


def test_a_board_made_in_a_row_is_one_run_and_each_edit_adds_few() -> None:
    board = [(todo_id, 1) for todo_id in range(1, 1001)]
    edited = [(todo_id, 3 if todo_id == 500 else 1) for todo_id in range(1, 1001)]

    assert encode_refs(board) == "1-1000:1"
    assert encode_refs(edited) == "1-499:1,500:3,501-1000:1"
    assert encode_refs([]) == ""


@pytest.mark.parametrize("refs", ["1-", "a:1", "1:1,", "1:1;2:1", " 1:1", "5-3:1"])
def test_a_malformed_list_is_refused(refs: str) -> None:
    with pytest.raises(ValueError, match=r"reference|ends before"):
        decode_refs(refs, 100)


def test_a_run_naming_more_todos_than_the_request_counts_is_refused() -> None:
    with pytest.raises(ValueError, match="more than 10 todos"):
        decode_refs("1-1000000000:1", 10)
