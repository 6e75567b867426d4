"""What operators' tools (scripts/, bench/) may use of calendar_worker; everything else is internal.

The import rules (pyproject.toml, `lint-imports`) let tools import this module only: it is
the service's tool face.
"""

from __future__ import annotations

from services.calendar_worker.tables import SCHEMA
from shared.contracts.ical import render_calendar
from shared.contracts.topology import CALENDAR_WORKER, QueueSpec
from shared.eventstore.store import PublishedForm

__all__ = ["INBOX_CONSUMER", "PUBLISHED_FORM", "QUEUE", "SCHEMA", "render_calendar"]

QUEUE: QueueSpec | None = CALENDAR_WORKER
# its render streams' versions make deliveries idempotent: it keeps no inbox
INBOX_CONSUMER: str | None = None
# its log keeps events as they were published
PUBLISHED_FORM: PublishedForm | None = None
