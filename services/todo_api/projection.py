"""The todo list read model, written in the same transaction as the events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.todo_api.tables import todo_ids, todos
from shared.envelope import Envelope
from shared.events import TodoCreated, TodoDeleted, TodoSnapshot, TodoUpdated


async def project(conn: AsyncConnection, envelopes: Iterable[Envelope]) -> None:
    """Apply todo events to the list; other events leave it alone."""
    for envelope in envelopes:
        event = envelope.data
        if isinstance(event, TodoCreated):
            await conn.execute(insert(todos).values(**event.todo.model_dump()))
        elif isinstance(event, TodoUpdated):
            values = event.todo.model_dump(exclude={"id"})
            await conn.execute(update(todos).where(todos.c.id == event.todo.id).values(**values))
        elif isinstance(event, TodoDeleted):
            await conn.execute(delete(todos).where(todos.c.id == event.id))


async def next_todo_id(conn: AsyncConnection) -> int:
    """Hand out the next id; the row lock serialises concurrent creates until commit."""
    bumped = (
        update(todo_ids)
        .where(todo_ids.c.name == "todo")
        .values(last_id=todo_ids.c.last_id + 1)
        .returning(todo_ids.c.last_id)
    )
    return int((await conn.execute(bumped)).scalar_one())


async def seed_todo_ids(conn: AsyncConnection) -> None:
    """Create the id counter once, at start-up, so creates never race to insert it."""
    found = (await conn.execute(select(todo_ids.c.last_id))).first()
    if found is None:
        await conn.execute(insert(todo_ids).values(name="todo", last_id=0))


async def list_todos(
    conn: AsyncConnection, *, completed: bool | None = None, deadline_before: datetime | None = None
) -> list[TodoSnapshot]:
    """Todos in creation order, filtered by completion and a latest deadline."""
    query = select(todos).order_by(todos.c.id)
    if completed is not None:
        query = query.where(todos.c.completed == completed)
    if deadline_before is not None:
        query = query.where(
            todos.c.deadline_at.is_not(None), todos.c.deadline_at <= deadline_before
        )
    rows = (await conn.execute(query)).mappings().all()
    return [TodoSnapshot.model_validate(dict(row)) for row in rows]


async def get_todo(conn: AsyncConnection, todo_id: int) -> TodoSnapshot | None:
    row = (await conn.execute(select(todos).where(todos.c.id == todo_id))).mappings().first()
    return TodoSnapshot.model_validate(dict(row)) if row else None
