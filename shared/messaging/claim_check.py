"""Claim check: a calendar snapshot too large for an SNS message travels through the blob store."""

from __future__ import annotations

from datetime import timedelta

from pydantic import TypeAdapter

from shared.aws.blob_expiry import ExpiringBlobs
from shared.aws.blobs import BlobStore
from shared.contracts.events import CalendarRequested, TodoSnapshot
from shared.contracts.topology import DUPLICATE_WINDOW_S
from shared.settings import Settings

# SNS and SQS take 256 KiB per message, attributes and envelope included; keep a margin
INLINE_LIMIT_BYTES = 200 * 1024
SNAPSHOT_ADAPTER: TypeAdapter[tuple[TodoSnapshot, ...]] = TypeAdapter(tuple[TodoSnapshot, ...])
# every snapshot's blob key is under it (the bucket's lifecycle rule and the folder's expiry)
SNAPSHOTS_PREFIX = "snapshots/"


def snapshot_blob_key(event: CalendarRequested) -> str:
    return f"{SNAPSHOTS_PREFIX}{event.task_id}.json"


def expiring_snapshots(settings: Settings) -> ExpiringBlobs:
    """Snapshots in a folder that keeps them (the embedded mode; on S3 the bucket's lifecycle
    rule, snapshot_expiry_days): deleted once no copy of their request can arrive any more,
    after topology.DUPLICATE_WINDOW_S (SNAPSHOT_EXPIRY_S in tests). Their writer, todo_api,
    deletes them."""
    window = timedelta(seconds=settings.snapshot_expiry_s or DUPLICATE_WINDOW_S)
    return ExpiringBlobs(SNAPSHOTS_PREFIX, window, label="blobs/snapshots")


# a bound on one todo's JSON besides its title and description: the keys, an id, a flag and
# three datetimes with microseconds and an offset come to 221 bytes at most, comma included
TODO_JSON_BOUND_BYTES = 320
# a character of a string written as JSON: at most a \u00XX escape
CHAR_JSON_BOUND_BYTES = 6


async def check_in(event: CalendarRequested, blobs: BlobStore) -> CalendarRequested:
    """Move a large inline snapshot to the blob store; small ones stay in the event.

    A snapshot whose size is bounded below the limit stays without being written as JSON here:
    the event is written once, when it is stored."""
    if event.todos is None or _json_bound(event.todos) <= INLINE_LIMIT_BYTES:
        return event
    payload = SNAPSHOT_ADAPTER.dump_json(event.todos)
    if len(payload) <= INLINE_LIMIT_BYTES:
        return event
    blob_key = snapshot_blob_key(event)
    await blobs.put(blob_key, payload, "application/json")
    return event.model_copy(update={"todos": None, "snapshot_key": blob_key})


def _json_bound(todos: tuple[TodoSnapshot, ...]) -> int:
    """At least the size of the todos as JSON, counted without writing it."""
    characters = sum(len(todo.title) + len(todo.description or "") for todo in todos)
    # the brackets of the list, and its commas within each todo's share
    return 2 + len(todos) * TODO_JSON_BOUND_BYTES + characters * CHAR_JSON_BOUND_BYTES


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
