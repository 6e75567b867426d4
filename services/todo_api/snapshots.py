"""A calendar request's snapshot lives once, in the todo streams of this service's log.

The request is published whole (the worker renders the todos it carries), but the log keeps it by
reference: `todo_refs` names the version of each todo, and those versions are events the log
holds anyway. 100 todos cost about 23 KB as a copy and a few dozen bytes as references. Whoever
needs the request whole again (republish) gets it back from the streams, exactly as it was sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select

from services.todo_api import todo
from shared.contracts.envelope import Envelope
from shared.contracts.events import CalendarRequested, TodoSnapshot
from shared.contracts.streams import todo_stream_id
from shared.contracts.todo_refs import decode_refs
from shared.eventstore.store import EventStore

STREAMS_PER_QUERY = 500


class SnapshotGoneError(LookupError):
    """A referenced todo version is not in the log (a partial import, say)."""


def kept_in_log(envelope: Envelope) -> Envelope:
    """What the log keeps of an event: a calendar request named by references loses its copy
    of the todos; everything else is kept as it is."""
    event = envelope.data
    if not isinstance(event, CalendarRequested) or event.todo_refs is None or event.todos is None:
        return envelope
    return envelope.model_copy(update={"data": event.model_copy(update={"todos": None})})


def needs_todos(envelope: Envelope) -> bool:
    """A request the log keeps by reference only, which must be made whole to be published."""
    event = envelope.data
    return (
        isinstance(event, CalendarRequested)
        and event.todos is None
        and event.snapshot_key is None
        and event.todo_refs is not None
    )


async def published_form(store: EventStore, envelopes: Sequence[Envelope]) -> list[Envelope]:
    """The envelopes as they were published: requests kept by reference get their todos back,
    read from the todo streams at the versions named, in one read for the lot.

    SnapshotGoneError when a named version is not in the log."""
    wanted = {
        envelope.event_id: refs
        for envelope in envelopes
        if (refs := _refs_of(envelope)) is not None
    }
    if not wanted:
        return list(envelopes)
    todo_ids = {todo_id for refs in wanted.values() for todo_id, _ in refs}
    streams = await _todo_streams(todo_ids, store)
    made_whole = []
    for envelope in envelopes:
        refs = wanted.get(envelope.event_id)
        if refs is not None:
            todos = tuple(_todo_at(streams, envelope, *ref) for ref in refs)
            event = envelope.data.model_copy(update={"todos": todos})
            envelope = envelope.model_copy(update={"data": event})
        made_whole.append(envelope)
    return made_whole


def _refs_of(envelope: Envelope) -> list[tuple[int, int]] | None:
    event = envelope.data
    if not needs_todos(envelope) or not isinstance(event, CalendarRequested):
        return None
    return decode_refs(event.todo_refs or "", event.todo_count)


async def _todo_streams(todo_ids: set[int], store: EventStore) -> dict[int, list[Envelope]]:
    events = store.tables.events
    ids = {todo_stream_id(todo_id): todo_id for todo_id in sorted(todo_ids)}
    names = list(ids)
    found: dict[int, list[Envelope]] = defaultdict(list)
    async with store.reading() as conn:
        # a bounded IN list per query: SQLite caps a statement's parameters
        for start in range(0, len(names), STREAMS_PER_QUERY):
            query = (
                select(events.c.body)
                .where(events.c.stream_id.in_(names[start : start + STREAMS_PER_QUERY]))
                .order_by(events.c.stream_id, events.c.stream_version)
            )
            for body in (await conn.execute(query)).scalars():
                envelope = Envelope.from_json(body)
                found[ids[envelope.stream_id]].append(envelope)
    return found


def _todo_at(
    streams: dict[int, list[Envelope]], request: Envelope, todo_id: int, version: int
) -> TodoSnapshot:
    stream = [
        envelope for envelope in streams.get(todo_id, []) if envelope.stream_version <= version
    ]
    # the request's tenant's own todo only: another tenant's stream is never part of a snapshot
    state = todo.fold(event.data for event in stream) if len(stream) == version else None
    if state is None or stream[0].tenant != request.tenant:
        raise SnapshotGoneError(
            f"calendar request {request.event_id} names todo {todo_id} at version {version}, "
            "which the log does not hold"
        )
    return state
