"""The API keys read model (`todo_api_api_keys`): the shared fold (shared/auth/key_table.py) on
todo_api's table, written in the append's transaction and refolded in a rebuild's swap."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from services.todo_api.tables import api_keys
from shared.auth import key_table
from shared.contracts.envelope import Envelope
from shared.eventstore.store import StoreTables


async def project_keys(conn: AsyncConnection, envelopes: Iterable[Envelope]) -> None:
    """Write what each key event does, in the append's transaction."""
    await key_table.project_keys(conn, api_keys, envelopes)


async def refold_keys(conn: AsyncConnection, store: StoreTables) -> None:
    """Rewrite the keys table from the log, in a rebuild's swap; `last_used_at` is kept."""
    await key_table.refold_keys(conn, api_keys, store)
