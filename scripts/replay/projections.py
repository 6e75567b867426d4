"""The projections a rebuild can refold from a service's event log, held in memory while built.

Each service's tool face names its table, id column and fold; this module only assembles them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from scripts.replay.errors import OperatorError
from services.job_tracker import tool_face as job_tracker
from services.todo_api import tool_face as todo_api
from shared.contracts.envelope import Envelope

Row = dict[str, Any]


class Fold(Protocol):
    """A projection's state in memory: apply events, then write it out as rows."""

    def apply(self, envelope: Envelope) -> Any | None:
        """Fold one event in; return the id of the row it touched, if any."""
        ...

    def row(self, row_id: Any) -> Row | None:
        """The row with id `row_id` as it should now be stored (None: no such row)."""
        ...

    def row_ids(self) -> Iterable[Any]: ...


F = TypeVar("F", bound=Fold)


async def _nothing(_conn: AsyncConnection, _fold: Fold) -> None:
    return None


@dataclass(frozen=True)
class Projection(Generic[F]):
    """A service's projection as its tool face describes it: table, id column, fold, extras."""

    table: Table
    # the column whose value identifies a row: what the fold's `apply` returns
    id_column: str
    new_fold: Callable[[], F]
    # runs in the swap's transaction, for state that lives beside the projected rows
    after_swap: Callable[[AsyncConnection, F], Awaitable[None]] = _nothing
    # columns saying when a row was written, not what the events say: left out of comparisons
    bookkeeping: tuple[str, ...] = ()

    async def read_rows(self, conn: AsyncConnection) -> dict[Any, Row]:
        rows = (await conn.execute(select(self.table))).mappings().all()
        return {row[self.id_column]: dict(row) for row in rows}

    async def count(self, conn: AsyncConnection) -> int:
        query = select(func.count()).select_from(self.table)
        return int((await conn.execute(query)).scalar_one())


PROJECTIONS: dict[str, Projection[Any]] = {
    "todo_api": Projection(
        todo_api.PROJECTION_TABLE,
        todo_api.PROJECTION_ID_COLUMN,
        todo_api.TodoFold,
        after_swap=todo_api.after_rebuild,
    ),
    "job_tracker": Projection(
        job_tracker.PROJECTION_TABLE,
        job_tracker.PROJECTION_ID_COLUMN,
        job_tracker.JobFold,
        after_swap=job_tracker.after_rebuild,
        bookkeeping=job_tracker.PROJECTION_BOOKKEEPING,
    ),
}


def find_projection(service: str) -> Projection[Any]:
    if service not in PROJECTIONS:
        raise OperatorError(
            f"{service} keeps no projection to rebuild (these do: {', '.join(PROJECTIONS)})"
        )
    return PROJECTIONS[service]
