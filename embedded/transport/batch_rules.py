"""AWS's batch limits, enforced here so the embedded mode hides no bug AWS would reveal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from embedded.transport.errors import client_error
from shared.messaging.batching import MAX_BATCH_BYTES, MAX_BATCH_ENTRIES

# SQS answers its batch errors with this prefix; SNS with the bare names
SQS_CODE_PREFIX = "AWS.SimpleQueueService."


def check_batch(
    operation: str,
    entries: Sequence[dict[str, Any]],
    *,
    code_prefix: str = "",
    size_of: Callable[[dict[str, Any]], int] | None = None,
) -> None:
    """Raise the ClientError AWS would for an empty, too long, too large or ambiguous batch."""
    if not entries:
        raise client_error(operation, code_prefix + "EmptyBatchRequest", "The batch is empty.")
    if len(entries) > MAX_BATCH_ENTRIES:
        message = f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}."
        raise client_error(operation, code_prefix + "TooManyEntriesInBatchRequest", message)
    ids = [entry["Id"] for entry in entries]
    if len(set(ids)) != len(ids):
        message = "Two or more batch entries in the request have the same Id."
        raise client_error(operation, code_prefix + "BatchEntryIdsNotDistinct", message)
    total = sum(size_of(entry) for entry in entries) if size_of else 0
    if total > MAX_BATCH_BYTES:
        message = f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes ({total} given)."
        raise client_error(operation, code_prefix + "BatchRequestTooLong", message)
