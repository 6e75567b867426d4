"""In-memory twins of the services' ports, for handler tests in tests/unit.

Each is held to its real implementation by a contract test in tests/integration
(`test_job_book_contract.py` for the job tracker's records, `test_render_book_contract.py` for the
worker's, `test_todo_book_contract.py` for the todo service's, `test_outbox_contract.py` for the
outbox the relays read).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

from services.calendar_worker.records import RenderRecords
from services.job_tracker.jobs import Job
from services.job_tracker.kept_events import as_kept
from services.job_tracker.records import Folded, JobRecords
from services.todo_api.projection import ListSnapshot, TodoFold
from services.todo_api.records import KeyUses, TodoRecords, seen_by
from services.todo_api.snapshots import kept_in_log
from shared.auth.key_table import fold_keys
from shared.auth.principal import ANONYMOUS, Principal
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import (
    AnyEvent,
    CalendarCancelled,
    CalendarRequested,
    IdempotencyKeyUsed,
)
from shared.contracts.streams import (
    calendar_stream_id,
    idempotency_stream_id,
    progress_stream_id,
    render_stream_id,
    todo_stream_id,
)
from shared.contracts.tenancy import ANONYMOUS_ORIGIN, Origin
from shared.eventstore.store import ConcurrencyError
from shared.messaging.publisher import Outgoing

S = TypeVar("S")
R = TypeVar("R")


class MemoryBook(Generic[S, R]):
    """Records in memory: one transaction at a time, on a copy kept only if the block succeeds."""

    def __init__(self, state: S, records: Callable[[S], R]) -> None:
        self.state = state
        self._records = records
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[R]:
        async with self._lock:
            draft = copy.deepcopy(self.state)
            yield self._records(draft)
            self.state = draft


@dataclass
class JobState:
    handled: set[UUID] = field(default_factory=set)
    log: list[Envelope] = field(default_factory=list)
    jobs: dict[UUID, Job] = field(default_factory=dict)
    # the keys table's rows, by key id
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class MemoryJobRecords:
    state: JobState

    async def mark_handled_if_new(self, event_id: UUID) -> bool:
        logged = any(envelope.event_id == event_id for envelope in self.state.log)
        if event_id in self.state.handled or logged:
            return False
        self.state.handled.add(event_id)
        return True

    async def append_to_log(self, envelope: Envelope) -> None:
        self.state.log.append(as_kept(envelope))

    async def locked_job(self, task_id: UUID) -> Job | None:
        return self.state.jobs.get(task_id)

    async def fold_in(self, envelope: Envelope, job: Job, *, new_row: bool) -> Folded:
        if not await self.mark_handled_if_new(envelope.event_id):
            return Folded.DUPLICATE
        await self.append_to_log(envelope)
        if new_row and job.task_id in self.state.jobs:
            return Folded.ROW_TAKEN
        self.state.jobs[job.task_id] = job
        return Folded.WRITTEN

    async def replace(self, job: Job) -> None:
        self.state.jobs[job.task_id] = job

    async def record_key(self, envelope: Envelope) -> None:
        # the rows the key events logged so far fold to, in each key's stream order
        in_order = sorted(self.state.log, key=lambda logged: logged.stream_version)
        self.state.keys = fold_keys(logged.data for logged in in_order)


class MemoryJobBook(MemoryBook[JobState, JobRecords]):
    def __init__(self) -> None:
        super().__init__(JobState(), MemoryJobRecords)


@dataclass
class RenderState:
    streams: dict[UUID, list[Envelope]] = field(default_factory=dict)
    # task id -> (holder, expires at)
    leases: dict[UUID, tuple[str, datetime]] = field(default_factory=dict)
    # each job's progress reports
    progress: dict[UUID, list[Envelope]] = field(default_factory=dict)
    # what the worker's outbox would publish, in commit order
    queued: list[Envelope] = field(default_factory=list)


@dataclass
class MemoryRenderRecords:
    state: RenderState

    async def history(self, task_id: UUID) -> list[Envelope]:
        return list(self.state.streams.get(task_id, []))

    async def append(self, task_id: UUID, version: int, event: AnyEvent, cause: Envelope) -> None:
        stream = self.state.streams.setdefault(task_id, [])
        if len(stream) != version:
            raise ConcurrencyError(f"render of {task_id} version {version + 1} exists")
        stream.append(_caused(event, render_stream_id(task_id), version + 1, cause))
        self.state.queued.append(stream[-1])

    async def append_progress(self, task_id: UUID, event: AnyEvent, cause: Envelope) -> None:
        reports = self.state.progress.setdefault(task_id, [])
        reports.append(_caused(event, progress_stream_id(task_id), len(reports) + 1, cause))
        self.state.queued.append(reports[-1])

    async def claim(self, task_id: UUID, holder: str, now: datetime, lease: timedelta) -> bool:
        current = self.state.leases.get(task_id)
        if current is not None and current[0] != holder and current[1] >= now:
            return False
        self.state.leases[task_id] = (holder, now + lease)
        return True

    async def lease_holder(self, task_id: UUID, now: datetime) -> str | None:
        current = self.state.leases.get(task_id)
        return None if current is None or current[1] < now else current[0]

    async def lease_expiry(self, task_id: UUID) -> datetime | None:
        current = self.state.leases.get(task_id)
        return None if current is None else current[1]

    async def release(self, task_id: UUID, holder: str) -> None:
        current = self.state.leases.get(task_id)
        if current is not None and current[0] == holder:
            del self.state.leases[task_id]


def _caused(event: AnyEvent, stream_id: str, version: int, cause: Envelope) -> Envelope:
    return wrap(
        event,
        stream_id=stream_id,
        stream_version=version,
        correlation_id=cause.correlation_id,
        causation_id=cause.event_id,
        origin=ANONYMOUS_ORIGIN,
    )


class MemoryRenderBook(MemoryBook[RenderState, RenderRecords]):
    def __init__(self) -> None:
        super().__init__(RenderState(), MemoryRenderRecords)

    async def history(self, task_id: UUID) -> list[Envelope]:
        return list(self.state.streams.get(task_id, []))


class MemoryOutbox:
    """The outbox in memory, for relay tests; held to SqlOutbox by test_outbox_contract.py."""

    def __init__(self) -> None:
        # position -> entry; positions only grow, so the dict keeps them in order
        self.entries: dict[int, Outgoing] = {}
        self._last_position = 0

    def queue(self, envelopes: Iterable[Envelope]) -> list[int]:
        """What a committed append puts in the outbox; the positions it took."""
        taken = []
        for envelope in envelopes:
            self._last_position += 1
            position = self._last_position
            self.entries[position] = Outgoing(position, envelope.type, envelope.to_json())
            taken.append(position)
        return taken

    async def pending(self, limit: int = 100, skip: Collection[int] = ()) -> list[Outgoing]:
        waiting = [entry for position, entry in self.entries.items() if position not in skip]
        return waiting[:limit]

    async def mark_published(self, positions: Sequence[int]) -> None:
        for position in positions:
            self.entries.pop(position, None)

    async def backlog(self) -> int:
        return len(self.entries)


@dataclass
class TodoState:
    streams: dict[str, list[Envelope]] = field(default_factory=dict)
    # the list, folded as the service's projection writes it
    listed: TodoFold = field(default_factory=TodoFold)
    last_id: int = 0
    queued: list[Envelope] = field(default_factory=list)

    def key_uses(self, key: str, tenant: str) -> KeyUses:
        return KeyUses.of(self.streams.get(idempotency_stream_id(key, tenant), []))

    def stream(self, stream_id: str, tenant: str) -> list[AnyEvent]:
        return seen_by(tenant, self.streams.get(stream_id, []))

    def append(
        self, stream_id: str, version: int, events: Sequence[AnyEvent], origin: Origin
    ) -> list[Envelope]:
        stream = self.streams.setdefault(stream_id, [])
        # after the stream's last version, as the log's key does: its front may have expired
        if (stream[-1].stream_version if stream else 0) != version:
            raise ConcurrencyError(f"{stream_id} version {version + 1} exists")
        correlation_id = next(
            (
                event.task_id
                for event in events
                if isinstance(event, CalendarRequested | CalendarCancelled)
            ),
            None,
        )
        envelopes = [
            wrap(
                event,
                stream_id=stream_id,
                stream_version=number,
                correlation_id=correlation_id,
                origin=origin,
            )
            for number, event in enumerate(events, start=version + 1)
        ]
        stream.extend(envelopes)
        return envelopes


@dataclass
class MemoryTodoRecords:
    state: TodoState
    principal: Principal

    async def next_id(self) -> int:
        self.state.last_id += 1
        return self.state.last_id

    async def history(self, todo_id: int) -> list[AnyEvent]:
        return self.state.stream(todo_stream_id(todo_id), self.principal.tenant)

    async def record(self, todo_id: int, version: int, events: Sequence[AnyEvent]) -> None:
        for envelope in self._append(todo_stream_id(todo_id), version, events):
            self.state.listed.apply(envelope)

    async def record_calendar_request(self, event: CalendarRequested) -> None:
        stream = calendar_stream_id(event.task_id)
        published = self._append(stream, 0, [event])
        # as the log does: the stream keeps the request by reference, the outbox has it whole
        self.state.streams[stream] = [kept_in_log(envelope) for envelope in published]
        self.state.queued.extend(published)

    async def record_calendar_cancel(self, event: CalendarCancelled) -> None:
        stream = calendar_stream_id(event.task_id)
        self.state.queued.extend(self._append(stream, 1, [event]))

    async def key_uses(self, key: str) -> KeyUses:
        return self.state.key_uses(key, self.principal.tenant)

    async def record_key_use(self, version: int, event: IdempotencyKeyUsed) -> None:
        self._append(idempotency_stream_id(event.key, self.principal.tenant), version, [event])

    def _append(self, stream_id: str, version: int, events: Sequence[AnyEvent]) -> list[Envelope]:
        return self.state.append(stream_id, version, events, self.principal.origin)


class MemoryTodoBook:
    """The todos in memory as one principal sees them: the anonymous principal until
    `acting_as` names another, whose view shares the same todos."""

    def __init__(self) -> None:
        self.principal = ANONYMOUS
        self._shared = MemoryBook(TodoState(), lambda state: state)

    @property
    def state(self) -> TodoState:
        return self._shared.state

    def acting_as(self, principal: Principal) -> Self:
        acting = copy.copy(self)
        acting.principal = principal
        return acting

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[TodoRecords]:
        async with self._shared.transaction() as draft:
            yield MemoryTodoRecords(draft, self.principal)

    async def snapshot(self) -> ListSnapshot:
        return self.state.listed.snapshot(self.principal.tenant)

    async def calendar_job(self, task_id: UUID) -> list[AnyEvent]:
        return self.state.stream(calendar_stream_id(task_id), self.principal.tenant)

    async def key_uses(self, key: str) -> KeyUses:
        return self.state.key_uses(key, self.principal.tenant)
