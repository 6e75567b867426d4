"""Render a snapshot to an .ics blob and describe it as CalendarReady."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from services.calendar_worker.ical import render_calendar
from shared.blobs import BlobStore
from shared.events import CalendarReady, TodoSnapshot


def calendar_key(task_id: UUID) -> str:
    return f"calendars/{task_id}.ics"


def _render(todos: Sequence[TodoSnapshot], stamp: datetime) -> tuple[bytes, str]:
    digest, body = hashlib.sha256(), bytearray()
    for chunk in render_calendar(todos, stamp):
        digest.update(chunk)
        body += chunk
    return bytes(body), digest.hexdigest()


async def render_and_store(
    task_id: UUID, todos: Sequence[TodoSnapshot], stamp: datetime, blobs: BlobStore
) -> CalendarReady:
    # rendering a large calendar takes a while: a thread keeps the loop (and heartbeats) going
    body, sha256 = await asyncio.to_thread(_render, todos, stamp)
    key = calendar_key(task_id)
    await blobs.put(key, body, "text/calendar; charset=utf-8")
    return CalendarReady(
        task_id=task_id, blob_key=key, size_bytes=len(body), sha256=sha256, event_count=len(todos)
    )
