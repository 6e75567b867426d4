"""The todo service's records port: the todo streams, their list, the id counter, calendar jobs.

A book acts as one principal (`acting_as`): it reads its tenant's todos, calendar jobs and
idempotency keys only, and records every change as the principal's (the events' tenant and
actor). Another tenant's todo or job reads as never made, so it is not found exactly as a missing
one is. Todo ids stay one sequence across tenants: an id is never handed out twice.

Every transaction that changes a tenant's list also moves that list's version on
(list_version.py).

The command handlers (handlers.py) decide against this port only; `SqlTodoBook` is the real
implementation on the service's database, and one contract test holds the in-memory twin the unit
tests use to it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, Self
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.todo_api.list_snapshots import ListSnapshots
from services.todo_api.list_version import advance_list_version
from services.todo_api.projection import ListSnapshot, next_todo_id, project
from services.todo_api.snapshots import kept_in_log
from shared.auth.principal import ANONYMOUS, Principal
from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    AnyEvent,
    CalendarCancelled,
    CalendarRequested,
    IdempotencyKeyUsed,
)
from shared.contracts.streams import calendar_stream_id, idempotency_stream_id, todo_stream_id
from shared.eventstore.store import EventStore


class TodoRecords(Protocol):
    """One transaction's view of the todos."""

    async def next_id(self) -> int:
        """Hand out the next todo id; never one handed out before, even if that todo is gone."""
        ...

    async def history(self, todo_id: int) -> list[AnyEvent]:
        """The todo's events in version order (its version is their number); none when it was
        never created, or is another tenant's."""
        ...

    async def record(self, todo_id: int, version: int, events: Sequence[AnyEvent]) -> None:
        """Append after `version` and write what the events do to the list, together;
        ConcurrencyError when someone appended that version first."""
        ...

    async def record_calendar_request(self, event: CalendarRequested) -> None:
        """Store the request as its job's first event, queued to publish whole, correlated by
        task id; the log keeps its snapshot by reference (`kept_in_log`)."""
        ...

    async def record_calendar_cancel(self, event: CalendarCancelled) -> None:
        """Store the cancel as its job's second event, after the request, queued to publish;
        ConcurrencyError when the job has its second event already (a cancel, concurrent)."""
        ...

    async def key_uses(self, key: str) -> KeyUses:
        """What the tenant's Idempotency-Key answered so far, oldest first, held against their
        expiry until the transaction ends."""
        ...

    async def record_key_use(self, version: int, event: IdempotencyKeyUsed) -> None:
        """Note the key's answer after the uses read at `version` (`KeyUses.version`);
        ConcurrencyError when a concurrent request with the key noted one first."""
        ...


class TodoBook(Protocol):
    """The todos as one principal sees and changes them."""

    def acting_as(self, principal: Principal) -> Self:
        """The same todos as `principal` sees and changes them."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[TodoRecords]:
        """All or nothing: committed when the block ends, rolled back if it raises."""
        ...

    async def snapshot(self) -> ListSnapshot:
        """The tenant's todo list in id order, with the stream version of each, read outside
        any transaction."""
        ...

    async def calendar_job(self, task_id: UUID) -> list[AnyEvent]:
        """The job's events as this service recorded them (none: never requested here, or by
        another tenant), read outside any transaction."""
        ...

    async def key_uses(self, key: str) -> KeyUses:
        """What an Idempotency-Key answered so far, read outside any transaction."""
        ...


@dataclass(frozen=True)
class KeyUses:
    """A key's uses still kept, oldest first, and the version of its stream's last (0: none).

    Expired uses are deleted from the front of the stream (key_use_expiry.py), so the version
    is not their count: the next use goes after it, never onto a version still taken."""

    uses: tuple[IdempotencyKeyUsed, ...] = ()
    version: int = 0

    @classmethod
    def of(cls, envelopes: Sequence[Envelope]) -> KeyUses:
        uses = tuple(
            envelope.data for envelope in envelopes if isinstance(envelope.data, IdempotencyKeyUsed)
        )
        return cls(uses, envelopes[-1].stream_version if envelopes else 0)


def seen_by(tenant: str, stream: Sequence[Envelope]) -> list[AnyEvent]:
    """A stream's events as the tenant sees them: a stream is the tenant's that began it, and
    another tenant finds it empty, as if it had never been written."""
    if not stream or stream[0].tenant != tenant:
        return []
    return [envelope.data for envelope in stream]


class SqlTodoBook:
    """The todos in the service's event store, with the lists and the counter beside them, as
    one principal sees them: AUTH_MODE=none's anonymous principal until `acting_as` names
    another (the views name the request's)."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._principal = ANONYMOUS
        # shared by every principal's view of this book (acting_as copies the reference)
        self._lists = ListSnapshots()

    def acting_as(self, principal: Principal) -> Self:
        acting = copy.copy(self)
        acting._principal = principal
        return acting

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[TodoRecords]:
        async with self._store.transaction() as conn:
            records = SqlTodoRecords(self._store, conn, self._principal)
            yield records
            if records.changed_at is not None:
                # last, just before the commit: the version row's lock, which orders the
                # versions, is held for the commit only, so changes to different todos do not
                # wait on each other's work
                await advance_list_version(conn, self._principal.tenant, records.changed_at)

    async def snapshot(self) -> ListSnapshot:
        return await self._lists.of(self._store, self._principal.tenant)

    async def calendar_job(self, task_id: UUID) -> list[AnyEvent]:
        stream = await self._store.load(calendar_stream_id(task_id))
        return seen_by(self._principal.tenant, stream)

    async def key_uses(self, key: str) -> KeyUses:
        stream = idempotency_stream_id(key, self._principal.tenant)
        return KeyUses.of(await self._store.load(stream))


class SqlTodoRecords:
    def __init__(
        self, store: EventStore, conn: AsyncConnection, principal: Principal = ANONYMOUS
    ) -> None:
        self._store = store
        self._conn = conn
        self._tenant, self._origin = principal.tenant, principal.origin
        # when the newest change to the list recorded here happened (None: no change)
        self.changed_at: datetime | None = None

    async def next_id(self) -> int:
        return await next_todo_id(self._conn)

    async def history(self, todo_id: int) -> list[AnyEvent]:
        stream = await self._store.load(todo_stream_id(todo_id), self._conn)
        return seen_by(self._tenant, stream)

    async def record(self, todo_id: int, version: int, events: Sequence[AnyEvent]) -> None:
        stream = todo_stream_id(todo_id)
        appended = await self._store.append(
            self._conn, stream, version, events, origin=self._origin
        )
        await project(self._conn, appended)
        if appended:
            newest = max(envelope.occurred_at for envelope in appended)
            self.changed_at = max(self.changed_at or newest, newest)

    async def record_calendar_request(self, event: CalendarRequested) -> None:
        stream = calendar_stream_id(event.task_id)
        await self._store.append(
            self._conn,
            stream,
            0,
            [event],
            origin=self._origin,
            correlation_id=event.task_id,
            kept=kept_in_log,
        )

    async def record_calendar_cancel(self, event: CalendarCancelled) -> None:
        stream = calendar_stream_id(event.task_id)
        await self._store.append(
            self._conn, stream, 1, [event], origin=self._origin, correlation_id=event.task_id
        )

    async def key_uses(self, key: str) -> KeyUses:
        events = self._store.tables.events
        read = (
            select(events.c.body)
            .where(events.c.stream_id == idempotency_stream_id(key, self._tenant))
            .order_by(events.c.stream_version)
            # an expiry that would delete these uses skips them until this request commits (and
            # one deleting them now is waited for, then they read as gone): the request appends
            # after what is kept, where a concurrent one with the key conflicts with it
            .with_for_update(read=True, key_share=True)
        )
        bodies = (await self._conn.execute(read)).scalars().all()
        return KeyUses.of([Envelope.from_json(body) for body in bodies])

    async def record_key_use(self, version: int, event: IdempotencyKeyUsed) -> None:
        stream = idempotency_stream_id(event.key, self._tenant)
        await self._store.append(self._conn, stream, version, [event], origin=self._origin)
