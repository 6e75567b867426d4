"""A DLQ and the job tracker's queue on either transport, the tracker's and todo_api's stores
on SQLite, and the tracker consumed in steps: what the dead letters tests plant, fail, move
and discard."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from embedded.transport.clients import provision_embedded
from services.job_tracker.fold_groups import make_handle as tracker_handle
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import jobs
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.streams import render_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.contracts.topology import JOB_TRACKER, Names
from shared.eventstore.store import EventStore
from shared.messaging.consumer import ConsumerOptions, Handle, SqsConsumer
from shared.messaging.provisioning import bootstrap
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.factories import calendar_envelope, calendar_ready, calendar_requested, task_of
from tests.support.replay_stack import Ran, open_service_store, run_replay

MAX_RECEIVES = 2
# renewed every third of this while handled: a stalled host loses seconds, not the message (a
# failed one comes back sooner anyway, after the consumer's retry delay of 1 s, then 2 s)
VISIBILITY_S = 12


def typed(event_type: str) -> dict[str, Any]:
    return {"type": {"DataType": "String", "StringValue": event_type}}


def job_events(count: int) -> list[Envelope]:
    """`count` jobs, each requested and ready (a small calendar: no start)."""
    found = []
    for _ in range(count):
        requested = calendar_envelope(calendar_requested())
        task_id = task_of(requested)
        ready = wrap(
            calendar_ready(task_id),
            stream_id=render_stream_id(task_id),
            stream_version=1,
            correlation_id=task_id,
            origin=ANONYMOUS_ORIGIN,
        )
        found += [requested, ready]
    return found


@dataclass
class LetterStack:
    settings: Settings
    var_dir: Path
    sqs: Any
    tracker_store: EventStore
    todo_store: EventStore

    @property
    def names(self) -> Names:
        return Names(self.settings.resource_prefix)

    @property
    def dlq(self) -> str:
        return self.names.dlq(JOB_TRACKER)

    @property
    def queue(self) -> str:
        return self.names.queue(JOB_TRACKER)

    async def url(self, name: str) -> str:
        return str((await self.sqs.get_queue_url(QueueName=name))["QueueUrl"])

    async def send(self, name: str, bodies: list[tuple[str, str]], **attributes: Any) -> None:
        """Send (event type, body) pairs as SNS's raw delivery does, with extra attributes."""
        url = await self.url(name)
        for start in range(0, len(bodies), 10):
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": body,
                    "MessageAttributes": {**typed(event_type), **attributes},
                }
                for index, (event_type, body) in enumerate(bodies[start : start + 10])
            ]
            sent = await self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
            assert not sent.get("Failed"), sent

    async def send_events(self, name: str, envelopes: list[Envelope], **attributes: Any) -> None:
        await self.send(name, [(e.type, e.to_json()) for e in envelopes], **attributes)

    def tracker(self, handle: Handle | None = None) -> SqsConsumer:
        """The tracker's consumer, moving what it gives up on to the DLQ with why."""
        options = ConsumerOptions(
            name=JOB_TRACKER.name,
            wait_time_s=1,
            visibility_timeout_s=VISIBILITY_S,
            max_receive_count=MAX_RECEIVES,
            dead_letter_queue=self.dlq,
        )
        chosen = handle or tracker_handle(SqlJobBook(self.tracker_store))
        return SqsConsumer(self.sqs, self.queue, chosen, options)

    async def depth(self, name: str) -> tuple[int, int]:
        wanted = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = await self.sqs.get_queue_attributes(
            QueueUrl=await self.url(name), AttributeNames=wanted
        )
        visible, hidden = (int(found["Attributes"][key]) for key in wanted)
        return visible, hidden

    async def inbox(self) -> list[str]:
        """The event ids the tracker's inbox holds, one entry per row."""
        inbox = self.tracker_store.tables.inbox
        async with self.tracker_store.engine.connect() as conn:
            return list((await conn.execute(select(inbox.c.event_id))).scalars())

    async def logged(self, store: EventStore, event_type: str | None = None) -> list[Envelope]:
        events = store.tables.events
        query = select(events.c.body).order_by(events.c.position)
        if event_type is not None:
            query = query.where(events.c.type == event_type)
        async with store.engine.connect() as conn:
            return [Envelope.from_json(body) for body in (await conn.execute(query)).scalars()]

    async def queued_to_publish(self, store: EventStore) -> int:
        """Rows in the store's outbox: events its relay would publish."""
        outbox = store.tables.outbox
        async with store.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())

    async def job_states(self) -> dict[UUID, str]:
        async with self.tracker_store.engine.connect() as conn:
            rows = (await conn.execute(select(jobs.c.task_id, jobs.c.status))).all()
        return {UUID(str(task_id)): status for task_id, status in rows}

    async def replay(self, *argv: str) -> Ran:
        return await run_replay(self.settings, self.var_dir, *argv)


@contextlib.asynccontextmanager
async def letter_stack(transport: str, moto_url: str, var_dir: Path) -> AsyncIterator[LetterStack]:
    prefix = f"d{uuid.uuid4().hex[:8]}-"
    settings = Settings(
        resource_prefix=prefix,
        var_dir=var_dir,
        sqs_max_receive_count=MAX_RECEIVES,
        sqs_visibility_timeout_s=VISIBILITY_S,
    )
    if transport == "embedded":
        settings = settings.model_copy(update={"transport": "embedded"})
        await provision_embedded(settings)
    else:
        settings = settings.model_copy(update={"aws_endpoint_url": moto_url})
        await bootstrap(settings)
    async with contextlib.AsyncExitStack() as resources:
        sqs = await resources.enter_async_context(transport_client(settings, "sqs"))
        stores = {}
        for name in ("job_tracker", "todo_api"):
            stores[name] = await open_service_store(settings, name, var_dir)
            resources.push_async_callback(stores[name].engine.dispose)
        yield LetterStack(settings, var_dir, sqs, stores["job_tracker"], stores["todo_api"])
