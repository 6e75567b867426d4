"""Each tenant's todo list as last read, kept by the process and handed out again while the list's
version (list_version.py) has not moved: a calendar request reads one small row instead of the
whole list.

Reading the list was about 40% of a calendar request's CPU on SQLite (100 todos: the rows, the
models built from them, their references). Every change to a tenant's todos moves its version in
the change's own transaction, a rebuild moves every tenant's, and the calendar feed's tag relies on
the same rule: so a list kept under the version it was read at is the list as it stands while the
version stands.

The version is read before the list. A change that commits between the two reads is then in the
list but not in the version it is kept under: the next request reads the newer version and reads
the list again. The other way round (a list older than its version) cannot happen, so no request
is handed a list older than a change committed before it began. Replicas on one database each
keep their own, all held to the version in the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from services.todo_api.list_version import ListKey, read_list_key
from services.todo_api.projection import ListSnapshot, snapshot_todos
from shared.contracts.events import TodoSnapshot
from shared.eventstore.store import EventStore

# a list longer than this is read each time (a calendar that large renders for seconds anyway)
MAX_KEPT_LIST = 2_000
# the todos kept across all tenants; the tenant whose list was asked for longest ago goes first
MAX_KEPT_TODOS = 20_000

ListReader = Callable[[EventStore, str], Awaitable[ListSnapshot]]


class _Kept(NamedTuple):
    key: ListKey
    todos: tuple[TodoSnapshot, ...]
    refs: str


async def _read_list(store: EventStore, tenant: str) -> ListSnapshot:
    return await snapshot_todos(store, tenant=tenant)


class ListSnapshots:
    """The tenants' lists kept under their versions, for one store, in one process."""

    def __init__(
        self,
        *,
        max_list: int = MAX_KEPT_LIST,
        max_todos: int = MAX_KEPT_TODOS,
        read_list: ListReader = _read_list,
    ) -> None:
        self._max_list = max_list
        self._max_todos = max_todos
        self._read_list = read_list
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._todos_kept = 0
        # tests and tools run loops in several threads over one store
        self._lock = threading.Lock()

    async def of(self, store: EventStore, tenant: str) -> ListSnapshot:
        """The tenant's list in id order, no older than a change committed before the call."""
        key = await read_list_key(store, tenant)
        kept = self._kept_under(tenant, key)
        if kept is not None:
            # a list of its own for each caller: the todos themselves are frozen
            return ListSnapshot(list(kept.todos), kept.refs)
        listed = await self._read_list(store, tenant)
        # a list that never changed has no version yet (none, or one from before versions)
        if key is not None:
            self._keep(tenant, _Kept(key, tuple(listed.todos), listed.refs))
        return listed

    def _kept_under(self, tenant: str, key: ListKey | None) -> _Kept | None:
        with self._lock:
            kept = self._kept.get(tenant)
            if kept is None or kept.key != key:
                return None
            self._kept.move_to_end(tenant)
            return kept

    def _keep(self, tenant: str, kept: _Kept) -> None:
        with self._lock:
            self._forget(tenant)
            if len(kept.todos) > self._max_list:
                return
            self._kept[tenant] = kept
            self._todos_kept += len(kept.todos)
            while self._todos_kept > self._max_todos:
                self._forget(next(iter(self._kept)))

    def _forget(self, tenant: str) -> None:
        gone = self._kept.pop(tenant, None)
        if gone is not None:
            self._todos_kept -= len(gone.todos)
