"""Another process's SQLite write lock is waited for without stopping the event loop.

`make run` runs its services on one loop with SQLite statements executed on it. An operator tool
(`replay rebuild`, `import`) or any other process writing a service's file or the transport's
holds the write lock for as long as its transaction lasts; meanwhile health, heartbeats and every
request of all three services must go on, and a write that waits succeeds once the lock is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from embedded.transport import database as transport_database
from embedded.transport import names
from embedded.transport.clients import provision_embedded, transport_path
from scripts.replay.projections import PROJECTIONS, Projection
from services.todo_api.commands import CreateTodo
from services.todo_api.handlers import create_todo
from services.todo_api.records import SqlTodoBook
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.contracts.topology import JOB_TRACKER, Names
from shared.eventstore import sqlite_on_loop as sqlite_inline
from shared.eventstore.store import EventStore
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.replay_stack import Ran, open_service_store, run_replay
from tests.support.stores import deleted, make_store

T = TypeVar("T")

# the loop must tick this often while a write waits for the lock: a write that blocks the loop
# lets it tick not once until the lock is let go, which the loop itself does. Counted in ticks,
# not time, so a stalled host (which delays the ticks and the hold alike) makes no difference
TICKS_WHILE_WAITING = 50
# how long the outside writer holds the lock while a write waits (at least: it is let go once
# the loop has also ticked TICKS_WHILE_WAITING times); within every patience
HOLD_S = 3.0
# `replay rebuild` holding the lock through its swap, and when the service's write comes in
REBUILD_HOLD_S = 10.0
REBUILD_WRITE_AFTER_S = 2.0
TICK_S = 0.005
# the patience the waiting tests give writes: a host stall while the lock is let go counts
# against it (see `patient_writes`)
TEST_PATIENCE_S = 120.0
# how long a helper thread waits for a signal before giving up (a failed test must not hang)
SIGNAL_TIMEOUT_S = 60.0


@dataclasses.dataclass
class Hold:
    """An outside writer's signals: it holds the lock, it may let go, it has let go."""

    held: threading.Event = dataclasses.field(default_factory=threading.Event)
    release: threading.Event = dataclasses.field(default_factory=threading.Event)
    released: threading.Event = dataclasses.field(default_factory=threading.Event)

    def keep_until_released(self) -> None:
        self.held.set()
        self.release.wait(SIGNAL_TIMEOUT_S)


@pytest.fixture
def patient_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes that wait out any host stall; the holds of these tests are within the real
    patience too, which is what a write gets outside the tests."""
    assert HOLD_S < transport_database.LOCK_PATIENCE_S
    assert REBUILD_HOLD_S - REBUILD_WRITE_AFTER_S < sqlite_inline.LOCK_PATIENCE_S
    monkeypatch.setattr(sqlite_inline, "LOCK_PATIENCE_S", TEST_PATIENCE_S)
    monkeypatch.setattr(transport_database, "LOCK_PATIENCE_S", TEST_PATIENCE_S)


class TickCounter:
    """A task ticking on the loop, counting its ticks while `counting()` says so."""

    def __init__(self, counting: Callable[[], bool]) -> None:
        self.ticks = 0
        self.enough = asyncio.Event()
        self._counting = counting
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            if self._counting():
                self.ticks += 1
                if self.ticks >= TICKS_WHILE_WAITING:
                    self.enough.set()


@contextlib.asynccontextmanager
async def write_lock_held(path: Path) -> AsyncIterator[Hold]:
    """Another connection, in a thread of its own, holds the file's write lock until released."""
    hold = Hold()

    def holder() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            hold.keep_until_released()
            conn.execute("COMMIT")
        finally:
            conn.close()
            hold.released.set()

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(hold.held.wait, SIGNAL_TIMEOUT_S), "the lock was not taken"
        yield hold
    finally:
        hold.release.set()
        await asyncio.to_thread(thread.join, SIGNAL_TIMEOUT_S)


async def wait_through_hold(
    write: Awaitable[T], hold: Hold, *, hold_s: float, write_after_s: float = 0.0
) -> T:
    """Run `write` while `hold` keeps the lock for `hold_s` of the loop's time and until the loop
    has ticked TICKS_WHILE_WAITING times while the write waited, then let go.

    The hold is let go by this loop: a loop blocked by the write keeps the lock held until the
    holder gives up. Fails if the loop did not tick on while the write waited, or if the write
    returned while the lock was still held.
    """
    write_started = False
    waiting: asyncio.Task[T] | None = None

    def write_waits() -> bool:
        return write_started and waiting is not None and not waiting.done()

    ticker = TickCounter(write_waits)
    ticker.start()

    async def when_due() -> T:
        nonlocal write_started
        await asyncio.sleep(write_after_s)
        write_started = True
        return await write

    waiting = asyncio.create_task(when_due())
    await asyncio.sleep(hold_s)
    enough = asyncio.create_task(ticker.enough.wait())
    await asyncio.wait([enough, waiting], return_when=asyncio.FIRST_COMPLETED)
    enough.cancel()
    # decided before the lock is let go: after it, the write may finish before the holder's
    # thread has said it let go
    done_while_held = waiting.done()
    ticks = ticker.ticks
    hold.release.set()
    [outcome] = await asyncio.gather(waiting, return_exceptions=True)
    await ticker.stop()
    assert ticks >= TICKS_WHILE_WAITING, (
        f"the event loop ticked {ticks} times while a write waited for another connection's "
        f"lock (the write ended with: {outcome!r})"
    )
    if isinstance(outcome, BaseException):
        raise outcome
    assert not done_while_held, "the write went through while the lock was held"
    return outcome


def _database_file(settings: Settings) -> Path:
    return Path(settings.database_url.split("///", 1)[1])


async def _append(store: EventStore, stream_id: str) -> None:
    async with store.transaction() as conn:
        await store.append(conn, stream_id, 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)


class TestEventStore:
    @pytest.mark.usefixtures("patient_writes")
    async def test_a_write_waits_for_another_connections_lock_while_the_loop_runs_on(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/service.db")
        store = await make_store(settings)
        try:
            async with write_lock_held(_database_file(settings)) as hold:
                await wait_through_hold(_append(store, todo_stream_id(1)), hold, hold_s=HOLD_S)
            assert [e.stream_id for e in await store.load(todo_stream_id(1))] == [todo_stream_id(1)]
        finally:
            await store.engine.dispose()

    async def test_a_write_that_outwaits_its_patience_fails_as_locked(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(sqlite_inline, "LOCK_PATIENCE_S", 0.2)
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/service.db")
        store = await make_store(settings)
        try:
            async with write_lock_held(_database_file(settings)) as hold:
                with pytest.raises(OperationalError, match="database is locked"):
                    await _append(store, todo_stream_id(1))
                assert not hold.released.is_set()
            # nothing was half done: the same write goes through once the lock is free
            await _append(store, todo_stream_id(1))
            assert len(await store.load(todo_stream_id(1))) == 1
        finally:
            await store.engine.dispose()


class TestTransport:
    @pytest.mark.usefixtures("patient_writes")
    async def test_a_send_waits_for_another_connections_lock_while_the_loop_runs_on(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(transport="embedded", var_dir=tmp_path)
        await provision_embedded(settings)
        url = names.queue_url(Names(settings.resource_prefix).queue(JOB_TRACKER))
        async with transport_client(settings, "sqs") as sqs:
            entries = [{"Id": "1", "MessageBody": "waited"}]
            async with write_lock_held(transport_path(settings)) as hold:
                await wait_through_hold(
                    sqs.send_message_batch(QueueUrl=url, Entries=entries), hold, hold_s=HOLD_S
                )
            received = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        assert [m["Body"] for m in received["Messages"]] == ["waited"]


class TestReplayRebuild:
    @pytest.mark.usefixtures("patient_writes")
    async def test_the_loop_runs_on_while_a_rebuild_holds_the_lock_through_its_swap(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        base = Settings()
        store = await open_service_store(base, "todo_api", tmp_path)
        try:
            book = SqlTodoBook(store)
            for title in ("one", "two"):
                await create_todo(CreateTodo(title=title), book)
            hold = Hold()
            held_projection = _held_in_swap(PROJECTIONS["todo_api"], hold)
            monkeypatch.setitem(PROJECTIONS, "todo_api", held_projection)
            async with rebuilding(base, tmp_path, hold) as ran:
                created = await wait_through_hold(
                    create_todo(CreateTodo(title="during the rebuild"), book),
                    hold,
                    hold_s=REBUILD_HOLD_S,
                    write_after_s=REBUILD_WRITE_AFTER_S,
                )
            [rebuilt] = ran
            assert rebuilt.status == 0, rebuilt.err
            assert created.id == 3
            async with store.reading() as conn:
                titles = (await conn.execute(text("SELECT title FROM todo_api_todos"))).scalars()
                assert sorted(titles) == ["during the rebuild", "one", "two"]
        finally:
            await store.engine.dispose()


@contextlib.asynccontextmanager
async def rebuilding(base: Settings, var_dir: Path, hold: Hold) -> AsyncIterator[list[Ran]]:
    """`replay rebuild --service todo_api` in a thread of its own, as another process would run
    it; yields once it holds the lock, and the list gets what it printed once it is done."""
    ran: list[Ran] = []

    def rebuild() -> None:
        try:
            argv = ("rebuild", "--service", "todo_api")
            ran.append(asyncio.run(run_replay(base, var_dir, *argv)))
        finally:
            hold.released.set()

    thread = threading.Thread(target=rebuild, daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(hold.held.wait, SIGNAL_TIMEOUT_S), "no rebuild held the lock"
        yield ran
    finally:
        hold.release.set()
        await asyncio.to_thread(thread.join, SIGNAL_TIMEOUT_S)


def _held_in_swap(projection: Projection[Any], hold: Hold) -> Projection[Any]:
    """The projection, whose rebuild keeps its locked transaction open after the swap."""

    async def after_swap(conn: AsyncConnection, fold: Any) -> None:
        await projection.after_swap(conn, fold)
        hold.keep_until_released()

    return dataclasses.replace(projection, after_swap=after_swap)
