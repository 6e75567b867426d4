"""The tracker consumer's handle; job events delivered together fold together: one transaction
for the events of a receive.

The consumer hands each message of a receive to the handler in a task of its own, and those tasks
reach the handler in the same turn of the event loop. The first to arrive yields once, so the
others join it, then folds them all in one transaction (`record_job_events`): one commit instead
of one per message. Each message still answers for itself: when the group's transaction fails
(a message its fold refuses, the database gone), every member folds again alone, in its own task
and transaction, and the consumer settles each as before (deleted, held, retried or
dead-lettered).
"""

from __future__ import annotations

import asyncio

from services.job_tracker.projection import (
    JobFinished,
    record_job_event,
    record_job_events,
    record_key_event,
)
from services.job_tracker.records import JobBook
from shared.contracts.envelope import Envelope
from shared.contracts.events import API_KEY_EVENT_TYPES
from shared.messaging.consumer import Delivery, Handle


def make_handle(book: JobBook, finished: JobFinished | None = None) -> Handle:
    """Fold each delivered event: an API key's alone, calendar events in groups (FoldGroups)."""
    groups = FoldGroups(book, finished)

    async def handle(envelope: Envelope, _delivery: Delivery) -> None:
        if envelope.type in API_KEY_EVENT_TYPES:
            await record_key_event(envelope, book)
        else:
            await groups.record(envelope)

    return handle


class FoldAloneError(Exception):
    """The group's transaction failed: fold this event in a transaction of its own."""


class FoldGroups:
    """Folds the job events handed to it in one turn of the loop in one transaction."""

    def __init__(self, book: JobBook, finished: JobFinished | None = None) -> None:
        self._book = book
        self._finished = finished
        # the events joining the group now forming, with their callers' futures
        self._forming: list[tuple[Envelope, asyncio.Future[bool]]] | None = None

    async def record(self, envelope: Envelope) -> bool:
        """Fold `envelope` into its job, with the others handed in this turn; False when it was
        a duplicate."""
        if self._forming is not None:
            joined: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._forming.append((envelope, joined))
            try:
                return await joined
            except FoldAloneError:
                return await record_job_event(envelope, self._book, self._finished)
        return await self._lead(envelope)

    async def _lead(self, envelope: Envelope) -> bool:
        joiners: list[tuple[Envelope, asyncio.Future[bool]]] = []
        self._forming = joiners
        try:
            # the other tasks of this receive run now and join
            await asyncio.sleep(0)
            self._forming = None
            recorded = await record_job_events(
                [envelope, *(joined for joined, _ in joiners)], self._book, self._finished
            )
        except BaseException as exc:
            if self._forming is joiners:
                self._forming = None
            for _, future in joiners:
                if not future.done():
                    future.set_exception(FoldAloneError())
            if not isinstance(exc, Exception):
                raise
            return await record_job_event(envelope, self._book, self._finished)
        for (_, future), outcome in zip(joiners, recorded[1:], strict=True):
            if not future.done():
                future.set_result(outcome)
        return recorded[0]
