"""The tracker's records port: what folding one event into its job (or an API key's event into
the keys table) needs, in one transaction.

`record_job_event` (projection.py) decides against this port only; `SqlJobBook` is the real
implementation on the service's database, and one contract test holds the in-memory twin the unit
tests use to it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.job_tracker.job_changes import JobChanges
from services.job_tracker.jobs import Job, Status
from services.job_tracker.kept_events import as_kept
from services.job_tracker.pg_fold import fold_writes, job_parameters
from services.job_tracker.tables import api_keys, jobs
from shared.auth.key_table import key_change, refold_key
from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.eventstore.direct_reads import DirectRead
from shared.eventstore.direct_writes import DirectWrite
from shared.eventstore.store import ConcurrencyError, EventStore, event_columns
from shared.eventstore.upsert import DIALECTS, insert_on_conflict
from shared.messaging.inbox import inbox_row, record_processed_unless_logged

# the inbox's name for this consumer
CONSUMER = "job_tracker"
# built once, given their values at execution: compiled once and cached
SELECT_JOB_FOR_UPDATE = DirectRead(
    select(jobs).where(jobs.c.task_id == bindparam("key")).with_for_update()
)
# every fold writes its job: directly on SQLite
UPDATE_JOB = DirectWrite(update(jobs).where(jobs.c.task_id == bindparam("key")))
ADD_JOB = {dialect: DirectWrite(insert_on_conflict(dialect, jobs)) for dialect in DIALECTS}


class Folded(Enum):
    """What `fold_in` wrote."""

    # the event was handled before: nothing
    DUPLICATE = "duplicate"
    # the event marked handled and logged, and the job written
    WRITTEN = "written"
    # the event marked handled and logged, but the new job's row was made by another transaction
    # since the read: the fold reads that row and folds into it (`replace`)
    ROW_TAKEN = "row taken"


class JobRecords(Protocol):
    """One transaction's view of the tracker's state."""

    async def mark_handled_if_new(self, event_id: UUID) -> bool:
        """Mark the event handled (the inbox); False when it was already, or when its inbox row
        has expired but the tracker's own log holds it (a republish long after)."""
        ...

    async def append_to_log(self, envelope: Envelope) -> None:
        """Store the event in the tracker's own log, which a rebuild refolds."""
        ...

    async def locked_job(self, task_id: UUID) -> Job | None:
        """The job, locked until the transaction ends; None while it has no row."""
        ...

    async def fold_in(self, envelope: Envelope, job: Job, *, new_row: bool) -> Folded:
        """Unless the event was handled (`mark_handled_if_new`): mark it handled, store it in the
        log (`append_to_log`) and write `job`, the job after it, as a new row (`new_row`: the
        read found none) or over its row."""
        ...

    async def replace(self, job: Job) -> None:
        """Write the job over its row."""
        ...

    async def record_key(self, envelope: Envelope) -> None:
        """Fold an API key's event (ApiKeyIssued, ApiKeyRevoked), stored in the log first, into
        the keys table, whatever order the key's events arrive in."""
        ...


class JobBook(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[JobRecords]:
        """All or nothing: committed when the block ends, rolled back if it raises."""
        ...


class SqlJobBook:
    """The records in the service's database: its inbox, event log and jobs table; each job
    row written is told to `changes` (None: no one in this process watches jobs)."""

    def __init__(self, store: EventStore, changes: JobChanges | None = None) -> None:
        self._store = store
        self._changes = changes

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobRecords]:
        async with self._store.transaction() as conn:
            channel = None if self._changes is None else self._changes.notify_channel
            records = SqlJobRecords(self._store, conn, channel)
            yield records
            if self._changes is not None and (unnotified := records.changed - records.notified):
                # once for the whole transaction: a group of folds costs one round trip here
                await self._changes.changed_in(conn, unnotified)
        if self._changes is not None and records.changed:
            self._changes.committed(records.changed)


class SqlJobRecords:
    """`notify_channel`: where a fold's statement notifies the row it writes (PostgreSQL)."""

    def __init__(
        self, store: EventStore, conn: AsyncConnection, notify_channel: str | None = None
    ) -> None:
        self._store = store
        self._conn = conn
        self._notify_channel = notify_channel
        # the jobs whose rows this transaction wrote, and those of them already notified
        self.changed: set[UUID] = set()
        self.notified: set[UUID] = set()

    async def mark_handled_if_new(self, event_id: UUID) -> bool:
        # the inbox forgets an event after the duplicate window; the log keeps every one, so an
        # operator's republish of an old event is skipped rather than refused by its unique id
        tables = self._store.tables
        return await record_processed_unless_logged(
            self._conn, tables.inbox, tables.events, CONSUMER, event_id
        )

    async def append_to_log(self, envelope: Envelope) -> None:
        await self._store.insert(self._conn, [as_kept(envelope)], publish=False)

    async def locked_job(self, task_id: UUID) -> Job | None:
        found = await SELECT_JOB_FOR_UPDATE.mappings(self._conn, {"key": str(task_id)})
        return row_to_job(found[0]) if found else None

    async def fold_in(self, envelope: Envelope, job: Job, *, new_row: bool) -> Folded:
        if self._conn.dialect.name == "postgresql":
            new, written = await self._fold_in_one_statement(envelope, job, new_row)
            if written and self._notify_channel is not None:
                self.notified.add(job.task_id)
        else:
            new = await self.mark_handled_if_new(envelope.event_id)
            written = new and await self._logged_and_written(envelope, job, new_row)
        if not new:
            return Folded.DUPLICATE
        if not written:
            # a row found under its lock is there until the transaction ends
            assert new_row, f"job {job.task_id}: its locked row was not written"
            return Folded.ROW_TAKEN
        self.changed.add(job.task_id)
        return Folded.WRITTEN

    async def _fold_in_one_statement(
        self, envelope: Envelope, job: Job, new_row: bool
    ) -> tuple[bool, bool]:
        kept = as_kept(envelope)
        values = {
            **inbox_row(CONSUMER, envelope.event_id),
            **event_columns(kept, kept.to_json()),
            **job_parameters(job_values(job)),
        }
        try:
            return await fold_writes(
                self._conn,
                self._store.tables,
                jobs,
                values,
                new_row=new_row,
                notify_channel=self._notify_channel,
            )
        except IntegrityError as exc:
            # the event's id is not in the log, so its stream's version is (as an append says)
            raise ConcurrencyError(
                f"{envelope.stream_id} version {envelope.stream_version} exists"
            ) from exc

    async def _logged_and_written(self, envelope: Envelope, job: Job, new_row: bool) -> bool:
        """The statements of one fold one by one: the log row, then the job row (False: the new
        row was made by another transaction since the read)."""
        await self.append_to_log(envelope)
        return await self._add(job) if new_row else await self._replaced(job)

    async def _add(self, job: Job) -> bool:
        return await ADD_JOB[self._conn.dialect.name].count(self._conn, job_values(job)) == 1

    async def _replaced(self, job: Job) -> bool:
        values = {"key": str(job.task_id), **job_values(job)}
        return await UPDATE_JOB.count(self._conn, values) == 1

    async def replace(self, job: Job) -> None:
        await self._replaced(job)
        self.changed.add(job.task_id)

    async def record_key(self, envelope: Envelope) -> None:
        change = key_change(envelope.data)
        if change is not None:
            await refold_key(self._conn, api_keys, self._store.tables, change.key_id)


JOB_FIELDS = tuple(field.name for field in fields(Job))


def job_values(job: Job, updated_at: datetime | None = None) -> dict[str, object]:
    """The jobs row of a job, last updated at `updated_at` (default: now)."""
    updated_at = updated_at or utcnow()
    # a job's fields are all immutable values: no deep copy (asdict's was 6% of a fold's CPU)
    values = {name: getattr(job, name) for name in JOB_FIELDS}
    return {**values, "task_id": str(job.task_id), "updated_at": updated_at}


def row_to_job(row: Mapping[Any, Any]) -> Job:
    fields = dict(row)
    fields.pop("updated_at", None)
    return Job(**{**fields, "task_id": UUID(fields["task_id"]), "status": Status(fields["status"])})
