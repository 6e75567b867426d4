"""The job changes port on PostgreSQL: heard by every replica on the database.

A fold's statement sends `pg_notify(channel, task_id)` for the job row it writes (`pg_fold.py`),
and the fold's transaction sends one for any other row it changed, naming them all, separated by
spaces. Either leaves only if the change commits. Each process keeps one listener connection of
its own (asyncpg, outside the engine's pool) and wakes the watchers of the jobs
named. A connection that is lost or stops answering its ping is replaced after a backoff; once
listening again, every watcher reads its row again, which holds whatever changed while no one
listened.

The channel is named after the schema (`current_schema()`), so services or tests sharing a
database but not a schema do not wake each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from uuid import UUID

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.job_tracker.job_changes import Wakeup, Watchers

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "job_changes_"
# a listener connection says who it is in pg_stat_activity
APPLICATION_NAME = "job_tracker_job_changes"
# how often a quiet listener connection is asked whether it is still there, and for how long
PING_EVERY_S = 5.0
PING_TIMEOUT_S = 3.0
RECONNECT_FIRST_S = 0.1
RECONNECT_MAX_S = 5.0
# the listener's connection is no request's: one that does not open this soon is tried again
CONNECT_TIMEOUT_S = 3.0
NOTIFY = text("SELECT pg_notify(:channel, :task_ids)")
# the jobs one notification names at most: 100 ids of 36 characters and their spaces stay well
# under PostgreSQL's 8000-byte payload limit
IDS_PER_NOTIFICATION = 100

Connect = Callable[[], Awaitable[asyncpg.Connection]]


def asyncpg_connect(url: URL) -> Connect:
    """A new connection to the engine's database, as asyncpg opens it, outside any pool."""

    async def connect() -> asyncpg.Connection:
        connection: asyncpg.Connection = await asyncpg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=CONNECT_TIMEOUT_S,
            server_settings={"application_name": APPLICATION_NAME},
        )
        return connection

    return connect


async def channel_of(engine: AsyncEngine) -> str:
    """The channel of the engine's schema."""
    async with engine.connect() as conn:
        schema = await conn.scalar(text("SELECT current_schema()"))
    return f"{CHANNEL_PREFIX}{schema}"


class PgJobChanges:
    """Changes heard from every process on the database; `start` before use, `stop` after."""

    def __init__(self, channel: str, connect: Connect) -> None:
        self.channel = channel
        self._connect = connect
        self._watchers = Watchers()
        self._task: asyncio.Task[None] | None = None
        # set while the listener connection listens (tests wait for it)
        self.listening = asyncio.Event()

    @classmethod
    async def on(cls, engine: AsyncEngine, connect: Connect | None = None) -> PgJobChanges:
        return cls(await channel_of(engine), connect or asyncpg_connect(engine.url))

    @property
    def notify_channel(self) -> str:
        return self.channel

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="job-changes-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def changed_in(self, conn: AsyncConnection, task_ids: Collection[UUID]) -> None:
        named = sorted(str(task_id) for task_id in task_ids)
        for start in range(0, len(named), IDS_PER_NOTIFICATION):
            payload = " ".join(named[start : start + IDS_PER_NOTIFICATION])
            await conn.execute(NOTIFY, {"channel": self.channel, "task_ids": payload})

    def committed(self, task_ids: Collection[UUID]) -> None:
        # this process hears its own notification on its listener connection, as the others do
        return None

    def watching(self, task_id: UUID) -> contextlib.AbstractContextManager[Wakeup]:
        return self._watchers.watching(task_id)

    def end_all(self) -> None:
        self._watchers.end_all()

    async def _listen(self) -> None:
        delay = RECONNECT_FIRST_S
        while True:
            try:
                connection = await self._connect()
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                logger.warning("job changes: cannot connect to listen (%r); retrying", exc)
            else:
                try:
                    await self._listen_on(connection)
                    delay = RECONNECT_FIRST_S
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                    logger.warning("job changes: listener connection lost (%r); reconnecting", e)
                    delay = RECONNECT_FIRST_S
                finally:
                    self.listening.clear()
                    # a dead server is not waited for
                    connection.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _listen_on(self, connection: asyncpg.Connection) -> None:
        """Listen until the connection is lost or stops answering."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(self.channel, self._heard)
        self.listening.set()
        # changes committed while no one listened were not heard: every watcher reads again
        self._watchers.wake_all()
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PING_EVERY_S):
                    await lost.wait()
            if not lost.is_set():
                await connection.execute("SELECT 1", timeout=PING_TIMEOUT_S)
        raise ConnectionResetError("the listener connection was closed")

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        for name in payload.split():
            try:
                task_id = UUID(name)
            except ValueError:
                logger.warning("job changes: ignored a notification's name of no job: %r", name)
                continue
            self._watchers.wake(task_id)
