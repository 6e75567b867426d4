"""Render a snapshot to an .ics blob and describe it as CalendarReady."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from typing import IO
from uuid import UUID

from shared.blobs import PART_BYTES, BlobStore
from shared.events import CalendarReady, TodoSnapshot
from shared.ical import render_calendar
from shared.metrics import RenderMetrics
from shared.tracing import Attributes, span

# what stays in memory before the file moves to disk: one S3 part
SPOOL_BYTES = PART_BYTES
# up to this many todos render in well under a millisecond: less than a hand-off to a thread
RENDER_ON_LOOP_TODOS = 200


def calendar_key(task_id: UUID) -> str:
    return f"calendars/{task_id}.ics"


def _render(todos: Sequence[TodoSnapshot], stamp: datetime, file: IO[bytes]) -> tuple[int, str]:
    """Write the calendar to `file`; its size and sha256."""
    digest, size = hashlib.sha256(), 0
    for chunk in render_calendar(todos, stamp):
        digest.update(chunk)
        file.write(chunk)
        size += len(chunk)
    file.seek(0)
    return size, digest.hexdigest()


async def render_and_store(
    task_id: UUID,
    todos: Sequence[TodoSnapshot],
    stamp: datetime,
    blobs: BlobStore,
    renders: RenderMetrics | None = None,
) -> CalendarReady:
    """Render and store the calendar; count it in `renders` once its file is stored."""
    started = time.perf_counter()
    about: Attributes = {
        "taskoverflow.task.id": str(task_id),
        "taskoverflow.todo.count": len(todos),
    }
    # a large calendar spills to a temporary file instead of memory, and goes up part by part
    with (
        span("render calendar", about),
        tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as file,
    ):
        if len(todos) <= RENDER_ON_LOOP_TODOS:
            size, sha256 = _render(todos, stamp, file)
        else:
            # rendering takes a while: a thread keeps the loop (and heartbeats) going
            size, sha256 = await asyncio.to_thread(_render, todos, stamp, file)
        key = calendar_key(task_id)
        await blobs.put_file(key, file, "text/calendar; charset=utf-8")
    if renders is not None:
        renders.rendered(len(todos), size, time.perf_counter() - started)
    return CalendarReady(
        task_id=task_id, blob_key=key, size_bytes=size, sha256=sha256, event_count=len(todos)
    )
