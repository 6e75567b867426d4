"""What operators' tools (scripts/, bench/) may use of job_tracker; everything else is internal.

The import rules (pyproject.toml, `lint-imports`) let tools import this module only: it is
the service's tool face.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.job_tracker.projection import JobFold
from services.job_tracker.records import CONSUMER
from services.job_tracker.tables import SCHEMA, api_keys, jobs, store
from shared.auth.key_table import refold_keys
from shared.contracts.topology import JOB_TRACKER, QueueSpec
from shared.eventstore.store import PublishedForm

__all__ = [
    "INBOX_CONSUMER",
    "PROJECTION_BOOKKEEPING",
    "PROJECTION_ID_COLUMN",
    "PROJECTION_TABLE",
    "PUBLISHED_FORM",
    "QUEUE",
    "SCHEMA",
    "JobFold",
    "after_rebuild",
]

QUEUE: QueueSpec | None = JOB_TRACKER
# the consumer name of its inbox rows, which an import of events fills in
INBOX_CONSUMER: str | None = CONSUMER
# its log keeps events as they were published, but for requests without their todos, which
# cannot be published again
PUBLISHED_FORM: PublishedForm | None = None

# the jobs, rebuilt by folding the log into a JobFold; `after_rebuild` runs in the swap and
# refolds the API keys the log holds (their table is small: rewritten whole in the swap), so a
# rebuild, and an import, which ends with one, keeps them
PROJECTION_TABLE = jobs
PROJECTION_ID_COLUMN = "task_id"
# columns saying when a row was written, not what the events say: a rebuild compares without them
PROJECTION_BOOKKEEPING = ("updated_at",)


async def after_rebuild(conn: AsyncConnection, _fold: JobFold) -> None:
    await refold_keys(conn, api_keys, store)
