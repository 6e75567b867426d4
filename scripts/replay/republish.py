"""Publish stored events to the topic again, with their original event ids.

Every consumer keeps an inbox keyed by event id, so what it already applied is ignored and only
what it missed takes effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console

from scripts.replay.errors import OperatorError
from scripts.replay.listing import event_line
from scripts.replay.progress import ProgressReport
from shared.contracts.envelope import Envelope
from shared.contracts.events import CalendarRequested
from shared.contracts.topology import Names
from shared.eventstore.queries import EventFilter, EventQueries
from shared.eventstore.store import EventStore, PublishedForm
from shared.messaging.batching import MAX_BATCH_ENTRIES
from shared.messaging.pace import Pace
from shared.messaging.publisher import Outgoing, SnsPublisher, outgoing_batches, resolve_topic_arn
from shared.messaging.transports import transport_client
from shared.settings import Settings

PAGE = 500


@dataclass(frozen=True)
class RepublishOptions:
    selection: EventFilter
    dry_run: bool = False
    rate_per_s: float | None = None
    # the service's stored events as they were published (None: as stored)
    published_form: PublishedForm | None = None


@dataclass
class Outcome:
    sent: int = 0
    last_position: int | None = None


async def republish(
    store: EventStore, settings: Settings, options: RepublishOptions, console: Console
) -> Outcome:
    """Send the selected events in position order; on any stop, say where to resume."""
    if options.dry_run:
        return await _list(store, options.selection, console)
    total = await EventQueries(store).count_matching(options.selection)
    outcome = Outcome()
    async with transport_client(settings, "sns") as sns:
        publisher = await _publisher(sns, Names(settings.resource_prefix).topic)
        try:
            with ProgressReport(console, "republish", total) as report:
                await _send_all(store, publisher, options, report, outcome)
        except BaseException:
            console.print(_resume_hint(outcome, options.selection), markup=False, highlight=False)
            raise
    console.print(
        f"republished {outcome.sent} events to {publisher.topic_name}"
        f" (last position {outcome.last_position or '-'})",
        markup=False,
        highlight=False,
    )
    return outcome


async def _publisher(sns: object, topic: str) -> SnsPublisher:
    publisher = SnsPublisher(sns, topic)
    try:
        publisher.topic_arn = await resolve_topic_arn(sns, topic)
    except LookupError as exc:
        raise OperatorError(str(exc)) from None
    return publisher


async def _send_all(
    store: EventStore,
    publisher: SnsPublisher,
    options: RepublishOptions,
    report: ProgressReport,
    outcome: Outcome,
) -> None:
    pace = Pace(options.rate_per_s)
    chunk_size = _chunk_size(options.rate_per_s)
    queries = EventQueries(store)
    after = options.selection.from_position - 1
    while page := await queries.read_matching(options.selection, after, PAGE):
        for start in range(0, len(page), chunk_size):
            chunk = page[start : start + chunk_size]
            await pace.admit(len(chunk))
            await _send_chunk(publisher, await _as_published(store, options, chunk), outcome)
            report.advance(len(chunk), chunk[-1][0])
        after = page[-1][0]


async def _as_published(
    store: EventStore, options: RepublishOptions, chunk: Sequence[tuple[int, Envelope]]
) -> list[tuple[int, Envelope]]:
    if options.published_form is None:
        return list(chunk)
    try:
        whole = await options.published_form(store, [envelope for _, envelope in chunk])
    except LookupError as exc:
        raise OperatorError(f"cannot republish: {exc}") from None
    return [(position, envelope) for (position, _), envelope in zip(chunk, whole, strict=True)]


async def _send_chunk(
    publisher: SnsPublisher, chunk: Sequence[tuple[int, Envelope]], outcome: Outcome
) -> None:
    for position, envelope in chunk:
        if _without_snapshot(envelope):
            raise OperatorError(
                f"the event at position {position} is a calendar request kept without its "
                "snapshot (the job tracker keeps them so): republish calendar requests from "
                "todo_api, or leave them out with --type"
            )
    # the envelope as this code reads it: an upcast old event goes out in the current shape
    messages = [Outgoing(position, env.type, env.to_json()) for position, env in chunk]
    for batch in outgoing_batches(messages):
        refused = await publisher.publish(batch)
        for message in batch:
            if message.position in refused:
                raise OperatorError(
                    f"SNS refused the event at position {message.position}: "
                    f"{refused[message.position]}"
                )
            outcome.sent += 1
            outcome.last_position = message.position


def _without_snapshot(envelope: Envelope) -> bool:
    """A calendar request no worker could render: neither todos nor a snapshot key."""
    event = envelope.data
    return isinstance(event, CalendarRequested) and event.todos is None and not event.snapshot_key


def _chunk_size(rate_per_s: float | None) -> int:
    if rate_per_s is None:
        return MAX_BATCH_ENTRIES
    return max(1, min(MAX_BATCH_ENTRIES, int(rate_per_s)))


def _resume_hint(outcome: Outcome, selection: EventFilter) -> str:
    if outcome.last_position is None:
        start = selection.from_position
        return f"stopped before sending anything; resume with --from-position {start}"
    return (
        f"stopped after position {outcome.last_position} ({outcome.sent} sent); "
        f"resume with --from-position {outcome.last_position + 1}"
    )


async def _list(store: EventStore, selection: EventFilter, console: Console) -> Outcome:
    outcome = Outcome()
    queries = EventQueries(store)
    after = selection.from_position - 1
    console.print("position\ttype\tstream\tevent id\toccurred at", markup=False)
    while page := await queries.read_matching(selection, after, PAGE):
        for position, envelope in page:
            console.print(event_line(position, envelope), markup=False, highlight=False)
        outcome.sent += len(page)
        after = page[-1][0]
    console.print(f"dry run: {outcome.sent} events would be republished", markup=False)
    return outcome
