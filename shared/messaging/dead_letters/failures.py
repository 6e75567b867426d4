"""Why a message failed, written on it when its consumer gives up.

SQS keeps no handler error, so a consumer that gives up on a message sends it to the DLQ itself
with these attributes, and deletes it from its queue (see `SqsConsumer`). A message the redrive
policy moved instead (the consumer died before it could) carries none of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# the public reason: an exception's class, or "unreadable: ..." (the detail goes to the log)
FAILURE = "failure"
# when the consumer gave up (ISO 8601, UTC)
FAILED_AT = "failed_at"
# the receive on which it gave up
FAILED_RECEIVES = "failed_receives"
FAILURE_ATTRIBUTES = (FAILURE, FAILED_AT, FAILED_RECEIVES)
UNREADABLE = "unreadable"
MAX_REASON_CHARS = 200


def public_reason(exc: BaseException, *, unreadable: bool = False) -> str:
    """What an operator may be shown: the class of a handler's error; for a body no event can
    be read from, what is wrong with it (no part of the body itself)."""
    if unreadable:
        return f"{UNREADABLE}: {exc}"[:MAX_REASON_CHARS]
    return type(exc).__name__


def failure_attributes(reason: str, at: datetime, receives: int) -> dict[str, dict[str, str]]:
    return {
        FAILURE: {"DataType": "String", "StringValue": reason},
        FAILED_AT: {"DataType": "String", "StringValue": at.isoformat()},
        FAILED_RECEIVES: {"DataType": "Number", "StringValue": str(receives)},
    }


def sendable_attributes(message: dict[str, Any], *, keep_failure: bool) -> dict[str, Any]:
    """A received message's attributes as a send takes them (receive answers empty list fields
    too); without the failure's when the message goes back to be handled again."""
    return {
        name: {key: value for key, value in attribute.items() if value not in ([], None)}
        for name, attribute in message.get("MessageAttributes", {}).items()
        if keep_failure or name not in FAILURE_ATTRIBUTES
    }
