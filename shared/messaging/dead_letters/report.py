"""Dead letters and groups in their JSON shapes (shared/contracts/dead_letters.py)."""

from __future__ import annotations

import json

from shared.contracts.dead_letters import DeadLetterDetail, DeadLetterGroup
from shared.messaging.dead_letters.grouping import DeadLetter, Group

# an unreadable body is shown at most this long
MAX_SHOWN_BODY_CHARS = 4096


def group_report(found: Group) -> DeadLetterGroup:
    return DeadLetterGroup(
        group_id=found.group_id,
        event_type=found.event_type,
        failure=found.failure,
        count=found.count,
        first_seen=found.first_seen,
        last_seen=found.last_seen,
        message_ids=list(found.message_ids),
    )


def detail(queue: str, letter: DeadLetter) -> DeadLetterDetail:
    readable = letter.event_id is not None
    return DeadLetterDetail(
        queue=queue,
        message_id=letter.message_id,
        group_id=letter.group_id,
        event_type=letter.event_type,
        failure=letter.failure,
        failed_at=letter.failed_at,
        receive_count=letter.receive_count,
        attributes=letter.attributes,
        event_id=letter.event_id,
        task_id=letter.task_id,
        snapshot_key=letter.snapshot_key,
        envelope=json.loads(letter.body) if readable else None,
        body=None if readable else letter.body[:MAX_SHOWN_BODY_CHARS],
    )
