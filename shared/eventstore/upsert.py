"""The one way to write an insert that meets an existing row: `INSERT ... ON CONFLICT`.

PostgreSQL and SQLite both have it, but SQLAlchemy builds it only from each dialect's own
`insert`; this module picks the dialect, so no caller does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

from sqlalchemy import Column, ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

# `set_=NEW_ROW`: on conflict, every column outside `index_elements` takes the inserted value
NEW_ROW: Final = "new row"

ConflictInsert = postgresql.Insert | sqlite.Insert
# the dialects that have it: a statement cached per dialect is built for each
DIALECTS: Final = ("postgresql", "sqlite")


def insert_on_conflict(
    dialect: AsyncConnection | str,
    table: Table,
    *,
    index_elements: Sequence[Column[Any]] = (),
    set_: Mapping[str, Any] | Literal["new row"] | None = None,
    where: ColumnElement[bool] | None = None,
) -> ConflictInsert:
    """An insert into `table` that, when a row with the same key is there, does nothing
    (`set_=None`) or updates that row instead (`set_`: the new values, or NEW_ROW).

    :param dialect: the connection the statement runs on, or its dialect's name (for statements
        built once per dialect and cached: a statement given its values at execution is
        compiled once)
    :param index_elements: the unique columns whose conflict is meant; needed to update, and for
        doing nothing optional (without them, a conflict on any unique key is ignored)
    :param where: update only a row that matches (else the insert writes nothing)
    """
    name = dialect if isinstance(dialect, str) else dialect.dialect.name
    statement = _insert_of(name)(table)
    if set_ is None:
        return statement.on_conflict_do_nothing(index_elements=index_elements or None)
    if isinstance(set_, str):
        keys = {column.name for column in index_elements}
        set_ = {
            column.name: statement.excluded[column.name]
            for column in table.c
            if column.name not in keys
        }
    return statement.on_conflict_do_update(index_elements=index_elements, set_=set_, where=where)


def _insert_of(dialect_name: str) -> Callable[[Table], ConflictInsert]:
    if dialect_name == "postgresql":
        return postgresql.insert
    if dialect_name == "sqlite":
        return sqlite.insert
    raise ValueError(f"no INSERT ... ON CONFLICT for the {dialect_name!r} dialect")
