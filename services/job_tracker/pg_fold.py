"""A fold's writes on PostgreSQL in one statement: the inbox row, the log row and the job row.

Written one by one they take a round trip each, and a fold is on the path from a calendar's
render to its client seeing SUCCESS. Here they are data-modifying CTEs of one statement: the
inbox row goes in unless this consumer handled the event (an inbox row, or a log row that
outlived it); the log row and the job row are written only from that row, so a duplicate writes
nothing. A new job's row is inserted unless another transaction made it since the fold's read,
which the statement reports so the fold reads that row and folds into it. The log row is written
last, so its position follows the order in which folds write the job's row. Where the job
changes port is PostgreSQL's, the statement also notifies its channel of the row it wrote.

Two deliveries of one event racing both find it new at the read; the second's inbox insert waits
for the first's commit, then inserts nothing, so its log and job rows are not written either.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, String, Table, bindparam, exists, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.eventstore.store import StoreTables

# the job's columns are bound under their names with this prefix: the log's share some names
JOB = "job_"
CHANNEL = "notify_channel"


async def fold_writes(
    conn: AsyncConnection,
    tables: StoreTables,
    jobs: Table,
    values: Mapping[str, Any],
    *,
    new_row: bool,
    notify_channel: str | None,
) -> tuple[bool, bool]:
    """Run the fold's writes; (whether the event was new, whether the job's row was written).
    `values`: the inbox's and log's columns by name, the job's as `job_<column>`. A row written
    is notified on `notify_channel` (None: not here), named by its task id."""
    statement = _fold_statement(tables, jobs, new_row, notifies=notify_channel is not None)
    parameters = dict(values) if notify_channel is None else {**values, CHANNEL: notify_channel}
    marked, written, *_notified = (await conn.execute(statement, parameters)).one()
    return bool(marked), bool(written)


def job_parameters(job_values: Mapping[str, Any]) -> dict[str, Any]:
    """A job row's values as the statement binds them."""
    return {f"{JOB}{name}": value for name, value in job_values.items()}


@functools.cache
def _fold_statement(
    tables: StoreTables, jobs: Table, new_row: bool, *, notifies: bool
) -> Select[Any]:
    # built once for each shape: given its values at execution, it is compiled once
    inbox, log = tables.inbox, tables.events
    event_id = bindparam("event_id", type_=inbox.c.event_id.type)
    marked = (
        postgresql.insert(inbox)
        .from_select(
            ["consumer", "event_id", "handled_at"],
            select(
                bindparam("consumer", type_=inbox.c.consumer.type),
                event_id,
                bindparam("handled_at", type_=inbox.c.handled_at.type),
            ).where(~exists().where(log.c.event_id == event_id)),
        )
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
        .cte("marked")
    )
    job_columns = [column.name for column in jobs.c]
    job_value = {name: bindparam(f"{JOB}{name}", type_=jobs.c[name].type) for name in job_columns}
    if new_row:
        written = (
            postgresql.insert(jobs)
            .from_select(job_columns, select(*job_value.values()).select_from(marked))
            .on_conflict_do_nothing(index_elements=[jobs.c.task_id])
            .returning(jobs.c.task_id)
            .cte("written")
        )
    else:
        written = (
            update(jobs)
            .where(jobs.c.task_id == job_value["task_id"], exists(select(marked.c.event_id)))
            .values({name: value for name, value in job_value.items() if name != "task_id"})
            .returning(jobs.c.task_id)
            .cte("written")
        )
    writes = select(func.count()).select_from(written).scalar_subquery()
    logged_columns = [column.name for column in log.c if column.name != "position"]
    logged = (
        log.insert()
        .from_select(
            logged_columns,
            select(
                *(
                    marked.c.event_id
                    if name == "event_id"
                    else bindparam(name, type_=log.c[name].type)
                    for name in logged_columns
                )
            )
            .select_from(marked)
            # read after the job's row is written, or found made by another transaction: the
            # log's position is taken then, so a job's events take positions in the order they
            # fold, even two that both found no row
            .where(writes.is_not(None)),
        )
        .returning(log.c.position)
        .cte("logged")
    )
    counted = select(select(func.count()).select_from(marked).scalar_subquery(), writes)
    if notifies:
        # sent on commit only, as a NOTIFY of the transaction's own would be
        notify = func.pg_notify(bindparam(CHANNEL, type_=String), written.c.task_id)
        notified = select(notify.label("notified")).select_from(written).cte("notified")
        # a read CTE runs only where it is read: counting its rows calls pg_notify for each
        counted = counted.add_columns(select(func.count()).select_from(notified).scalar_subquery())
    # the log's insert is read by nothing; a data-modifying CTE runs whether read or not
    return counted.add_cte(logged)
