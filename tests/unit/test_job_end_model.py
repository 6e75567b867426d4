"""How a calendar job ends, as a model: a request, cancels, renders and the tracker's folds, with
the queues handing messages over in any order and more than once, and the tracker rebuilt at any
moment. Whatever happens, the tracker's row is the fold of its log, the render stream holds one
outcome at most, and nothing a client was told turns out false.

The services' handlers run on their in-memory records (held to the databases by the contract
tests); the same races on real transactions:
tests/integration/calendar_worker/test_build_calendar.py and
tests/integration/job_tracker/test_projection.py.
"""

from __future__ import annotations

import asyncio
import itertools
from uuid import uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.calendar_worker.handlers import WorkerPorts
from services.calendar_worker.handlers import make_handle as worker_handle
from services.job_tracker.jobs import Status
from services.job_tracker.projection import JobFold, record_job_event
from services.todo_api.commands import CancelCalendar, RequestCalendar
from services.todo_api.handlers import cancel_calendar, request_calendar
from services.todo_api.todo import CalendarFinishedError
from shared.aws.blobs import InMemoryBlobStore
from shared.contracts.envelope import Envelope
from shared.contracts.events import OUTCOME_EVENTS
from shared.contracts.topology import CALENDAR_WORKER, JOB_TRACKER
from tests.support.factories import delivery
from tests.support.fakes import MemoryJobBook, MemoryRenderBook, MemoryTodoBook

# what the status of a job answers once its render stream holds each outcome
ENDS = {"CalendarReady": "SUCCESS", "CalendarFailed": "FAILURE", "CalendarRevoked": "REVOKED"}
FINISHED = {"SUCCESS", "FAILURE"}


class JobEnds(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.todos, self.renders, self.jobs = MemoryTodoBook(), MemoryRenderBook(), MemoryJobBook()
        self.worker = worker_handle(WorkerPorts(self.renders, InMemoryBlobStore()))
        self.task_id = uuid4()
        self.published = 0
        self.worker_queue: list[Envelope] = []
        self.tracker_queue: list[Envelope] = []
        self.message_ids = itertools.count()
        # what clients were told: each status answer in turn, and each cancel's answer
        self.statuses: list[str] = []
        self.cancels: list[str] = []

    def run(self, work: object) -> object:
        return self.loop.run_until_complete(work)  # type: ignore[arg-type]

    def teardown(self) -> None:
        self.loop.close()

    def relay(self) -> None:
        """Both services' outboxes go out, each event to the queues whose filter takes it."""
        outgoing = self.todos.state.queued[self.published :] + self.renders.state.queued
        self.published = len(self.todos.state.queued)
        self.renders.state.queued = []
        for envelope in outgoing:
            if envelope.type in CALENDAR_WORKER.event_types:
                self.worker_queue.append(envelope)
            if envelope.type in JOB_TRACKER.event_types:
                self.tracker_queue.append(envelope)

    def status(self) -> str:
        job = self.jobs.state.jobs.get(self.task_id)
        return Status.PENDING.value if job is None else job.status.value

    @precondition(lambda self: not self.todos.state.queued)
    @rule()
    def request(self) -> None:
        self.run(request_calendar(RequestCalendar(self.task_id), self.todos, InMemoryBlobStore()))
        self.relay()

    @precondition(lambda self: self.todos.state.queued)
    @rule()
    def cancel(self) -> None:
        async def status() -> str:
            return self.status()

        try:
            answer = self.run(cancel_calendar(CancelCalendar(self.task_id), self.todos, status))
        except CalendarFinishedError:
            answer = "409"
        self.cancels.append(str(answer))
        self.relay()

    @precondition(lambda self: self.worker_queue)
    @rule(pick=st.integers(min_value=0), again=st.booleans())
    def deliver_to_the_worker(self, pick: int, again: bool) -> None:
        """A message handed over in any order; `again`: it stays, to be delivered once more."""
        envelope = self.worker_queue[pick % len(self.worker_queue)]
        self.run(self.worker(envelope, delivery(message_id=f"m-{next(self.message_ids)}")))
        if not again:
            self.worker_queue.remove(envelope)
        self.relay()

    @precondition(lambda self: self.tracker_queue)
    @rule(pick=st.integers(min_value=0), again=st.booleans())
    def deliver_to_the_tracker(self, pick: int, again: bool) -> None:
        envelope = self.tracker_queue[pick % len(self.tracker_queue)]
        self.run(record_job_event(envelope, self.jobs))
        if not again:
            self.tracker_queue.remove(envelope)

    @rule()
    def drain(self) -> None:
        """Every message delivered at last: the tracker ends the job as the render stream did."""
        for _ in range(20):
            if not (self.worker_queue or self.tracker_queue):
                break
            if self.worker_queue:
                self.deliver_to_the_worker(0, again=False)
            if self.tracker_queue:
                self.deliver_to_the_tracker(0, again=False)
        assert self.worker_queue == []
        assert self.tracker_queue == []
        stream = self.renders.state.streams.get(self.task_id, [])
        decided = [ENDS[envelope.type] for envelope in stream if envelope.type in ENDS]
        if self.todos.state.queued:
            assert [self.status()] == decided

    @rule()
    def poll(self) -> None:
        self.statuses.append(self.status())

    @invariant()
    def the_row_is_what_a_rebuild_of_the_log_makes(self) -> None:
        rebuilt = JobFold()
        for envelope in self.jobs.state.log:
            rebuilt.apply(envelope)
        assert rebuilt.jobs.get(self.task_id) == self.jobs.state.jobs.get(self.task_id)

    @invariant()
    def the_render_stream_holds_one_outcome_at_most(self) -> None:
        stream = self.renders.state.streams.get(self.task_id, [])
        assert sum(envelope.type in OUTCOME_EVENTS for envelope in stream) <= 1

    @invariant()
    def nothing_a_client_was_told_turns_out_false(self) -> None:
        now = self.status()
        ended = [answer for answer in self.statuses if answer in FINISHED | {"REVOKED"}]
        # a status once final stays so
        assert all(answer == now for answer in ended)
        # a cancel answered REVOKED was decided; one refused was refused for an outcome
        if "REVOKED" in self.cancels:
            assert now == "REVOKED"
        if "409" in self.cancels:
            assert now in FINISHED
        # the tracker says what the render stream decided, or not yet anything final
        stream = self.renders.state.streams.get(self.task_id, [])
        decided = [ENDS[envelope.type] for envelope in stream if envelope.type in ENDS]
        assert now in decided or now not in FINISHED | {"REVOKED"}


TestJobEnds = JobEnds.TestCase
TestJobEnds.settings = settings(max_examples=100, stateful_step_count=25, deadline=None)
