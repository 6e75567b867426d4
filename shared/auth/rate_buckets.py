"""Token buckets in the service's own database, each check one atomic statement.

Why the database: the limits must hold across every API process, and each of them already
holds a connection pool to it. A check is one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`:
the first request of a principal makes its row, each later one refills the row by the time
since its last check and takes a token only if a whole one is there, under the row's lock, so
two processes cannot both take the last token (no read, then write). On PostgreSQL it runs
outside any transaction: one round trip per limited request, as a Redis call would be, with no
new dependency; Redis would be another service to run, back up and watch. SQLite (the embedded
mode, one process) runs the same statement, queued with the store's other writes: a flood of
checks then waits its turn instead of meeting the store's transactions at SQLite's lock.

A bucket found short of a token is refused from memory until its next token is due
(empty_buckets.py): a principal flooding past its limit costs no write per refused request.

A bucket is one row per principal and limit, kept and updated in place: the table grows with
the principals who write, never with their requests. A row untouched for as long as its bucket
takes to fill is full, which is what no row means: the expiry job deletes it
(`expiring_buckets`), so the table holds only the principals who wrote lately.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Double,
    MetaData,
    String,
    Table,
    case,
    literal,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth.empty_buckets import EmptyBuckets
from shared.auth.token_bucket import GRANT_TOLERANCE, BucketPolicy, Outcome, first_take
from shared.contracts.tenancy import MAX_NAME_CHARS
from shared.eventstore.expiry import ExpiringRows
from shared.eventstore.store import EventStore
from shared.eventstore.upsert import insert_on_conflict


def rate_bucket_table(metadata: MetaData, owner: str) -> Table:
    """`<owner>_rate_buckets`: one row per principal and limit."""
    return Table(
        f"{owner}_rate_buckets",
        metadata,
        Column("tenant", String(MAX_NAME_CHARS), primary_key=True),
        Column("subject", String(MAX_NAME_CHARS), primary_key=True),
        Column("bucket", String(32), primary_key=True),
        Column("tokens", Double, nullable=False),
        # milliseconds since the epoch, whole, so the time between two checks is exact
        Column("refilled_at_ms", BigInteger, nullable=False),
        # whether the last check took a token: RETURNING gives only the row after the update
        Column("granted", Boolean, nullable=False),
    )


_EPOCH = datetime(1970, 1, 1)


def expiring_buckets(table: Table, policies: Iterable[BucketPolicy]) -> ExpiringRows:
    """The buckets full again, whatever their limit: untouched for as long as the slowest of
    `policies` takes to fill from empty (a limit no longer in force reads no row at all)."""
    window = max((policy.window_s for policy in policies), default=0)
    return ExpiringRows(
        table,
        table.c.refilled_at_ms,
        timedelta(seconds=window),
        to_stamp=_epoch_ms,
        from_stamp=_from_epoch_ms,
    )


def _epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _from_epoch_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class BucketKey:
    """Whose bucket: a principal's (tenant and subject) for one limit."""

    tenant: str
    subject: str
    bucket: str


class RateBuckets:
    """The buckets of one table in the database of a service's store."""

    def __init__(self, store: EventStore, table: Table) -> None:
        self._store = store
        self._table = table
        self._dialect = store.engine.dialect.name
        # one statement, without the BEGIN and COMMIT round trips of a transaction around it
        self._autocommit = store.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._empty = EmptyBuckets()

    async def take(self, key: BucketKey, policy: BucketPolicy, now_ms: int) -> Outcome:
        """Refill `key`'s bucket to `now_ms` and take a token if one is there, atomically."""
        known = self._empty.refusal(key, policy, now_ms)
        if known is not None:
            return known
        statement = _take_statement(self._dialect, self._table, key, policy, now_ms)
        async with self._writing() as conn:
            row = (await conn.execute(statement)).one()
        outcome = Outcome(granted=row.granted, tokens=row.tokens)
        self._empty.note(key, policy, outcome, row.refilled_at_ms)
        return outcome

    def empty_for_ms(self, key: BucketKey, now_ms: int) -> int:
        """How long this process knows `key`'s bucket stays without a token (0: not known)."""
        return self._empty.due_in_ms(key, now_ms)

    def _writing(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        if self._dialect == "sqlite":
            return self._store.transaction()
        return self._autocommit.connect()


def _take_statement(
    dialect: str, table: Table, key: BucketKey, policy: BucketPolicy, now_ms: int
) -> Any:
    """token_bucket.take in SQL, on the row as it is when the statement holds its lock."""
    now = literal(now_ms, BigInteger)
    elapsed_ms = _larger(now - table.c.refilled_at_ms, literal(0, BigInteger))
    gained = table.c.tokens + elapsed_ms * literal(policy.tokens_per_ms, Double)
    tokens = _smaller(gained, literal(float(policy.burst), Double))
    granted = tokens >= literal(1 - GRANT_TOLERANCE, Double)
    first = first_take(policy)
    statement = insert_on_conflict(
        dialect,
        table,
        index_elements=[table.c.tenant, table.c.subject, table.c.bucket],
        set_={
            "tokens": case((granted, tokens - 1), else_=tokens),
            # never back: a process whose clock is behind adds no time twice
            "refilled_at_ms": _larger(table.c.refilled_at_ms, now),
            "granted": granted,
        },
    ).values(
        tenant=key.tenant,
        subject=key.subject,
        bucket=key.bucket,
        tokens=first.tokens,
        refilled_at_ms=now_ms,
        granted=first.granted,
    )
    return statement.returning(table.c.tokens, table.c.granted, table.c.refilled_at_ms)


# CASE rather than GREATEST/LEAST (PostgreSQL) or two-argument max/min (SQLite): both have it
def _larger(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((a >= b, a), else_=b)


def _smaller(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((a <= b, a), else_=b)
