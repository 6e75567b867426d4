"""Claim check: a calendar snapshot too large for an SNS message travels through the blob store."""

from __future__ import annotations

from pydantic import TypeAdapter

from shared.aws.blobs import BlobStore
from shared.contracts.events import CalendarRequested, TodoSnapshot

# SNS and SQS take 256 KiB per message, attributes and envelope included; keep a margin
INLINE_LIMIT_BYTES = 200 * 1024
SNAPSHOT_ADAPTER: TypeAdapter[tuple[TodoSnapshot, ...]] = TypeAdapter(tuple[TodoSnapshot, ...])


def snapshot_blob_key(event: CalendarRequested) -> str:
    return f"snapshots/{event.task_id}.json"


async def check_in(event: CalendarRequested, blobs: BlobStore) -> CalendarRequested:
    """Move a large inline snapshot to the blob store; small ones stay in the event."""
    if event.todos is None:
        return event
    payload = SNAPSHOT_ADAPTER.dump_json(event.todos)
    if len(payload) <= INLINE_LIMIT_BYTES:
        return event
    blob_key = snapshot_blob_key(event)
    await blobs.put(blob_key, payload, "application/json")
    return event.model_copy(update={"todos": None, "snapshot_key": blob_key})


async def check_out(event: CalendarRequested, blobs: BlobStore) -> tuple[TodoSnapshot, ...]:
    """The event's todos, fetched from the blob store when they were claim-checked.

    A snapshot gone from the store (S3's 404, or its 403 to a role that may not list the bucket)
    raises BlobNotFoundError, which the worker takes as final: no retry brings it back.
    """
    if event.todos is not None:
        return event.todos
    if event.snapshot_key is None:
        raise ValueError("CalendarRequested carries neither todos nor a snapshot key")
    return SNAPSHOT_ADAPTER.validate_json(await blobs.get(event.snapshot_key))
