"""Lines and tables describing events and messages for the operator."""

from __future__ import annotations

from shared.contracts.envelope import Envelope
from shared.contracts.events import calendar_task_id


def event_line(position: int, envelope: Envelope) -> str:
    return (
        f"{position}\t{envelope.type}\t{envelope.stream_id}\t{envelope.event_id}\t"
        f"{envelope.occurred_at.isoformat()}"
    )


def task_id_of(envelope: Envelope) -> str:
    task_id = calendar_task_id(envelope.data) or envelope.correlation_id
    return str(task_id) if task_id is not None else "-"
