"""The cap on a tenant's calendar jobs in flight (SQLite, PostgreSQL), with the job tracker's count
in process: the request beyond the cap is refused with 429 and records nothing; another tenant is
unaffected; an outcome or a revocation the tracker records frees a slot, a cancel not yet revoked
does not; requests the tracker has not seen yet are not counted (the overshoot jobs_cap.py states);
a tracker that cannot be asked answers 503; AUTH_MODE=none has no cap unless one is set."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from services.edge.app import in_process_tracker
from services.todo_api.app import create_app
from services.todo_api.app_keys import store_key
from services.todo_api.jobs_cap import RETRY_AFTER_S
from services.todo_api.tables import store as store_tables
from shared.auth.principal import Principal
from shared.aws.blobs import InMemoryBlobStore
from shared.clock import utcnow
from shared.contracts.events import CalendarRequested, CalendarRevoked
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.settings import CALENDAR_JOBS_IN_FLIGHT_DEFAULT, Settings
from tests.support.auth import bearer, issue_key, requiring_credentials
from tests.support.factories import calendar_ready
from tests.support.todo_http import Client, error_of
from tests.support.tracker_jobs import Tracker, running_tracker

CALENDARS = "/api/v1/todos/ical"
CAP = 2
JOBS_POLICY = f'"jobs";q={CAP};qu="concurrent-requests"'


class TenantTokens:
    """Accepts `<any>.<tenant>.<subject>` tokens (a bearer token has the shape of a JWT)."""

    async def principal(self, token: str) -> Principal:
        _, tenant, subject = token.split(".")
        return Principal(tenant=tenant, subject=subject, roles=frozenset({"member"}))


def token(tenant: str) -> dict[str, str]:
    return bearer(f"t.{tenant}.alice")


@dataclass
class Capped:
    """todo_api with its cap, asking `tracker` in process."""

    api: Client
    tracker: Tracker

    async def request(self, tenant: str = "acme", key: str | None = None) -> ClientResponse:
        headers = token(tenant) if key is None else {**token(tenant), "Idempotency-Key": key}
        response = await self.api.post(CALENDARS, headers=headers)
        await response.read()
        return response

    async def accepted(self, tenant: str = "acme", key: str | None = None) -> UUID:
        response = await self.request(tenant, key)
        assert response.status == 202, await response.text()
        return UUID((await response.json())["task_id"])

    async def seen_by_tracker(self, task_id: UUID, tenant: str = "acme") -> None:
        """The job's CalendarRequested, arrived at the tracker."""
        requested = CalendarRequested(
            task_id=task_id, requested_at=utcnow(), todo_count=0, todos=()
        )
        await self.tracker.record(requested, utcnow(), tenant)

    async def events(self) -> int:
        async with self.api.app[store_key].reading() as conn:
            count = select(func.count()).select_from(store_tables.events)
            return int((await conn.execute(count)).scalar_one())


@contextlib.asynccontextmanager
async def capped_api(settings: Settings, quiet: Settings) -> AsyncIterator[Capped]:
    """todo_api on `settings`, its tracker on the `quiet` topology: the tracker knows only the
    events a test records, never the requests todo_api's relay publishes."""
    tracker_settings = settings.model_copy(update={"resource_prefix": quiet.resource_prefix})
    async with running_tracker(tracker_settings, InMemoryBlobStore()) as tracker:
        app = create_app(
            settings.model_copy(update={"job_tracker_url": None}),
            tracker=in_process_tracker(tracker.client.app),
            verifier=TenantTokens(),
        )
        async with TestClient(TestServer(app)) as api:
            yield Capped(api, tracker)


@pytest.fixture
def capped_settings(service_settings: Settings) -> Settings:
    return requiring_credentials(service_settings).model_copy(
        update={"calendar_jobs_in_flight_per_tenant": CAP}
    )


@pytest.fixture
async def capped(capped_settings: Settings, quiet_topology: Settings) -> AsyncIterator[Capped]:
    async with capped_api(capped_settings, quiet_topology) as capped:
        yield capped


async def fill_up(capped: Capped, tenant: str = "acme") -> list[UUID]:
    """The cap's number of jobs of `tenant`, requested and seen by the tracker."""
    task_ids = [await capped.accepted(tenant) for _ in range(CAP)]
    for task_id in task_ids:
        await capped.seen_by_tracker(task_id, tenant)
    return task_ids


class TestTheCap:
    async def test_the_request_beyond_it_is_refused_with_the_limit_s_fields(
        self, capped: Capped
    ) -> None:
        await fill_up(capped)

        refused = await capped.request()

        assert "Too many calendar jobs in flight" in await error_of(refused, 429)
        assert refused.headers["Retry-After"] == str(RETRY_AFTER_S)
        # the calendar rate limit's members come after the cap's, one list per field
        assert refused.headers["RateLimit-Policy"].startswith(f"{JOBS_POLICY}, ")
        assert refused.headers["RateLimit"].startswith('"jobs";r=0, "calendars";r=')

    async def test_a_refused_request_records_nothing_not_even_its_idempotency_key(
        self, capped: Capped
    ) -> None:
        (first, _) = await fill_up(capped)
        before = await capped.events()

        refused = await capped.request(key="once")

        assert refused.status == 429
        assert await capped.events() == before
        await capped.tracker.record(calendar_ready(first), utcnow(), "acme")
        # the key was never used: it starts a job now, and records that job and its use
        await capped.accepted(key="once")
        assert await capped.events() == before + 2

    async def test_an_accepted_request_says_what_is_left(self, capped: Capped) -> None:
        response = await capped.request()

        assert response.status == 202
        assert response.headers["RateLimit"].startswith(f'"jobs";r={CAP - 1}, ')

    async def test_another_tenant_is_unaffected(self, capped: Capped) -> None:
        await fill_up(capped, "acme")

        assert (await capped.request("acme")).status == 429
        assert (await capped.request("globex")).status == 202

    async def test_a_retry_of_a_key_that_answered_gets_its_job_at_the_cap(
        self, capped: Capped
    ) -> None:
        keyed = await capped.accepted(key="retried")
        await capped.seen_by_tracker(keyed)
        await capped.seen_by_tracker(await capped.accepted())

        assert await capped.accepted(key="retried") == keyed


class TestFreedSlots:
    async def test_a_job_that_finishes_frees_its_slot(self, capped: Capped) -> None:
        (first, _) = await fill_up(capped)
        assert (await capped.request()).status == 429

        await capped.tracker.record(calendar_ready(first), utcnow(), "acme")

        assert (await capped.request()).status == 202

    async def test_a_cancel_frees_its_slot_once_the_tracker_records_the_revocation(
        self, capped: Capped
    ) -> None:
        (first, _) = await fill_up(capped)

        cancel = await capped.api.delete(f"{CALENDARS}/{first}", headers=token("acme"))
        assert cancel.status == 202
        assert (await capped.request()).status == 429
        revoked = CalendarRevoked(task_id=first, revoked_at=utcnow())
        await capped.tracker.record(revoked, utcnow(), "acme")

        assert (await capped.request()).status == 202


class TestTheLag:
    async def test_requests_the_tracker_has_not_seen_yet_are_not_counted(
        self, capped: Capped
    ) -> None:
        # the overshoot the cap states: each is admitted on a count without the others
        admitted = [await capped.request() for _ in range(CAP + 1)]

        assert [response.status for response in admitted] == [202] * (CAP + 1)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class TestNoCount:
    @pytest.mark.parametrize("tracker_url", ["closed port", None])
    async def test_a_tracker_that_cannot_be_asked_answers_503_and_records_nothing(
        self, capped_settings: Settings, tracker_url: str | None
    ) -> None:
        url = f"http://127.0.0.1:{closed_port()}" if tracker_url else None
        app = create_app(
            capped_settings.model_copy(update={"job_tracker_url": url}), verifier=TenantTokens()
        )
        async with TestClient(TestServer(app)) as api:
            refused = await api.post(CALENDARS, headers=token("acme"))
            message = await error_of(refused, 503)
            async with app[store_key].reading() as conn:
                count = select(func.count()).select_from(store_tables.events)
                events = (await conn.execute(count)).scalar_one()

        assert message
        assert events == 0

    async def test_a_key_the_tracker_has_not_taken_yet_answers_503(
        self, capped_settings: Settings
    ) -> None:
        async with running_tracker(capped_settings, InMemoryBlobStore()) as tracker:
            url = str(tracker.client.make_url(""))
            app = create_app(capped_settings.model_copy(update={"job_tracker_url": url}))
            async with TestClient(TestServer(app)) as api:
                # issued into todo_api's store; its ApiKeyIssued never reaches the tracker here
                key = await issue_key(capped_settings)
                refused = await api.post(CALENDARS, headers=bearer(key))
                message = await error_of(refused, 503)

        assert message


class TestAnonymous:
    async def test_auth_mode_none_has_no_cap_unless_one_is_set(
        self, service_settings: Settings, quiet_topology: Settings
    ) -> None:
        async with capped_api(service_settings, quiet_topology) as capped:
            for _ in range(CALENDAR_JOBS_IN_FLIGHT_DEFAULT + 1):
                await capped.tracker.add_job(utcnow(), "PENDING", tenant=ANONYMOUS_TENANT)

            response = await capped.api.post(CALENDARS)

        assert response.status == 202
        assert "RateLimit" not in response.headers
