"""The plan a database makes for a query: which index it reads, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, text

from shared.eventstore.store import EventStore


async def plan_of(store: EventStore, query: Select[Any]) -> str:
    """The query's plan as text, with table scans off on PostgreSQL: on the almost empty tables
    of a test any plan is cheap, so the planner is made to show whether an index fits."""
    async with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SET enable_seqscan = off"))
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        statement = query.compile(conn.engine, compile_kwargs={"literal_binds": True})
        rows = await conn.exec_driver_sql(explain + str(statement))
        return "\n".join(str(row) for row in rows)
