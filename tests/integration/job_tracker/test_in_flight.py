"""The count of a tenant's jobs not yet finished, which todo_api's cap asks (SQLite,
PostgreSQL): PENDING, STARTED and RETRY jobs of the principal's tenant only, and only with
credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.aws.blobs import InMemoryBlobStore
from shared.clock import utcnow
from shared.contracts.events import CalendarRevoked, CalendarStarted
from shared.contracts.responses import IN_FLIGHT_PATH
from shared.settings import Settings
from tests.support.auth import bearer, requiring_credentials
from tests.support.tracker_jobs import Tracker, running_tracker


@pytest.fixture
async def tracker(service_settings: Settings) -> AsyncIterator[Tracker]:
    settings = requiring_credentials(service_settings)
    async with running_tracker(settings, InMemoryBlobStore()) as running:
        yield running


async def in_flight_of(tracker: Tracker, tenant: str) -> int:
    key = await tracker.add_key(tenant)
    response = await tracker.client.get(IN_FLIGHT_PATH, headers=bearer(key))
    assert response.status == 200, await response.text()
    count: int = (await response.json())["in_flight"]
    return count


class TestInFlight:
    async def test_counts_the_tenant_s_jobs_not_yet_finished(self, tracker: Tracker) -> None:
        now = utcnow()
        await tracker.add_job(now, "PENDING", tenant="acme")
        await tracker.add_job(now, "STARTED", tenant="acme")
        # a second attempt running after the first failed: RETRY
        retrying = await tracker.add_job(now, "PENDING", tenant="acme")
        await tracker.record(CalendarStarted(task_id=retrying, attempt=2), now, "acme")
        for outcome in ("SUCCESS", "FAILURE"):
            await tracker.add_job(now, outcome, tenant="acme")
        revoked = await tracker.add_job(now, "PENDING", tenant="acme")
        await tracker.record(CalendarRevoked(task_id=revoked, revoked_at=now), now, "acme")

        assert await in_flight_of(tracker, "acme") == 3

    async def test_another_tenant_s_jobs_are_never_counted(self, tracker: Tracker) -> None:
        for _ in range(2):
            await tracker.add_job(utcnow(), "PENDING", tenant="globex")
        await tracker.add_job(utcnow(), "STARTED", tenant="acme")

        assert await in_flight_of(tracker, "acme") == 1
        assert await in_flight_of(tracker, "initech") == 0

    async def test_needs_credentials(self, tracker: Tracker) -> None:
        response = await tracker.client.get(IN_FLIGHT_PATH)

        assert response.status == 401
        assert "error" in await response.json()
