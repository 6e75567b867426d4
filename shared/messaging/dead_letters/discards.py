"""Discard dead letters for good, each recorded as a `DeadLetterDiscarded` event first.

The event goes on the message's own stream (`dead-letter-<DLQ>-<message id>`, version 1) before
the message is deleted, so a discard repeated after a crash finds the event already there,
records nothing twice, and deletes what is left.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from sqlalchemy import select

from shared.clock import utcnow
from shared.contracts.dead_letters import DiscardRecord
from shared.contracts.envelope import Envelope
from shared.contracts.events import DeadLetterDiscarded
from shared.contracts.streams import dead_letter_stream_id
from shared.contracts.tenancy import ANONYMOUS_TENANT, Origin
from shared.eventstore.store import ConcurrencyError, EventStore
from shared.messaging.consumer import PoisonMessageError, decode
from shared.messaging.dead_letters import queue_calls
from shared.messaging.dead_letters.grouping import DeadLetter, describe
from shared.messaging.dead_letters.moves import MOVE_HIDE_S

DISCARDED = "DeadLetterDiscarded"
Record = Callable[[DeadLetter], Awaitable[None]]


async def discard_chosen(
    sqs: Any, dlq_url: str, chosen: set[str], record: Record, *, hide_s: int = MOVE_HIDE_S
) -> int:
    """Record and delete the DLQ's messages whose ids are `chosen`; how many were deleted."""
    left, deleted = set(chosen), 0
    held: list[dict[str, Any]] = []
    try:
        while left and (
            messages := await queue_calls.receive_more(sqs, dlq_url, hide_s, ours=len(held))
        ):
            wanted = [message for message in messages if message["MessageId"] in left]
            held.extend(message for message in messages if message not in wanted)
            for message in wanted:
                await record(describe(message))
            await queue_calls.delete(sqs, dlq_url, wanted)
            deleted += len(wanted)
            left.difference_update(message["MessageId"] for message in wanted)
    finally:
        await queue_calls.release(sqs, dlq_url, held)
    return deleted


def recorder(store: EventStore, queue: str, reason: str, actor: str) -> Record:
    """Record each discard in `store` as `actor`'s, with the operator's `reason`."""

    async def record(letter: DeadLetter) -> None:
        event = DeadLetterDiscarded(
            queue=queue,
            message_id=letter.message_id,
            event_type=letter.event_type,
            event_id=None if letter.event_id is None else UUID(letter.event_id),
            failure=letter.failure,
            reason=reason,
            body=letter.body,
            discarded_at=utcnow(),
        )
        origin = Origin(tenant=_tenant_of(letter), actor=actor)
        stream = dead_letter_stream_id(queue, letter.message_id)
        try:
            async with store.transaction() as conn:
                await store.append(conn, stream, 0, [event], origin=origin)
        except ConcurrencyError:
            pass  # recorded by a discard that stopped before it deleted the message

    return record


def _tenant_of(letter: DeadLetter) -> str:
    """Whose job the dead event was about; the anonymous tenant's when it cannot be read."""
    try:
        return decode(letter.body).tenant
    except PoisonMessageError:
        return ANONYMOUS_TENANT


async def recent_discards(store: EventStore, limit: int = 20) -> list[DiscardRecord]:
    """The latest discards in the log, newest first."""
    events = store.tables.events
    query = (
        select(events.c.body)
        .where(events.c.type == DISCARDED)
        .order_by(events.c.position.desc())
        .limit(limit)
    )
    async with store.reading() as conn:
        bodies = (await conn.execute(query)).scalars().all()
    return [_record(Envelope.from_json(body)) for body in bodies]


def _record(envelope: Envelope) -> DiscardRecord:
    event = envelope.data
    assert isinstance(event, DeadLetterDiscarded)
    return DiscardRecord(
        queue=event.queue,
        message_id=event.message_id,
        event_type=event.event_type,
        failure=event.failure,
        reason=event.reason,
        actor=envelope.actor,
        discarded_at=event.discarded_at,
    )
