"""The projections a rebuild can refold from a service's event log, held in memory while built."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from scripts.replay.errors import OperatorError
from services.job_tracker.jobs import Job
from services.job_tracker.projection import fold_job_event, job_values
from services.job_tracker.tables import jobs
from services.todo_api import todo
from services.todo_api.projection import seed_todo_ids
from services.todo_api.tables import todo_ids, todos
from shared.clock import utcnow
from shared.envelope import Envelope
from shared.events import TodoCreated, TodoDeleted, TodoSnapshot, TodoUpdated

Row = dict[str, Any]


class Fold(Protocol):
    """A projection's state in memory: apply events, then write it out as rows."""

    def apply(self, envelope: Envelope) -> Any | None:
        """Fold one event in; return the key of the row it touched, if any."""
        ...

    def row(self, key: Any) -> Row | None:
        """The row under `key` as it should now be stored (None: no such row)."""
        ...

    def row_keys(self) -> Iterable[Any]: ...


@dataclass
class TodoFold:
    todos: dict[int, TodoSnapshot] = field(default_factory=dict)
    highest_id: int = 0

    def apply(self, envelope: Envelope) -> int | None:
        event = envelope.data
        if isinstance(event, TodoCreated | TodoUpdated):
            key = event.todo.id
        elif isinstance(event, TodoDeleted):
            key = event.id
        else:
            return None
        self.highest_id = max(self.highest_id, key)
        folded = todo.apply(self.todos.get(key), event)
        if folded is None:
            self.todos.pop(key, None)
        else:
            self.todos[key] = folded
        return key

    def row(self, key: int) -> Row | None:
        found = self.todos.get(key)
        return None if found is None else found.model_dump()

    def row_keys(self) -> Iterable[int]:
        return self.todos.keys()


@dataclass
class JobFold:
    jobs: dict[UUID, Job] = field(default_factory=dict)

    def apply(self, envelope: Envelope) -> str | None:
        task_id = fold_job_event(self.jobs, envelope)
        return None if task_id is None else str(task_id)

    def row(self, key: str) -> Row | None:
        found = self.jobs.get(UUID(key))
        return None if found is None else job_values(found, utcnow())

    def row_keys(self) -> Iterable[str]:
        return [str(task_id) for task_id in self.jobs]


async def raise_todo_counter(conn: AsyncConnection, fold: Fold) -> None:
    """Ids are never reused: the counter moves past every id the log has handed out."""
    if not isinstance(fold, TodoFold):
        raise TypeError(f"the todo counter needs a TodoFold, not {type(fold).__name__}")
    await seed_todo_ids(conn)
    await conn.execute(
        update(todo_ids)
        .where(todo_ids.c.name == "todo", todo_ids.c.last_id < fold.highest_id)
        .values(last_id=fold.highest_id)
    )


async def _nothing(_conn: AsyncConnection, _fold: Fold) -> None:
    return None


@dataclass(frozen=True)
class Projection:
    table: Table
    key: str
    new_fold: Callable[[], Fold]
    # runs in the swap's transaction, for state that lives beside the projected rows
    after_swap: Callable[[AsyncConnection, Fold], Awaitable[None]] = _nothing
    # columns saying when a row was written, not what the events say: left out of comparisons
    bookkeeping: tuple[str, ...] = ()

    async def read_rows(self, conn: AsyncConnection) -> dict[Any, Row]:
        rows = (await conn.execute(select(self.table))).mappings().all()
        return {row[self.key]: dict(row) for row in rows}

    async def count(self, conn: AsyncConnection) -> int:
        query = select(func.count()).select_from(self.table)
        return int((await conn.execute(query)).scalar_one())


PROJECTIONS = {
    "todo_api": Projection(todos, "id", TodoFold, after_swap=raise_todo_counter),
    "job_tracker": Projection(jobs, "task_id", JobFold, bookkeeping=("updated_at",)),
}


def find_projection(service: str) -> Projection:
    if service not in PROJECTIONS:
        raise OperatorError(
            f"{service} keeps no projection to rebuild (these do: {', '.join(PROJECTIONS)})"
        )
    return PROJECTIONS[service]
