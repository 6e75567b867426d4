"""The todo list's version: what the calendar feed's tag is made of.

A log position cannot be the tag on PostgreSQL: positions are drawn at insert, so a change that
drew position 5 can commit after one that drew 6, and the highest position would not move when it
lands. The version is a counter moved on in the committing transaction itself: its row lock holds
until the commit, so versions follow the commits, and a reader sees version n only once the n-th
change is committed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.todo_api.tables import list_version
from shared.eventstore.upsert import insert_on_conflict

ROW = "todos"


class ListVersion(NamedTuple):
    database_id: str
    version: int
    changed_at: datetime

    @property
    def etag(self) -> str:
        """The feed's tag: this database's id and the list's version, never seen elsewhere."""
        return f'"todos-{self.database_id}-{self.version}"'


async def seed_list_version(conn: AsyncConnection, changed_at: datetime) -> None:
    """Create the version row once, with this database's id; a row already there is kept, also
    when replicas started together seed it at the same time."""
    row = {"name": ROW, "database_id": uuid.uuid4().hex, "version": 0, "changed_at": changed_at}
    await conn.execute(insert_on_conflict(conn, list_version).values(**row))


async def advance_list_version(conn: AsyncConnection, changed_at: datetime) -> None:
    """Move the version on, in the transaction of the change it stands for."""
    moved = await conn.execute(
        update(list_version)
        .where(list_version.c.name == ROW)
        .values(version=list_version.c.version + 1, changed_at=changed_at)
    )
    if moved.rowcount != 1:
        # a list whose version never moves would answer 304 to every change
        raise LookupError("the todo list has no version row: seed_list_version runs at start")


async def read_list_version(conn: AsyncConnection) -> ListVersion:
    row = (await conn.execute(select(list_version).where(list_version.c.name == ROW))).one()
    return ListVersion(row.database_id, int(row.version), row.changed_at)
