"""How long and how much memory the calendar renderer needs for many todos."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from services.calendar_worker.tool_face import render_calendar
from shared.contracts.events import TodoSnapshot

STAMP = datetime(2024, 4, 17, 14, 0, tzinfo=UTC)
CREATED_AT = datetime(2024, 4, 1, 9, 0)


def synthetic_todos(count: int) -> list[TodoSnapshot]:
    """Todos with a realistic mix: commas, long non-ASCII titles, missing fields."""
    return [_synthetic_todo(number) for number in range(1, count + 1)]


def bench_render(count: int) -> tuple[float, float]:
    """Render `count` todos chunk by chunk: (seconds, peak MB allocated while rendering)."""
    todos = synthetic_todos(count)
    started = time.perf_counter()
    size_bytes = _consume(todos)
    seconds = time.perf_counter() - started
    # a second run under tracemalloc, which slows Python down and would distort the time
    tracemalloc.start()
    try:
        _consume(todos)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size_bytes > 0
    return seconds, peak_bytes / 1_000_000


def _consume(todos: list[TodoSnapshot]) -> int:
    return sum(len(chunk) for chunk in render_calendar(todos, STAMP))


def _synthetic_todo(number: int) -> TodoSnapshot:
    deadline = CREATED_AT + timedelta(days=number % 30, hours=number % 24)
    return TodoSnapshot(
        id=number,
        title=f"Todo {number}: write the report, chapter {number % 12}"
        if number % 5
        else f"Projektbericht über Ärger mit Zeitplänen, 東京の会議 #{number} 📅",
        description=None if number % 3 == 0 else f"Notes for todo {number}; see the wiki",
        completed=number % 2 == 0,
        deadline_at=None if number % 7 == 0 else deadline,
        created_at=CREATED_AT,
        updated_at=CREATED_AT,
    )


if __name__ == "__main__":
    for count in (10_000, 100_000):
        seconds, peak_mb = bench_render(count)
        print(f"render {count:>7,} todos: {seconds:.3f} s, peak {peak_mb:.1f} MB")
