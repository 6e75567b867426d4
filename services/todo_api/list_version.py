"""Each tenant's todo list's version: what the tenant's calendar feed tag is made of.

A log position cannot be the tag on PostgreSQL: positions are drawn at insert, so a change that
drew position 5 can commit after one that drew 6, and the highest position would not move when it
lands. The version is a counter moved on in the committing transaction itself: its row lock holds
until the commit, so versions follow the commits, and a reader sees version n only once the n-th
change is committed. Each tenant has its own row: a change to one tenant's list moves no other
tenant's tag, and writers of different tenants never wait on each other's row.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.todo_api.tables import list_versions
from shared.clock import utcnow
from shared.eventstore.direct_reads import DirectRead
from shared.eventstore.direct_writes import DirectWrite
from shared.eventstore.store import EventStore
from shared.eventstore.upsert import ConflictInsert, insert_on_conflict


class ListVersion(NamedTuple):
    list_id: str
    version: int
    changed_at: datetime

    @property
    def etag(self) -> str:
        """The feed's tag: the list's id and version, never seen for another list or database."""
        return f'"todos-{self.list_id}-{self.version}"'


def _new_row(tenant: str, version: int, changed_at: datetime) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "list_id": uuid.uuid4().hex,
        "version": version,
        "changed_at": changed_at,
    }


async def seed_list_version(conn: AsyncConnection, tenant: str, changed_at: datetime) -> None:
    """Create the tenant's version row at version 0, with an id of its own; a row already there
    is kept, also when two requests seed it at the same time."""
    await conn.execute(
        insert_on_conflict(conn, list_versions).values(**_new_row(tenant, 0, changed_at))
    )


async def advance_list_version(conn: AsyncConnection, tenant: str, changed_at: datetime) -> None:
    """Move the tenant's version on, in the transaction of the change it stands for; the list's
    first change makes its row."""
    row = _new_row(tenant, 1, changed_at)
    await _advance(conn.dialect.name).run(conn, {f"new_{k}": v for k, v in row.items()})


@functools.cache
def _advance(dialect: str) -> DirectWrite:
    # built once per dialect, given its values at execution: compiled once and cached (the
    # parameters are named apart from the columns, which SQLAlchemy keeps for its own); on
    # SQLite run on its own connection
    return DirectWrite(_advance_statement(dialect))


def _advance_statement(dialect: str) -> ConflictInsert:
    new: dict[str, BindParameter[Any]] = {
        column: bindparam(f"new_{column}") for column in ("tenant", "list_id", "changed_at")
    }
    return insert_on_conflict(
        dialect,
        list_versions,
        index_elements=[list_versions.c.tenant],
        set_={"version": list_versions.c.version + 1, "changed_at": new["changed_at"]},
    ).values(**new, version=bindparam("new_version"))


async def advance_every_list_version(conn: AsyncConnection, changed_at: datetime) -> None:
    """Move every tenant's version on (a rebuild wrote every list anew)."""
    await conn.execute(
        update(list_versions).values(version=list_versions.c.version + 1, changed_at=changed_at)
    )


async def read_list_version(conn: AsyncConnection, tenant: str) -> ListVersion | None:
    """The tenant's list version; None when its row is not made yet."""
    query = select(list_versions).where(list_versions.c.tenant == tenant)
    row = (await conn.execute(query)).first()
    return None if row is None else ListVersion(row.list_id, int(row.version), row.changed_at)


# what names a list as it stands: its id and version (None: no version row yet)
ListKey = tuple[str, int]
# on SQLite run on the store's own connection (shared/eventstore/direct_reads.py)
LIST_KEY = DirectRead(
    select(list_versions.c.list_id, list_versions.c.version).where(
        list_versions.c.tenant == bindparam("tenant")
    )
)


async def read_list_key(store: EventStore, tenant: str) -> ListKey | None:
    """The tenant's list id and version, read outside any transaction."""
    found = await LIST_KEY.rows(store, {"tenant": tenant})
    return None if not found else (str(found[0][0]), int(found[0][1]))


async def list_version_of(store: EventStore, tenant: str) -> ListVersion:
    """The tenant's list version; a list that never changed gets its row now, at version 0."""
    async with store.reading() as conn:
        found = await read_list_version(conn, tenant)
    if found is not None:
        return found
    async with store.transaction() as conn:
        await seed_list_version(conn, tenant, utcnow())
        seeded = await read_list_version(conn, tenant)
    assert seeded is not None, "the row was just made"
    return seeded
