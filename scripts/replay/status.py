"""Per service: events stored, outbox backlog, consumer checkpoints, queue and DLQ depths."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from scripts.replay.errors import one_line
from scripts.replay.targets import Service, open_store
from shared.contracts.topology import Names
from shared.eventstore.store import EventStore
from shared.messaging.outbox import SqlOutbox
from shared.messaging.transports import transport_client
from shared.settings import Settings

UNAVAILABLE = "unavailable"
DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    events: str
    last_position: str
    outbox: str
    checkpoints: str
    queue: str
    dlq: str
    problems: list[str] = field(default_factory=list)


async def service_status(settings: Settings, service: Service) -> ServiceStatus:
    """One service's figures; a part that cannot be read says why instead of stopping the rest."""
    problems = []
    try:
        async with open_store(settings, service) as store:
            events, last, outbox, checkpoints = await _database_figures(store)
    except Exception as exc:
        events, last, outbox, checkpoints = UNAVAILABLE, "-", "-", "-"
        problems.append(f"{service.name} database: {one_line(exc)}")
    try:
        queue, dlq = await _queue_figures(settings, service)
    except Exception as exc:
        queue = dlq = UNAVAILABLE
        problems.append(f"{service.name} queues: {one_line(exc)}")
    return ServiceStatus(service.name, events, last, outbox, checkpoints, queue, dlq, problems)


async def _database_figures(store: EventStore) -> tuple[str, str, str, str]:
    events, inbox = store.tables.events, store.tables.inbox
    async with store.engine.connect() as conn:
        query = select(func.count(), func.max(events.c.position))
        count, last = (await conn.execute(query)).one()
        per_consumer = select(inbox.c.consumer, func.count()).group_by(inbox.c.consumer)
        consumers = (await conn.execute(per_consumer)).all()
    checkpoints = ", ".join(f"{name}: {done} events" for name, done in consumers) or "-"
    return str(count), str(last or "-"), str(await SqlOutbox(store).backlog()), checkpoints


async def _queue_figures(settings: Settings, service: Service) -> tuple[str, str]:
    if service.queue is None:
        return "-", "-"
    names = Names(settings.resource_prefix)
    async with transport_client(settings, "sqs") as sqs:
        return await _depth(sqs, names.queue(service.queue)), await _depth(
            sqs, names.dlq(service.queue)
        )


async def _depth(sqs: Any, name: str) -> str:
    url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
    found = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=DEPTH_ATTRIBUTES)
    visible, hidden = (int(found["Attributes"][attribute]) for attribute in DEPTH_ATTRIBUTES)
    return f"{visible} waiting, {hidden} in flight"


def status_table(statuses: list[ServiceStatus]) -> Table:
    table = Table("service", "events", "last position", "outbox", "inbox", "queue", "DLQ")
    for found in statuses:
        table.add_row(
            found.service,
            found.events,
            found.last_position,
            found.outbox,
            found.checkpoints,
            found.queue,
            found.dlq,
        )
    return table


def print_status(console: Console, statuses: list[ServiceStatus]) -> None:
    console.print(status_table(statuses))
    for found in statuses:
        for problem in found.problems:
            console.print(problem, markup=False, highlight=False, soft_wrap=True)
