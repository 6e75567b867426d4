"""The `KeyDirectory` the authentication middleware asks, over a keys table (key_table.py) in a
service's store: every request with a key reads it, so a revocation counts as soon as its row
is committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update

from shared.auth.api_keys import USE_NOTE_INTERVAL, StoredKey, known_roles
from shared.eventstore.store import EventStore


class SqlKeyDirectory:
    """The keys in `table`, on the service's store."""

    def __init__(self, store: EventStore, table: Table) -> None:
        self._store = store
        self._table = table
        # built once, given its key at execution: every request with a key runs it
        self._find = select(table).where(table.c.key_id == bindparam("key_id"))

    async def keys(self) -> list[StoredKey]:
        """Every key, revoked ones too, oldest first."""
        table = self._table
        query = select(table).order_by(table.c.created_at, table.c.key_id)
        async with self._store.reading() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [stored_key(row) for row in rows]

    async def find(self, key_id: str) -> StoredKey | None:
        """The key with this id, as committed now (one read, outside any transaction)."""
        async with self._store.reading() as conn:
            row = (await conn.execute(self._find, {"key_id": key_id})).mappings().first()
        return None if row is None else stored_key(row)

    async def note_use(self, key_id: str, at: datetime) -> None:
        """Record that the key was used at `at`, unless another request (or instance) did within
        USE_NOTE_INTERVAL: the condition keeps concurrent requests from all writing."""
        table = self._table
        column = table.c.last_used_at
        async with self._store.transaction() as conn:
            await conn.execute(
                update(table)
                .where(
                    table.c.key_id == key_id,
                    or_(column.is_(None), column <= at - USE_NOTE_INTERVAL),
                )
                .values(last_used_at=at)
            )


def stored_key(row: Any) -> StoredKey:
    return StoredKey(
        key_id=row["key_id"],
        tenant=row["tenant"],
        roles=known_roles(row["roles"].split()),
        label=row["label"],
        secret_sha256=row["secret_sha256"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
