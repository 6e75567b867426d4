"""Jobs per tenant at the job tracker (SQLite, PostgreSQL): status, result and history show a
principal its own tenant's jobs only, another tenant's job answers exactly as a missing one, a
history cursor never reaches another tenant's jobs, and a rebuild agrees with the live rows and
keeps the keys; on todo_api's port in process, with todo_api's principal, the same."""

from __future__ import annotations

import functools
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer
from rich.console import Console
from sqlalchemy import select, update

from scripts.replay.projections import PROJECTIONS
from scripts.replay.rebuild import rebuild
from services.job_tracker import views as tracker_views
from services.job_tracker.in_flight import jobs_in_flight
from services.job_tracker.job_events import job_events
from services.job_tracker.ops_views import overview_of
from services.job_tracker.tables import api_keys, jobs
from services.todo_api.app import create_app as create_todo_api
from services.todo_api.in_process_tracker import InProcessTracker
from shared.auth.api_keys import ApiKey
from shared.aws.blobs import InMemoryBlobStore
from shared.clock import utcnow
from shared.contracts.events import CalendarRequested
from shared.contracts.task_ids import issue_task_id
from shared.settings import Settings
from tests.support.auth import bearer, issue_key, requiring_credentials
from tests.support.replay_stack import run_replay
from tests.support.tracker_jobs import CALENDAR, Client, Tracker, running_tracker

HISTORY = "/api/v1/todos/ical"
START = utcnow().replace(microsecond=0) - timedelta(days=1)


@dataclass(frozen=True)
class Tenant:
    name: str
    key: ApiKey
    # its jobs, newest request first
    jobs: list[UUID]


@pytest.fixture
async def tracker(service_settings: Settings) -> AsyncIterator[Tracker]:
    settings = requiring_credentials(service_settings)
    async with running_tracker(settings, InMemoryBlobStore()) as running:
        yield running


async def tenant_with_jobs(tracker: Tracker, name: str, minutes: list[int]) -> Tenant:
    key = await tracker.add_key(name)
    task_ids = [await tracker.add_job(START + timedelta(minutes=n), tenant=name) for n in minutes]
    return Tenant(name, key, list(reversed(task_ids)))


@pytest.fixture
async def acme(tracker: Tracker) -> Tenant:
    return await tenant_with_jobs(tracker, "acme", [0, 2, 4])


@pytest.fixture
async def globex(tracker: Tracker) -> Tenant:
    # requested between acme's: a page of one tenant's would cut through them
    return await tenant_with_jobs(tracker, "globex", [1, 3, 5])


async def answer(client: Client, path: str, key: ApiKey) -> tuple[int, str, bytes]:
    response = await client.get(path, headers=bearer(key))
    return response.status, response.content_type, await response.read()


def status_path(task_id: UUID) -> str:
    return f"{HISTORY}/{task_id}/status"


def result_path(task_id: UUID) -> str:
    return f"{HISTORY}/{task_id}/result"


async def history(client: Client, key: ApiKey, **params: Any) -> dict[str, Any]:
    query = {name: str(value) for name, value in params.items()}
    response = await client.get(HISTORY, params=query, headers=bearer(key))
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [job["task_id"] for job in body["jobs"]]


def strs(task_ids: list[UUID]) -> list[str]:
    return [str(task_id) for task_id in task_ids]


class TestStatusAndResult:
    async def test_a_tenant_sees_its_own_job_and_its_file(
        self, tracker: Tracker, acme: Tenant, globex: Tenant
    ) -> None:
        status = await tracker.client.get(status_path(acme.jobs[0]), headers=bearer(acme.key))
        result = await tracker.client.get(result_path(acme.jobs[0]), headers=bearer(acme.key))

        assert (await status.json())["task_status"] == "SUCCESS"
        assert (result.status, await result.read()) == (200, CALENDAR)

    async def test_another_tenants_job_answers_404_exactly_as_a_missing_one(
        self, tracker: Tracker, acme: Tenant, globex: Tenant
    ) -> None:
        theirs, missing = globex.jobs[0], uuid4()
        for path in (status_path, result_path):
            other = await answer(tracker.client, path(theirs), acme.key)
            absent = await answer(tracker.client, path(missing), acme.key)

            assert other == absent
            assert other[0] == 404

    async def test_an_id_issued_to_another_tenant_is_unknown_before_its_request_arrives(
        self, tracker: Tracker, acme: Tenant, globex: Tenant
    ) -> None:
        secret = tracker.settings.task_secret
        acme_s, globex_s = issue_task_id(secret, "acme"), issue_task_id(secret, "globex")

        own = await tracker.client.get(status_path(acme_s), headers=bearer(acme.key))
        others = await answer(tracker.client, status_path(globex_s), acme.key)

        assert (own.status, (await own.json())["task_status"]) == (200, "PENDING")
        assert others == await answer(tracker.client, status_path(uuid4()), acme.key)
        assert others[0] == 404

    async def test_a_job_of_another_tenant_is_not_found_even_under_an_id_signed_for_the_asker(
        self, tracker: Tracker, acme: Tenant, globex: Tenant
    ) -> None:
        # only a log written by hand or imported could hold one: the row's tenant is checked too
        task_id = issue_task_id(tracker.settings.task_secret, "acme")
        requested = CalendarRequested(task_id=task_id, requested_at=START, todo_count=0, todos=())
        await tracker.record(requested, START, tenant="globex")

        found = await answer(tracker.client, status_path(task_id), acme.key)

        assert found == await answer(tracker.client, status_path(uuid4()), acme.key)
        assert found[0] == 404


class TestHistory:
    async def test_lists_only_the_tenants_own_jobs(
        self, tracker: Tracker, acme: Tenant, globex: Tenant
    ) -> None:
        assert ids(await history(tracker.client, acme.key)) == strs(acme.jobs)
        assert ids(await history(tracker.client, globex.key)) == strs(globex.jobs)
        assert ids(await history(tracker.client, acme.key, state="SUCCESS")) == strs(acme.jobs)

    async def test_pages_hold_the_tenants_jobs_only(
        self, tracker: Tracker, acme: Tenant, globex: Tenant
    ) -> None:
        pages, cursor = [], None
        while True:
            more: dict[str, str] = {"cursor": cursor} if cursor else {}
            body = await history(tracker.client, acme.key, limit=1, **more)
            pages.append(ids(body))
            cursor = body["next_cursor"]
            if cursor is None:
                break

        assert pages == [[str(task_id)] for task_id in acme.jobs]

    async def test_another_tenants_cursor_reaches_only_ones_own_jobs(
        self, tracker: Tracker, acme: Tenant, globex: Tenant
    ) -> None:
        theirs = await history(tracker.client, globex.key, limit=1)

        mine = await history(tracker.client, acme.key, cursor=theirs["next_cursor"])

        # globex's newest job was requested after acme's newest: acme's all come after it
        assert ids(mine) == strs(acme.jobs)


class TestRebuild:
    async def test_a_rebuild_from_the_log_agrees_with_the_live_rows(
        self, tracker: Tracker, acme: Tenant, globex: Tenant
    ) -> None:
        difference = await rebuild(tracker.store, PROJECTIONS["job_tracker"], quiet(), dry_run=True)

        assert not difference.any, difference
        assert difference.before == len(acme.jobs) + len(globex.jobs)

    async def test_a_rebuild_mends_a_wrong_tenant_and_keeps_the_keys(
        self, tracker: Tracker, acme: Tenant, globex: Tenant
    ) -> None:
        revoked = await tracker.add_key("globex")
        await tracker.revoke_key(revoked)
        before = await key_rows(tracker)
        async with tracker.store.transaction() as conn:
            await conn.execute(update(jobs).values(tenant="acme"))
            await conn.execute(update(api_keys).values(revoked_at=None, tenant="wrong"))

        await rebuild(tracker.store, PROJECTIONS["job_tracker"], quiet())

        assert await key_rows(tracker) == before
        assert ids(await history(tracker.client, globex.key)) == strs(globex.jobs)
        refused = await tracker.client.get(HISTORY, headers=bearer(revoked))
        assert refused.status == 401

    async def test_keys_work_after_the_log_is_imported_into_another_database(
        self, tracker: Tracker, acme: Tenant, tmp_path: Path
    ) -> None:
        revoked = await tracker.add_key("acme")
        await tracker.revoke_key(revoked)
        archive = tmp_path / "job_tracker.jsonl"
        elsewhere = tracker.settings.model_copy(
            update={
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/elsewhere.db",
                "database_schema": None,
            }
        )
        where = ["--service", "job_tracker"]

        exported = await run_replay(
            tracker.settings, tmp_path, "export", *where, "--output", str(archive)
        )
        imported = await run_replay(elsewhere, tmp_path, "import", *where, "--input", str(archive))
        async with running_tracker(elsewhere, tracker.blobs) as moved:
            listed = await history(moved.client, acme.key)
            refused = await moved.client.get(HISTORY, headers=bearer(revoked))

        assert (exported.status, imported.status) == (0, 0), (exported, imported)
        assert ids(listed) == strs(acme.jobs)
        assert refused.status == 401


class TestInProcess:
    """The embedded mode's wiring: todo_api authenticates, the tracker's views read its
    principal, and nothing authenticates twice."""

    async def test_todo_api_shows_a_tenant_its_own_jobs_only(self, tracker: Tracker) -> None:
        settings = tracker.settings
        async with TestClient(TestServer(create_todo_api(settings, tracker=local(tracker)))) as api:
            acme = await issue_key(settings, tenant="acme")
            globex = await issue_key(settings, tenant="globex")
            mine = await tracker.add_job(START, tenant="acme")

            own = await (await api.get(status_path(mine), headers=bearer(acme))).json()
            other = await answer(api, status_path(mine), globex)
            absent = await answer(api, status_path(uuid4()), globex)
            listed = await (await api.get(HISTORY, headers=bearer(globex))).json()

        assert own["task_status"] == "SUCCESS"
        assert other == absent
        assert other[0] == 404
        assert listed["jobs"] == []


def local(tracker: Tracker) -> InProcessTracker:
    app = tracker.client.app
    return InProcessTracker(
        status_view=functools.partial(tracker_views.job_status, app),
        result_view=functools.partial(tracker_views.job_result, app),
        events_view=functools.partial(job_events, app),
        history_view=functools.partial(tracker_views.job_history, app),
        in_flight_view=functools.partial(jobs_in_flight, app),
        overview_of=functools.partial(overview_of, app),
    )


async def key_rows(tracker: Tracker) -> list[dict[str, Any]]:
    query = select(api_keys).order_by(api_keys.c.key_id)
    async with tracker.store.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings().all()]


def quiet() -> Console:
    return Console(file=io.StringIO())
