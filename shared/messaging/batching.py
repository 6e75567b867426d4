"""Split entries into batches AWS accepts: SNS PublishBatch and SQS Send/DeleteMessageBatch.

Both services refuse a batch of more than 10 entries and a batch whose messages add up to more
than 256 KiB (attributes included), whatever each entry's own size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
MAX_BATCH_ENTRIES = 10
# one message may be as large as a whole batch
MAX_MESSAGE_BYTES = MAX_BATCH_BYTES = 256 * 1024


def batches(
    items: Iterable[T],
    size_of: Callable[[T], int],
    *,
    max_entries: int = MAX_BATCH_ENTRIES,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Iterator[list[T]]:
    """Yield `items` in order, in batches within both limits.

    An item larger than `max_bytes` on its own is yielded alone, so AWS refuses that entry and
    the caller deals with it, instead of it dragging a whole batch down.
    """
    batch: list[T] = []
    batch_bytes = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) == max_entries or batch_bytes + size > max_bytes):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(item)
        batch_bytes += size
    if batch:
        yield batch


def message_size(body: str, attributes: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """What SNS and SQS count of one message: the body and each attribute's name, type and value."""
    size = len(body.encode())
    for name, attribute in (attributes or {}).items():
        value = attribute.get("StringValue") or attribute.get("BinaryValue") or ""
        value_bytes = len(value) if isinstance(value, bytes) else len(str(value).encode())
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode()) + value_bytes
    return size
