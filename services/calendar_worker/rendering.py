"""Render a snapshot to an .ics blob and describe it as CalendarReady."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO
from uuid import UUID

from shared.aws.blobs import PART_BYTES, BlobStore
from shared.contracts.events import CalendarReady, TodoSnapshot
from shared.contracts.ical import EVENTS_PER_CHUNK, render_calendar
from shared.contracts.tenancy import tenant_folder
from shared.observability.metrics import RenderMetrics
from shared.observability.tracing import Attributes, span

# what stays in memory before the file moves to disk: one S3 part
SPOOL_BYTES = PART_BYTES
# up to this many todos render in well under a millisecond: less than a hand-off to a thread
RENDER_ON_LOOP_TODOS = 200
# every job's file is under it (result_expiry.py deletes them from a folder that keeps them)
CALENDARS_PREFIX = "calendars/"


class RenderCancelledError(Exception):
    """The job was cancelled while its calendar rendered: no outcome is recorded for it."""


@dataclass
class RenderWatch:
    """What a large calendar's render shares with the loop watching it: how far it got, and
    whether to stop. The render's thread writes `done` and reads `cancelled` between chunks."""

    total: int = 0
    done: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.cancelled.is_set():
            raise RenderCancelledError


def calendar_blob_key(tenant: str, task_id: UUID) -> str:
    """Where a job's file is stored: under its tenant's folder, so that no key of one tenant's
    files, guessed or not, is a key of another's."""
    return f"{CALENDARS_PREFIX}{tenant_folder(tenant)}/{task_id}.ics"


def _render(
    todos: Sequence[TodoSnapshot], stamp: datetime, file: IO[bytes], watch: RenderWatch | None
) -> tuple[int, str]:
    """Write the calendar to `file`; its size and sha256. A cancel stops it at the next chunk."""
    digest, size = hashlib.sha256(), 0
    for number, chunk in enumerate(render_calendar(todos, stamp)):
        if watch is not None:
            watch.check()
            # the first chunk is the header, each one after it holds EVENTS_PER_CHUNK todos
            watch.done = min(watch.total, number * EVENTS_PER_CHUNK)
        digest.update(chunk)
        file.write(chunk)
        size += len(chunk)
    file.seek(0)
    return size, digest.hexdigest()


async def render_and_store(
    task_id: UUID,
    tenant: str,
    todos: Sequence[TodoSnapshot],
    stamp: datetime,
    blobs: BlobStore,
    renders: RenderMetrics | None = None,
    watch: RenderWatch | None = None,
) -> CalendarReady:
    """Render and store the calendar; count it in `renders` once its file is stored.

    A `watch` learns how far the render got, and stops it (RenderCancelledError) when its job
    is cancelled before the file is stored.
    """
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
        if watch is not None:
            watch.total = len(todos)
        if len(todos) <= RENDER_ON_LOOP_TODOS:
            size, sha256 = _render(todos, stamp, file, watch)
        else:
            # rendering takes a while: a thread keeps the loop (and heartbeats) going
            size, sha256 = await asyncio.to_thread(_render, todos, stamp, file, watch)
        if watch is not None:
            watch.check()
        blob_key = calendar_blob_key(tenant, task_id)
        await blobs.put_file(blob_key, file, "text/calendar; charset=utf-8")
    if renders is not None:
        renders.rendered(len(todos), size, time.perf_counter() - started)
    return CalendarReady(
        task_id=task_id, blob_key=blob_key, size_bytes=size, sha256=sha256, event_count=len(todos)
    )
