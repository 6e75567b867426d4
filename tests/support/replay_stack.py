"""The three services wired by hand for the replay tests, stepped until idle instead of run.

`replay_stack` is the fixture (registered in tests/conftest.py); `running_stack` builds one
from other settings, `run_replay` runs the command line without a stack.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from rich.console import Console
from sqlalchemy import func, select

from scripts.replay.cli import Context, execute
from scripts.replay.targets import SERVICES, service_settings
from services.calendar_worker.handlers import WorkerPorts
from services.calendar_worker.handlers import make_handle as worker_handle
from services.calendar_worker.records import SqlRenderBook
from services.job_tracker.fold_groups import make_handle as tracker_handle
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import jobs
from services.todo_api.commands import CreateTodo, RequestCalendar
from services.todo_api.handlers import create_todo, request_calendar
from services.todo_api.projection import list_todos, seed_todo_ids
from services.todo_api.records import SqlTodoBook
from shared.app.resources import open_store
from shared.aws.blobs import S3BlobStore
from shared.aws.clients import aws_client
from shared.contracts.events import TodoSnapshot
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.contracts.topology import CALENDAR_WORKER, JOB_TRACKER, Names, QueueSpec
from shared.eventstore.store import EventStore
from shared.messaging.consumer import ConsumerOptions, Handle, SqsConsumer
from shared.messaging.outbox import SqlOutbox
from shared.messaging.provisioning import Deployed, bootstrap
from shared.messaging.publisher import SnsPublisher
from shared.messaging.relay import OutboxRelay
from shared.messaging.relay_lease import RelayLease
from shared.settings import EMBEDDED_DATABASE_URL, Settings

# renewed every third of this while handled: a stalled host loses seconds, not the message (a
# failed one comes back sooner anyway, after the consumer's retry delay of 1 s, then 2 s)
VISIBILITY_S = 12
MAX_RECEIVES = 2


@dataclass
class Ran:
    """What a command line printed and returned."""

    status: int
    out: str
    err: str


@dataclass
class Stack:
    base: Settings
    var_dir: Path
    deployed: Deployed
    sqs: Any
    stores: dict[str, EventStore] = field(default_factory=dict)
    relays: dict[str, OutboxRelay] = field(default_factory=dict)
    blobs: S3BlobStore | None = None

    async def create_todos(self, count: int) -> list[TodoSnapshot]:
        book = SqlTodoBook(self.stores["todo_api"])
        return [await create_todo(CreateTodo(title=f"todo {n}"), book) for n in range(count)]

    async def request_calendars(self, count: int) -> list[UUID]:
        assert self.blobs is not None
        task_ids = [uuid4() for _ in range(count)]
        book = SqlTodoBook(self.stores["todo_api"])
        for task_id in task_ids:
            await request_calendar(RequestCalendar(task_id), book, self.blobs)
        return task_ids

    def consumer(self, spec: QueueSpec, handle: Handle) -> SqsConsumer:
        options = ConsumerOptions(
            name=spec.name,
            wait_time_s=1,
            visibility_timeout_s=VISIBILITY_S,
            max_receive_count=MAX_RECEIVES,
        )
        return SqsConsumer(self.sqs, Names(self.base.resource_prefix).queue(spec), handle, options)

    def worker(self) -> SqsConsumer:
        assert self.blobs is not None
        ports = WorkerPorts(SqlRenderBook(self.stores["calendar_worker"]), self.blobs)
        return self.consumer(CALENDAR_WORKER, worker_handle(ports))

    def tracker(self, handle: Handle | None = None) -> SqsConsumer:
        return self.consumer(
            JOB_TRACKER, handle or tracker_handle(SqlJobBook(self.stores["job_tracker"]))
        )

    async def publish_todo_events(self) -> None:
        assert await self.relays["todo_api"].flush(10)

    async def run_worker(self) -> None:
        await self.worker().run_until_idle(wait_time_s=1)
        assert await self.relays["worker"].flush(10)

    async def run_tracker(self) -> None:
        await self.tracker().run_until_idle(wait_time_s=1)

    async def settle(self) -> None:
        """Publish, render, record: every service handles what reached it."""
        await self.publish_todo_events()
        await self.run_worker()
        await self.run_tracker()

    async def jobs(self) -> dict[str, dict[str, Any]]:
        """The job rows without their write time."""
        async with self.stores["job_tracker"].engine.connect() as conn:
            rows = (await conn.execute(select(jobs))).mappings().all()
        return {row["task_id"]: {k: v for k, v in row.items() if k != "updated_at"} for row in rows}

    async def todos(self) -> list[TodoSnapshot]:
        async with self.stores["todo_api"].engine.connect() as conn:
            return await list_todos(conn, tenant=ANONYMOUS_TENANT)

    async def event_count(self, service: str) -> int:
        store = self.stores[service]
        async with store.engine.connect() as conn:
            query = select(func.count()).select_from(store.tables.events)
            return int((await conn.execute(query)).scalar_one())

    async def depth(self, name: str) -> int:
        url = (await self.sqs.get_queue_url(QueueName=name))["QueueUrl"]
        attributes = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = await self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=attributes)
        return sum(int(found["Attributes"][name]) for name in attributes)

    async def replay(self, *argv: str) -> Ran:
        """Run `python -m scripts.replay ARGV` in this process, against this stack."""
        return await run_replay(self.base, self.var_dir, *argv)


async def run_replay(base: Settings, var_dir: Path, *argv: str) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    context = Context(
        base=base,
        var_dir=var_dir,
        out=Console(file=out, width=200, highlight=False, soft_wrap=True),
        err=Console(file=err, width=200, highlight=False, soft_wrap=True),
    )
    status = await execute(list(argv), context)
    return Ran(status, out.getvalue(), err.getvalue())


def stack_settings(database: Settings, aws_settings: Settings) -> Settings:
    """Where the stack lives: SQLite means the embedded layout (one file per service)."""
    base = database.model_copy(
        update={
            "aws_endpoint_url": aws_settings.aws_endpoint_url,
            "resource_prefix": aws_settings.resource_prefix,
            "sqs_visibility_timeout_s": VISIBILITY_S,
            "sqs_max_receive_count": MAX_RECEIVES,
        }
    )
    if base.is_sqlite:
        base = base.model_copy(update={"database_url": EMBEDDED_DATABASE_URL})
    return base


@contextlib.asynccontextmanager
async def running_stack(base: Settings, var_dir: Path) -> AsyncIterator[Stack]:
    deployed = await bootstrap(base)
    async with contextlib.AsyncExitStack() as resources:
        sqs = await resources.enter_async_context(aws_client(base, "sqs"))
        sns = await resources.enter_async_context(aws_client(base, "sns"))
        s3 = await resources.enter_async_context(aws_client(base, "s3"))
        stack = Stack(base, var_dir, deployed, sqs, blobs=S3BlobStore(s3, deployed.bucket))
        for name in SERVICES:
            stack.stores[name] = await open_service_store(base, name, var_dir)
            resources.push_async_callback(stack.stores[name].engine.dispose)
        topic = Names(base.resource_prefix).topic
        for relay, service in (("todo_api", "todo_api"), ("worker", "calendar_worker")):
            store = stack.stores[service]
            stack.relays[relay] = OutboxRelay(
                SqlOutbox(store),
                SnsPublisher(sns, topic),
                lease=RelayLease(store),
                poll_interval_s=0.05,
            )
        yield stack


async def open_service_store(base: Settings, name: str, var_dir: Path) -> EventStore:
    service = SERVICES[name]
    store = await open_store(service_settings(base, service, var_dir), service.schema)
    if name == "todo_api":
        async with store.engine.begin() as conn:
            await seed_todo_ids(conn)
    return store
