"""The calendar feed URLs' read model (`todo_api_feed_secrets`): each tenant's current secret,
by its hash. One fold, `fold_feed_secrets`, written in the append's transaction and refolded
from the log in a rebuild's swap, so the live table and a rebuilt one cannot differ."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.todo_api.tables import feed_secrets
from shared.contracts.envelope import Envelope
from shared.contracts.events import FEED_SECRET_EVENT_TYPES, FeedSecretIssued, FeedSecretRevoked
from shared.eventstore.store import StoreTables

# a tenant's row as its events leave it; None: the tenant has no feed URL
SecretRow = dict[str, Any] | None


def fold_feed_secrets(envelopes: Iterable[Envelope]) -> dict[str, SecretRow]:
    """Each tenant's row after `envelopes`, for the tenants they are about: an issue replaces
    the tenant's secret, a revoke removes it."""
    rows: dict[str, SecretRow] = {}
    for envelope in envelopes:
        event = envelope.data
        if isinstance(event, FeedSecretIssued):
            rows[envelope.tenant] = {
                "tenant": envelope.tenant,
                "secret_sha256": event.secret_sha256,
                "issued_at": event.issued_at,
            }
        elif isinstance(event, FeedSecretRevoked):
            rows[envelope.tenant] = None
    return rows


async def project_feed_secrets(conn: AsyncConnection, envelopes: Iterable[Envelope]) -> None:
    """Write what the feed secret events do, in the append's transaction."""
    for tenant, row in fold_feed_secrets(envelopes).items():
        await conn.execute(delete(feed_secrets).where(feed_secrets.c.tenant == tenant))
        if row is not None:
            await conn.execute(insert(feed_secrets).values(**row))


async def refold_feed_secrets(conn: AsyncConnection, store: StoreTables) -> None:
    """Rewrite the table from the log of `store`, in the caller's transaction (a rebuild's
    swap, which also runs after an import)."""
    if conn.dialect.name == "postgresql":
        # an issue or revoke being stored holds the table: wait for it, then read its event too
        await conn.execute(text(f"LOCK TABLE {feed_secrets.name} IN SHARE ROW EXCLUSIVE MODE"))
    events = store.events
    bodies = await conn.execute(
        select(events.c.body)
        .where(events.c.type.in_(FEED_SECRET_EVENT_TYPES))
        .order_by(events.c.position)
    )
    rows = fold_feed_secrets(Envelope.from_json(body) for body in bodies.scalars())
    current = [row for row in rows.values() if row is not None]
    await conn.execute(delete(feed_secrets))
    if current:
        await conn.execute(insert(feed_secrets), current)
