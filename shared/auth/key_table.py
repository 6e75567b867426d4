"""The API keys read model, folded from ApiKeyIssued and ApiKeyRevoked: one definition for every
service that keeps keys (todo_api issues them; the job tracker receives their events).

`key_change` is the one fold: `project_keys` writes it in the transaction that stores the events
(todo_api, where a key's stream orders them), `refold_key` rewrites one key from its events in the
log (a consumer, whose deliveries come in any order), and `refold_keys` applies it to the whole
log in a rebuild's swap, so a rebuilt table and the live one cannot differ (except `last_used_at`,
which no event records and the refolds keep).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts.envelope import Envelope
from shared.contracts.events import API_KEY_EVENT_TYPES, AnyEvent, ApiKeyIssued, ApiKeyRevoked
from shared.contracts.streams import api_key_stream_id
from shared.eventstore.store import StoreTables


def api_key_table(metadata: MetaData, owner: str) -> Table:
    """`<owner>_api_keys`: the secret's hash only, never the secret; `last_used_at` is
    bookkeeping, in no event."""
    return Table(
        f"{owner}_api_keys",
        metadata,
        Column("key_id", String(16), primary_key=True),
        Column("tenant", String(255), nullable=False),
        # the roles, space-separated (a key has one or two)
        Column("roles", String(255), nullable=False),
        Column("label", String(255), nullable=False),
        Column("secret_sha256", String(64), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("last_used_at", DateTime),
        Column("revoked_at", DateTime),
    )


class KeyChange(NamedTuple):
    key_id: str
    # the whole row (issued) or the columns that change (revoked)
    values: dict[str, Any]
    issued: bool


def key_change(event: AnyEvent) -> KeyChange | None:
    """What an event does to a keys table (None: nothing)."""
    if isinstance(event, ApiKeyIssued):
        row = {
            "key_id": event.key_id,
            "tenant": event.tenant,
            "roles": " ".join(sorted(event.roles)),
            "label": event.label,
            "secret_sha256": event.secret_sha256,
            "created_at": event.issued_at,
            "last_used_at": None,
            "revoked_at": None,
        }
        return KeyChange(event.key_id, row, issued=True)
    if isinstance(event, ApiKeyRevoked):
        return KeyChange(event.key_id, {"revoked_at": event.revoked_at}, issued=False)
    return None


async def project_keys(conn: AsyncConnection, table: Table, envelopes: Iterable[Envelope]) -> None:
    """Write what each key event does, in the caller's transaction; a revoke keeps the first
    revocation."""
    for envelope in envelopes:
        change = key_change(envelope.data)
        if change is None:
            continue
        if change.issued:
            await conn.execute(insert(table).values(**change.values))
        else:
            await conn.execute(
                update(table)
                .where(table.c.key_id == change.key_id, table.c.revoked_at.is_(None))
                .values(**change.values)
            )


def fold_keys(events: Iterable[AnyEvent]) -> dict[str, dict[str, Any]]:
    """A keys table as the events leave it, in memory."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        change = key_change(event)
        if change is None:
            continue
        if change.issued:
            rows[change.key_id] = dict(change.values)
        elif change.key_id in rows and rows[change.key_id]["revoked_at"] is None:
            rows[change.key_id].update(change.values)
    return rows


async def refold_key(conn: AsyncConnection, table: Table, store: StoreTables, key_id: str) -> None:
    """Rewrite one key's row from its events in the log of `store`, in the transaction that has
    just stored one of them: in stream order, whatever order they arrived in, so a revoke
    delivered before its issue still revokes the key once the issue arrives. `last_used_at` is
    kept."""
    # one key event at a time: the one that waited reads the other's event once it committed
    await _lock_writers(conn, table)
    events = store.events
    bodies = await conn.execute(
        select(events.c.body)
        .where(events.c.stream_id == api_key_stream_id(key_id))
        .order_by(events.c.stream_version)
    )
    row = fold_keys(Envelope.from_json(body).data for body in bodies.scalars()).get(key_id)
    if row is None:
        return
    found = await conn.execute(select(table.c.last_used_at).where(table.c.key_id == key_id))
    used = found.first()
    if used is None:
        await conn.execute(insert(table).values(**row))
        return
    values = {**row, "last_used_at": used.last_used_at}
    await conn.execute(update(table).where(table.c.key_id == key_id).values(**values))


async def refold_keys(conn: AsyncConnection, table: Table, store: StoreTables) -> None:
    """Rewrite `table` from the log of `store`, in the caller's transaction (a rebuild's swap,
    which also runs after an import); each key's `last_used_at` is kept."""
    # a key event being stored holds the table: wait for it, then read its event too
    await _lock_writers(conn, table)
    events = store.events
    bodies = await conn.execute(
        select(events.c.body)
        .where(events.c.type.in_(API_KEY_EVENT_TYPES))
        .order_by(events.c.position)
    )
    rows = fold_keys(Envelope.from_json(body).data for body in bodies.scalars())
    found = await conn.execute(select(table.c.key_id, table.c.last_used_at))
    used: dict[str, datetime | None] = {key_id: last_used for key_id, last_used in found}
    for key_id, row in rows.items():
        row["last_used_at"] = used.get(key_id)
    await conn.execute(delete(table))
    if rows:
        await conn.execute(insert(table), list(rows.values()))


async def _lock_writers(conn: AsyncConnection, table: Table) -> None:
    """Hold off the table's other writers until this transaction ends (SQLite has one writer
    at a time anyway)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE"))
