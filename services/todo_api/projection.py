"""The todo list read model, written in the same transaction as the events.

`list_change` is its one fold and `list_row` its one row: `project` writes them row by row on the
hot path, and `TodoFold` applies them in memory for a rebuild (`tool_face.py`), so the live list
and a rebuilt one cannot differ, tenants included. Every read names the tenant whose list it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import TypeAdapter
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.todo_api.feed_secret_projection import refold_feed_secrets
from services.todo_api.key_projection import refold_keys
from services.todo_api.list_version import advance_every_list_version
from services.todo_api.tables import store as store_tables
from services.todo_api.tables import todo_ids, todos
from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.events import AnyEvent, TodoCreated, TodoDeleted, TodoSnapshot, TodoUpdated
from shared.contracts.todo_refs import encode_refs
from shared.eventstore.direct_reads import DirectRead
from shared.eventstore.direct_writes import DirectWrite
from shared.eventstore.store import EventStore
from shared.eventstore.upsert import DIALECTS, NEW_ROW, insert_on_conflict

SNAPSHOTS: TypeAdapter[list[TodoSnapshot]] = TypeAdapter(list[TodoSnapshot])


class ListChange(NamedTuple):
    todo_id: int
    # the row as the event leaves it; None: the todo is gone from the list
    row: TodoSnapshot | None


def list_change(event: AnyEvent) -> ListChange | None:
    """What an event does to the todo list (None: nothing).

    Todo events carry the whole row, so the change needs no current row: `project` writes it in
    one statement without reading first.
    """
    if isinstance(event, TodoCreated | TodoUpdated):
        return ListChange(event.todo.id, event.todo)
    if isinstance(event, TodoDeleted):
        return ListChange(event.id, None)
    return None


def list_row(tenant: str, todo: TodoSnapshot, stream_version: int) -> dict[str, Any]:
    """The todo's row in the list: the todo, whose it is, and which version of its stream."""
    return {"tenant": tenant, "stream_version": stream_version, **todo.model_dump()}


# what a read gives back of a row: the todo, without whose it is (the reader's own)
SNAPSHOT_COLUMNS = [todos.c[name] for name in TodoSnapshot.model_fields]

# built once, given their values at execution: compiled once and cached (a statement made per
# call has its cache key worked out again each time, a sixth of a create's CPU); on SQLite run on
# its own connection (shared/eventstore/direct_writes.py)
UPSERT_TODO = {
    dialect: DirectWrite(
        insert_on_conflict(dialect, todos, index_elements=[todos.c.id], set_=NEW_ROW)
    )
    for dialect in DIALECTS
}
DELETE_TODO = delete(todos).where(todos.c.id == bindparam("key"))


async def project(conn: AsyncConnection, envelopes: Iterable[Envelope]) -> None:
    """Write what each event does to the list (`list_change`), as its tenant's: one statement per
    todo event."""
    for envelope in envelopes:
        change = list_change(envelope.data)
        if change is None:
            continue
        if change.row is None:
            await conn.execute(DELETE_TODO, {"key": change.todo_id})
        else:
            row = list_row(envelope.tenant, change.row, envelope.stream_version)
            await UPSERT_TODO[conn.dialect.name].run(conn, row)


@dataclass
class TodoFold:
    """The todo list folded in memory, as a rebuild does: `list_change`, as `project` writes it."""

    todos: dict[int, TodoSnapshot] = field(default_factory=dict)
    # whose each listed todo is, and the version of its stream it shows
    tenants: dict[int, str] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    # the highest id the log has handed out, deleted todos included
    highest_id: int = 0

    def apply(self, envelope: Envelope) -> int | None:
        change = list_change(envelope.data)
        if change is None:
            return None
        self.highest_id = max(self.highest_id, change.todo_id)
        if change.row is None:
            self.todos.pop(change.todo_id, None)
            self.tenants.pop(change.todo_id, None)
            self.versions.pop(change.todo_id, None)
        else:
            self.todos[change.todo_id] = change.row
            self.tenants[change.todo_id] = envelope.tenant
            self.versions[change.todo_id] = envelope.stream_version
        return change.todo_id

    def row(self, row_id: int) -> dict[str, Any] | None:
        found = self.todos.get(row_id)
        if found is None:
            return None
        return list_row(self.tenants[row_id], found, self.versions[row_id])

    def listed(self, tenant: str) -> list[TodoSnapshot]:
        """The tenant's todos in id order."""
        return [self.todos[key] for key in sorted(self.todos) if self.tenants[key] == tenant]

    def snapshot(self, tenant: str) -> ListSnapshot:
        """The tenant's todos in id order, with the versions they are."""
        listed = self.listed(tenant)
        return ListSnapshot(
            listed, encode_refs((todo.id, self.versions[todo.id]) for todo in listed)
        )

    def row_ids(self) -> Iterable[int]:
        return self.todos.keys()


BUMP_TODO_ID = DirectWrite(
    update(todo_ids)
    .where(todo_ids.c.name == "todo")
    .values(last_id=todo_ids.c.last_id + 1)
    .returning(todo_ids.c.last_id)
)


async def next_todo_id(conn: AsyncConnection) -> int:
    """Hand out the next id; the row lock serialises concurrent creates until commit."""
    [(last_id,)] = await BUMP_TODO_ID.run(conn)
    return int(last_id)


async def seed_todo_ids(conn: AsyncConnection) -> None:
    """Create the id counter once, at start-up, so creates never race to insert it."""
    found = (await conn.execute(select(todo_ids.c.last_id))).first()
    if found is None:
        await conn.execute(insert(todo_ids).values(name="todo", last_id=0))


async def raise_todo_counter(conn: AsyncConnection, fold: TodoFold) -> None:
    """After a rebuild: ids are never reused, so the counter moves past every id of the log."""
    await seed_todo_ids(conn)
    await conn.execute(
        update(todo_ids)
        .where(todo_ids.c.name == "todo", todo_ids.c.last_id < fold.highest_id)
        .values(last_id=fold.highest_id)
    )


async def after_rebuild(conn: AsyncConnection, fold: TodoFold) -> None:
    """In a rebuild's swap: the counter past the log's ids, and a new version of every tenant's
    list, since the rows were written anew (a rebuild that mends a list changes what its feed
    shows); the API keys refolded too, so a rebuild (and an import, which ends with one) keeps
    them, and so are the calendar feed URLs."""
    await raise_todo_counter(conn, fold)
    await advance_every_list_version(conn, utcnow())
    await refold_keys(conn, store_tables)
    await refold_feed_secrets(conn, store_tables)


async def list_todos(
    conn: AsyncConnection,
    *,
    tenant: str,
    completed: bool | None = None,
    deadline_before: datetime | None = None,
    after_id: int = 0,
    limit: int | None = None,
) -> list[TodoSnapshot]:
    """The tenant's todos in creation order, filtered by completion and a latest deadline;
    optionally one page of them: at most `limit`, with ids above `after_id`."""
    query = (
        select(*SNAPSHOT_COLUMNS)
        .where(todos.c.tenant == tenant, todos.c.id > after_id)
        .order_by(todos.c.id)
        .limit(limit)
    )
    if completed is not None:
        query = query.where(todos.c.completed == completed)
    if deadline_before is not None:
        query = query.where(
            todos.c.deadline_at.is_not(None), todos.c.deadline_at <= deadline_before
        )
    rows = (await conn.execute(query)).mappings().all()
    # one validation of the whole list: per row, pydantic's call overhead costs more than the rows
    return SNAPSHOTS.validate_python(rows)


class ListSnapshot(NamedTuple):
    """A tenant's todos as one read saw them, and the same by reference (todo_refs.py)."""

    todos: list[TodoSnapshot]
    refs: str


# the two reads of a calendar request and a todo's GET: on SQLite run on the store's own
# connection (shared/eventstore/direct_reads.py)
SNAPSHOT_OF_LIST = DirectRead(
    select(*SNAPSHOT_COLUMNS, todos.c.stream_version)
    .where(todos.c.tenant == bindparam("tenant"))
    .order_by(todos.c.id)
)


async def snapshot_todos(store: EventStore, *, tenant: str) -> ListSnapshot:
    """The tenant's whole list in id order, with each todo's stream version, in one read."""
    rows = await SNAPSHOT_OF_LIST.rows(store, {"tenant": tenant})
    names = list(TodoSnapshot.model_fields)
    listed = SNAPSHOTS.validate_python([dict(zip(names, row[:-1], strict=True)) for row in rows])
    refs = encode_refs((todo.id, row[-1]) for todo, row in zip(listed, rows, strict=True))
    return ListSnapshot(listed, refs)


GET_TODO = DirectRead(
    select(*SNAPSHOT_COLUMNS).where(
        todos.c.id == bindparam("id"), todos.c.tenant == bindparam("tenant")
    )
)


async def get_todo(store: EventStore, todo_id: int, *, tenant: str) -> TodoSnapshot | None:
    """The tenant's todo; None when there is none with that id, or it is another tenant's."""
    found = await GET_TODO.mappings(store, {"id": todo_id, "tenant": tenant})
    return TodoSnapshot.model_validate(found[0]) if found else None
