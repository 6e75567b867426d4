"""What a dead letter is, read from the message alone, and dead letters grouped by failure.

A group is the letters of one event type that failed for one reason; its id is a digest of the
two, so the same group has the same id on every look and in every tool.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from shared.clock import parse_datetime
from shared.contracts.events import CalendarRequested, calendar_task_id
from shared.messaging.consumer import PoisonMessageError, decode
from shared.messaging.dead_letters.failures import FAILED_AT, FAILED_RECEIVES, FAILURE

# a message the redrive policy moved, because its consumer died before it could say why
UNKNOWN_FAILURE = "unknown: moved by the redrive policy"
UNKNOWN_TYPE = "?"
GROUP_ID_CHARS = 12


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    event_type: str
    failure: str
    # when it failed for the last time (else when SQS took it, else None)
    failed_at: datetime | None
    # receives before it was dead-lettered, as its consumer counted, else SQS's count
    receive_count: int
    body: str
    attributes: dict[str, str] = field(default_factory=dict)
    event_id: str | None = None
    task_id: str | None = None
    # a claim-checked snapshot: the blob's key, never its contents
    snapshot_key: str | None = None

    @property
    def group_id(self) -> str:
        return group_id(self.event_type, self.failure)


@dataclass(frozen=True)
class Group:
    group_id: str
    event_type: str
    failure: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    message_ids: tuple[str, ...]


def group_id(event_type: str, failure: str) -> str:
    return hashlib.sha256(f"{event_type}\n{failure}".encode()).hexdigest()[:GROUP_ID_CHARS]


def describe(message: dict[str, Any]) -> DeadLetter:
    """A received SQS message as an operator judges it."""
    body = str(message.get("Body", ""))
    attributes = {
        name: str(value.get("StringValue", ""))
        for name, value in message.get("MessageAttributes", {}).items()
    }
    system = message.get("Attributes", {})
    receives = attributes.get(FAILED_RECEIVES) or system.get("ApproximateReceiveCount", 0)
    letter = DeadLetter(
        message_id=str(message["MessageId"]),
        event_type=UNKNOWN_TYPE,
        failure=attributes.get(FAILURE) or UNKNOWN_FAILURE,
        failed_at=_failed_at(attributes.get(FAILED_AT), system.get("SentTimestamp")),
        receive_count=int(receives),
        body=body,
        attributes=attributes,
    )
    try:
        envelope = decode(body)
    except PoisonMessageError as exc:
        return replace(
            letter,
            event_type=attributes.get("type") or _raw_type(body),
            failure=attributes.get(FAILURE) or f"unreadable: {exc}",
        )
    task_id = calendar_task_id(envelope.data)
    data = envelope.data
    return replace(
        letter,
        event_type=envelope.type,
        event_id=str(envelope.event_id),
        task_id=None if task_id is None else str(task_id),
        snapshot_key=data.snapshot_key if isinstance(data, CalendarRequested) else None,
    )


def group(letters: Iterable[DeadLetter]) -> list[Group]:
    """The letters by event type and failure, the largest group first."""
    found: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        found.setdefault(letter.group_id, []).append(letter)
    groups = [_group(members) for members in found.values()]
    return sorted(groups, key=lambda one: (-one.count, one.event_type, one.failure))


def _group(members: list[DeadLetter]) -> Group:
    first, seen = members[0], [letter.failed_at for letter in members if letter.failed_at]
    return Group(
        group_id=first.group_id,
        event_type=first.event_type,
        failure=first.failure,
        count=len(members),
        first_seen=min(seen, default=None),
        last_seen=max(seen, default=None),
        message_ids=tuple(sorted(letter.message_id for letter in members)),
    )


def _failed_at(recorded: str | None, sent_ms: str | None) -> datetime | None:
    if recorded:
        try:
            return parse_datetime(recorded)
        except ValueError:
            pass
    if sent_ms and sent_ms.isdigit():
        return datetime.fromtimestamp(int(sent_ms) / 1000, UTC).replace(tzinfo=None)
    return None


def _raw_type(body: str) -> str:
    try:
        found = json.loads(body)
    except ValueError:
        return UNKNOWN_TYPE
    kind = found.get("type") if isinstance(found, dict) else None
    return kind if isinstance(kind, str) and kind else UNKNOWN_TYPE
