"""The worker's records port: each job's render stream, its render lease and its progress.

`build_calendar` (handlers.py) decides against this port only; `SqlRenderBook` is the real
implementation on the service's database, and one contract test holds the in-memory twin the unit
tests use to it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Select, Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.calendar_worker.tables import render_leases
from shared.contracts.envelope import Envelope
from shared.contracts.events import AnyEvent
from shared.contracts.streams import progress_stream_id, render_stream_id
from shared.contracts.tenancy import Origin, service_actor
from shared.eventstore import leases
from shared.eventstore.store import EventStore

WORKER_ACTOR = service_actor("calendar_worker")


class RenderRecords(Protocol):
    """One transaction's view of a job's render."""

    async def history(self, task_id: UUID) -> list[Envelope]:
        """The job's render stream so far, in version order."""
        ...

    async def append(self, task_id: UUID, version: int, event: AnyEvent, cause: Envelope) -> None:
        """Append after `version` (0: the first event), caused by `cause`, queued to publish, in
        `cause`'s tenant; ConcurrencyError when another render appended that version first."""
        ...

    async def append_progress(self, task_id: UUID, event: AnyEvent, cause: Envelope) -> None:
        """Append to the job's progress stream after its last report, queued to publish."""
        ...

    async def claim(self, task_id: UUID, holder: str, now: datetime, lease: timedelta) -> bool:
        """Take or renew the job's render lease until now + lease; False while another holds it."""
        ...

    async def lease_holder(self, task_id: UUID, now: datetime) -> str | None:
        """Who holds the job's render lease (None: nobody, or it ran out), locked until the
        transaction ends."""
        ...

    async def lease_expiry(self, task_id: UUID) -> datetime | None: ...

    async def release(self, task_id: UUID, holder: str) -> None:
        """Give the lease up if `holder` has it."""
        ...


class RenderBook(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[RenderRecords]:
        """All or nothing: committed when the block ends, rolled back if it raises."""
        ...

    async def history(self, task_id: UUID) -> list[Envelope]:
        """The job's render stream, read outside any transaction."""
        ...


class SqlRenderBook:
    """Render streams in the service's event store; leases in its render-lease table."""

    def __init__(self, store: EventStore, lease_table: Table = render_leases) -> None:
        self._store = store
        self._leases = lease_table
        events = store.tables.events
        # built once: compiled once and given its stream at execution
        self._last_version = select(func.max(events.c.stream_version)).where(
            events.c.stream_id == bindparam("stream")
        )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[RenderRecords]:
        async with self._store.transaction() as conn:
            yield SqlRenderRecords(self._store, self._leases, conn, self._last_version)

    async def history(self, task_id: UUID) -> list[Envelope]:
        return await self._store.load(render_stream_id(task_id))


class SqlRenderRecords:
    def __init__(
        self,
        store: EventStore,
        lease_table: Table,
        conn: AsyncConnection,
        last_version: Select[Any],
    ) -> None:
        self._store = store
        self._leases = lease_table
        self._conn = conn
        self._last_version = last_version

    async def history(self, task_id: UUID) -> list[Envelope]:
        return await self._store.load(render_stream_id(task_id), self._conn)

    async def append(self, task_id: UUID, version: int, event: AnyEvent, cause: Envelope) -> None:
        await self._store.append(
            self._conn,
            render_stream_id(task_id),
            version,
            [event],
            origin=_worker_origin(cause),
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
        )

    async def append_progress(self, task_id: UUID, event: AnyEvent, cause: Envelope) -> None:
        stream = progress_stream_id(task_id)
        found = await self._conn.execute(self._last_version, {"stream": stream})
        await self._store.append(
            self._conn,
            stream,
            int(found.scalar_one() or 0),
            [event],
            origin=_worker_origin(cause),
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
        )

    async def claim(self, task_id: UUID, holder: str, now: datetime, lease: timedelta) -> bool:
        return await leases.claim(self._conn, self._leases, str(task_id), holder, now, lease)

    async def lease_holder(self, task_id: UUID, now: datetime) -> str | None:
        return await leases.holder(self._conn, self._leases, str(task_id), now)

    async def lease_expiry(self, task_id: UUID) -> datetime | None:
        return await leases.expires_at(self._conn, self._leases, str(task_id))

    async def release(self, task_id: UUID, holder: str) -> None:
        await leases.release(self._conn, self._leases, str(task_id), holder)


def _worker_origin(cause: Envelope) -> Origin:
    """What the worker records of a job is its tenant's data, and the worker's own doing."""
    return Origin(tenant=cause.tenant, actor=WORKER_ACTOR)
