"""A calendar render that takes its time chunk by chunk, so a test can act while it runs."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from services.calendar_worker import rendering
from shared.contracts.events import TodoSnapshot
from shared.contracts.ical import EVENTS_PER_CHUNK, render_calendar


@dataclass
class SlowRender:
    """render_calendar, `chunk_s` slower per chunk; counts the chunks it rendered."""

    chunk_s: float
    chunks: int = 0

    def __call__(self, todos: Iterable[TodoSnapshot], stamp: datetime) -> Iterator[bytes]:
        for chunk in render_calendar(todos, stamp):
            # the worker renders large calendars in a thread: this sleep blocks no event loop
            time.sleep(self.chunk_s)
            self.chunks += 1
            yield chunk


def slow_render(monkeypatch: pytest.MonkeyPatch, chunk_s: float) -> SlowRender:
    """Make the worker's renders slow for the rest of the test."""
    render = SlowRender(chunk_s)
    monkeypatch.setattr(rendering, "render_calendar", render)
    return render


def chunks_of(todo_count: int) -> int:
    """How many chunks a calendar of `todo_count` todos is rendered in: header, events, footer."""
    return 2 + -(-todo_count // EVENTS_PER_CHUNK)
