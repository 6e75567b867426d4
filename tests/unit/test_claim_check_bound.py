"""The claim check keeps a snapshot inline without writing it as JSON when a bound says it fits:
the bound must never be below the JSON's real size, whatever the todos hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contracts.events import TodoSnapshot
from shared.messaging.claim_check import SNAPSHOT_ADAPTER, _json_bound

MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.sampled_from(
        [None, UTC, timezone(timedelta(hours=-9, minutes=-30)), timezone(timedelta(hours=14))]
    )
)  # fmt: skip
TODOS = st.builds(
    TodoSnapshot,
    id=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    title=st.text(),
    description=st.none() | st.text(),
    completed=st.booleans(),
    deadline_at=st.none() | MOMENTS,
    created_at=MOMENTS,
    updated_at=MOMENTS,
)


@settings(max_examples=300)
@given(st.lists(TODOS, max_size=20).map(tuple))
def test_the_bound_is_never_below_the_json_s_size(todos: tuple[TodoSnapshot, ...]) -> None:
    assert len(SNAPSHOT_ADAPTER.dump_json(todos)) <= _json_bound(todos)


def test_the_worst_characters_stay_within_the_bound() -> None:
    worst = '\x00\x1f"\\\U0001f600' * 50
    todos = (
        TodoSnapshot(
            id=-(2**63),
            title=worst,
            description=worst,
            completed=False,
            deadline_at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            created_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
            updated_at=datetime(9999, 12, 31, 23, 59, 59, 999999),
        ),
    )

    assert len(SNAPSHOT_ADAPTER.dump_json(todos)) <= _json_bound(todos)
