"""The tracker's handle folds the calendar events handed to it in one turn of the loop (the
messages of one receive) in one transaction, and each message still answers for itself: a fold
that fails sends every member of its group to fold alone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import UUID

import pytest

from services.job_tracker.fold_groups import FoldGroups
from services.job_tracker.jobs import Status
from services.job_tracker.records import JobRecords
from shared.contracts.envelope import Envelope
from tests.support.factories import job_events
from tests.support.fakes import JobState, MemoryBook, MemoryJobRecords


class RefusedError(Exception):
    pass


@dataclass
class RefusingRecords(MemoryJobRecords):
    refused: set[UUID] = field(default_factory=set)

    async def append_to_log(self, envelope: Envelope) -> None:
        if envelope.event_id in self.refused:
            raise RefusedError(envelope.type)
        await super().append_to_log(envelope)


class CountingBook(MemoryBook[JobState, JobRecords]):
    """The in-memory records, counting transactions, refusing the events in `refused`."""

    def __init__(self, refused: set[UUID] | None = None) -> None:
        super().__init__(JobState(), lambda state: RefusingRecords(state, refused or set()))
        self.transactions = 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobRecords]:
        self.transactions += 1
        async with super().transaction() as records:
            yield records


async def test_events_handed_in_one_turn_fold_in_one_transaction() -> None:
    book = CountingBook()
    groups = FoldGroups(book)
    envelopes = job_events(3)

    recorded = await asyncio.gather(*(groups.record(envelope) for envelope in envelopes))

    assert recorded == [True] * 6
    assert book.transactions == 1
    assert [job.status for job in book.state.jobs.values()] == [Status.SUCCESS] * 3
    assert len(book.state.log) == 6


async def test_events_handed_one_after_another_fold_each_in_its_own() -> None:
    book = CountingBook()
    groups = FoldGroups(book)
    envelopes = job_events(1)

    for envelope in envelopes:
        assert await groups.record(envelope)

    assert book.transactions == 2


async def test_a_duplicate_in_a_group_is_recorded_once() -> None:
    book = CountingBook()
    groups = FoldGroups(book)
    [requested, ready] = job_events(1)

    recorded = await asyncio.gather(*(groups.record(e) for e in (requested, ready, requested)))

    assert recorded == [True, True, False]
    assert len(book.state.log) == 2


async def test_a_refused_fold_sends_each_member_alone_and_only_it_fails() -> None:
    envelopes = job_events(2)
    refused = envelopes[1]
    book = CountingBook({refused.event_id})
    groups = FoldGroups(book)

    outcomes = await asyncio.gather(
        *(groups.record(envelope) for envelope in envelopes), return_exceptions=True
    )

    assert isinstance(outcomes[1], RefusedError)
    assert [outcomes[0], *outcomes[2:]] == [True, True, True]
    # the group's, then one each
    assert book.transactions == 1 + 4
    assert [envelope.event_id for envelope in book.state.log] == [
        envelope.event_id for envelope in envelopes if envelope is not refused
    ]


async def test_a_leader_cancelled_before_folding_leaves_its_group_to_fold_alone() -> None:
    book = CountingBook()
    groups = FoldGroups(book)
    envelopes = job_events(2)
    tasks = [asyncio.create_task(groups.record(envelope)) for envelope in envelopes]
    # each task runs to its wait: the first leads and yields once, the others join it
    await asyncio.sleep(0)

    tasks[0].cancel()
    outcomes = await asyncio.gather(*tasks[1:])

    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert outcomes == [True, True, True]
    assert book.transactions == 3
    assert envelopes[0].event_id not in {envelope.event_id for envelope in book.state.log}
