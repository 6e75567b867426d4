"""In-memory twins of the services' ports, for handler tests in tests/unit.

Each is held to its real implementation by a contract test in tests/integration
(`test_job_book_contract.py` for the job tracker's records).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import UUID

from services.job_tracker.jobs import Job
from services.job_tracker.records import JobRecords
from shared.envelope import Envelope


@dataclass
class JobState:
    handled: set[UUID] = field(default_factory=set)
    log: list[Envelope] = field(default_factory=list)
    jobs: dict[UUID, Job] = field(default_factory=dict)


@dataclass
class MemoryJobRecords:
    state: JobState

    async def first_time(self, event_id: UUID) -> bool:
        if event_id in self.state.handled:
            return False
        self.state.handled.add(event_id)
        return True

    async def keep(self, envelope: Envelope) -> None:
        self.state.log.append(envelope)

    async def locked_job(self, task_id: UUID) -> Job | None:
        return self.state.jobs.get(task_id)

    async def add(self, job: Job) -> bool:
        if job.task_id in self.state.jobs:
            return False
        self.state.jobs[job.task_id] = job
        return True

    async def replace(self, job: Job) -> None:
        self.state.jobs[job.task_id] = job


class MemoryJobBook:
    """The tracker's records in memory: one transaction at a time, all or nothing."""

    def __init__(self) -> None:
        self.state = JobState()
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobRecords]:
        async with self._lock:
            draft = copy.deepcopy(self.state)
            yield MemoryJobRecords(draft)
            self.state = draft
