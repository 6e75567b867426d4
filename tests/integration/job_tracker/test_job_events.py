"""A job's event stream (GET /api/v1/todos/ical/{task_id}/events): two tracker replicas on two
engines over one PostgreSQL database, a change folded by one reaching a stream held by the other
(LISTEN/NOTIFY); resuming by Last-Event-ID; the bound on open streams; the keep-alive comment;
tenancy; through todo_api's proxy; and in the embedded mode, on SQLite, in process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.edge.app import in_process_tracker
from services.job_tracker.app_keys import job_changes_key
from services.job_tracker.pg_job_changes import PgJobChanges, asyncpg_connect
from services.job_tracker.projection import record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA
from services.todo_api.app import create_app as create_todo_api
from shared.app.resources import open_store
from shared.aws.blobs import InMemoryBlobStore
from shared.clock import utcnow
from shared.contracts.envelope import wrap
from shared.contracts.events import CalendarStarted
from shared.contracts.tenancy import ANONYMOUS_TENANT, Origin, service_actor
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.auth import bearer, requiring_credentials
from tests.support.environment import POSTGRES_URL
from tests.support.factories import calendar_ready
from tests.support.sse import next_event, next_message, rest_of
from tests.support.tracker_jobs import Tracker, running_tracker

EVENTS = "/api/v1/todos/ical/{}/events"
STATUS = "/api/v1/todos/ical/{}/status"
# a bound on waiting for what must happen: reaching it fails the test
WAIT_S = 10.0


def events_path(task_id: object) -> str:
    return EVENTS.format(task_id)


@pytest.fixture
def pg_settings(postgres_schema: str, module_topology: Settings) -> Settings:
    aws = module_topology.model_dump(include={"aws_endpoint_url", "resource_prefix"})
    return Settings(
        database_url=POSTGRES_URL,
        database_schema=postgres_schema,
        # no keep-alive (and its read) within a test: only a wake-up moves a stream on
        job_events_keepalive_ms=300_000,
        **aws,
    )


@contextlib.asynccontextmanager
async def replicas(settings: Settings) -> AsyncIterator[tuple[Tracker, Tracker]]:
    """Two trackers on `settings`' database, each on an engine of its own, both listening."""
    blobs = InMemoryBlobStore()
    async with running_tracker(settings, blobs) as a, running_tracker(settings, blobs) as b:
        for replica in (a, b):
            changes = replica.client.app[job_changes_key]
            assert isinstance(changes, PgJobChanges)
            async with asyncio.timeout(WAIT_S):
                await changes.listening.wait()
        yield a, b


async def start(tracker: Tracker, task_id: UUID, attempt: int = 1) -> None:
    await tracker.record(CalendarStarted(task_id=task_id, attempt=attempt), utcnow())


async def finish(tracker: Tracker, task_id: UUID) -> None:
    await tracker.record(calendar_ready(task_id), utcnow())


class TestAcrossReplicas:
    async def test_a_stream_on_one_replica_sees_each_change_another_folds_until_the_end(
        self, pg_settings: Settings
    ) -> None:
        async with replicas(pg_settings) as (a, b):
            task_id = await b.add_job(utcnow(), "PENDING")
            async with a.client.get(events_path(task_id)) as stream:
                assert stream.headers["Content-Type"].startswith("text/event-stream")
                first = await next_event(stream)
                await start(b, task_id)
                second = await next_event(stream)
                await finish(b, task_id)
                last = await next_event(stream)
                after = await rest_of(stream)
            status = await (await a.client.get(STATUS.format(task_id))).json()

        assert [first.status, second.status, last.status] == ["PENDING", "STARTED", "SUCCESS"]
        assert len({first.id, second.id, last.id}) == 3
        # each event's data is what the status route answers
        assert last.body == status
        # the terminal state ended the stream
        assert after == []

    async def test_a_change_while_the_listener_was_away_is_read_once_it_is_back(
        self, pg_settings: Settings
    ) -> None:
        gate, attempted = asyncio.Event(), asyncio.Event()
        connections: list[asyncpg.Connection] = []
        store = await open_store(pg_settings, SCHEMA)
        real = asyncpg_connect(store.engine.url)

        async def gated() -> asyncpg.Connection:
            if connections:
                attempted.set()
                await gate.wait()
            connections.append(await real())
            return connections[-1]

        changes = await PgJobChanges.on(store.engine, connect=gated)
        changes.start()
        try:
            async with asyncio.timeout(WAIT_S):
                await changes.listening.wait()
            task_id = uuid4()
            with changes.watching(task_id) as wakeup:
                await kill(connections[0])
                async with asyncio.timeout(WAIT_S):
                    await attempted.wait()
                # no one listens now: this commit's notification is lost
                await fold_started(store, changes, task_id)
                assert not changes.listening.is_set()
                gate.set()
                woken = await wakeup.wait(WAIT_S)
        finally:
            await changes.stop()
            await store.engine.dispose()

        assert woken
        assert len(connections) == 2


async def kill(connection: asyncpg.Connection) -> None:
    """End a listener's session from the server's side, as a failover or a restart does."""
    pid = connection.get_server_pid()
    admin = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def fold_started(store: EventStore, changes: PgJobChanges, task_id: UUID) -> None:
    envelope = wrap(
        CalendarStarted(task_id=task_id, attempt=1),
        stream_id=f"render-{task_id}",
        stream_version=1,
        origin=Origin(tenant=ANONYMOUS_TENANT, actor=service_actor("test")),
    )
    assert await record_job_event(envelope, SqlJobBook(store, changes))


class TestResuming:
    async def test_a_client_that_comes_back_gets_what_changed_and_never_an_older_state(
        self, pg_settings: Settings
    ) -> None:
        async with replicas(pg_settings) as (a, b):
            task_id = await b.add_job(utcnow(), "PENDING")
            async with a.client.get(events_path(task_id)) as stream:
                pending = await next_event(stream)
            await start(b, task_id)
            # away while it started: the state now, not the one it had
            async with b.client.get(events_path(task_id), headers=resume(pending.id)) as stream:
                started = await next_event(stream)
            # back with the state it has: nothing until the next change
            async with a.client.get(events_path(task_id), headers=resume(started.id)) as stream:
                await finish(b, task_id)
                rest = await rest_of(stream)
            # back with the final state: nothing more will come
            done = await a.client.get(events_path(task_id), headers=resume(rest[-1].id))

        assert (pending.status, started.status) == ("PENDING", "STARTED")
        assert [event.status for event in rest] == ["SUCCESS"]
        assert done.status == 204

    async def test_an_id_the_tracker_never_sent_gets_the_current_state(
        self, pg_settings: Settings
    ) -> None:
        async with replicas(pg_settings) as (a, _b):
            task_id = await a.add_job(utcnow(), "SUCCESS")
            async with a.client.get(events_path(task_id), headers=resume("made-up")) as stream:
                events = await rest_of(stream)

        assert [event.status for event in events] == ["SUCCESS"]


def resume(event_id: str | None) -> dict[str, str]:
    assert event_id is not None
    return {"Last-Event-ID": event_id}


class TestLimits:
    async def test_a_stream_beyond_the_bound_is_refused_with_a_json_503(
        self, pg_settings: Settings
    ) -> None:
        settings = pg_settings.model_copy(update={"job_events_max_streams": 1})
        async with running_tracker(settings, InMemoryBlobStore()) as tracker:
            task_id = await tracker.add_job(utcnow(), "PENDING")
            async with tracker.client.get(events_path(task_id)) as held:
                await next_event(held)
                refused = await tracker.client.get(events_path(task_id))
                body = await refused.json()

        assert refused.status == 503
        assert set(body) == {"error"}

    async def test_a_quiet_stream_sends_a_keep_alive_comment(self, pg_settings: Settings) -> None:
        settings = pg_settings.model_copy(update={"job_events_keepalive_ms": 20})
        async with running_tracker(settings, InMemoryBlobStore()) as tracker:
            task_id = await tracker.add_job(utcnow(), "PENDING")
            async with tracker.client.get(events_path(task_id)) as stream:
                first = await next_message(stream)
                quiet = await next_message(stream)
                await start(tracker, task_id)
                # woken or kept alive, the change comes
                changed = await next_event(stream)

        assert first.status == "PENDING"
        assert quiet.comment == "keep-alive"
        assert changed.status == "STARTED"

    async def test_shutting_down_ends_the_open_streams(self, pg_settings: Settings) -> None:
        async with running_tracker(pg_settings, InMemoryBlobStore()) as tracker:
            task_id = await tracker.add_job(utcnow(), "PENDING")
            stream = await tracker.client.get(events_path(task_id))
            await next_event(stream)
            await tracker.client.app.shutdown()
            rest = await rest_of(stream)
            stream.close()

        assert rest == []


class TestTenancy:
    async def test_another_tenants_job_and_unknown_ids_answer_as_the_status_route(
        self, pg_settings: Settings
    ) -> None:
        settings = requiring_credentials(pg_settings)
        async with running_tracker(settings, InMemoryBlobStore()) as tracker:
            acme, globex = await tracker.add_key("acme"), await tracker.add_key("globex")
            mine = await tracker.add_job(utcnow(), "PENDING", tenant="acme")
            answers = {}
            for name, path in {
                "other": mine,
                "unknown": uuid4(),
                "malformed": "not-a-task-id",
            }.items():
                events = await tracker.client.get(events_path(path), headers=bearer(globex))
                status = await tracker.client.get(STATUS.format(path), headers=bearer(globex))
                answers[name] = (events.status, await events.text(), await status.text())
            nobody = await tracker.client.get(events_path(mine))
            async with tracker.client.get(events_path(mine), headers=bearer(acme)) as own:
                first = await next_event(own)

        for code, events_body, status_body in answers.values():
            assert code == 404
            assert events_body == status_body
        assert answers["other"][1] == answers["unknown"][1]
        assert nobody.status == 401
        assert first.status == "PENDING"


class TestThroughTodoApi:
    async def test_todo_api_passes_each_event_on_as_it_comes(self, pg_settings: Settings) -> None:
        async with replicas(pg_settings) as (a, b):
            tracker_url = str(a.client.make_url("/"))
            api_settings = pg_settings.model_copy(update={"job_tracker_url": tracker_url})
            async with TestClient(TestServer(create_todo_api(api_settings))) as api:
                task_id = await b.add_job(utcnow(), "PENDING")
                async with api.get(events_path(task_id)) as stream:
                    kind = stream.headers["Content-Type"]
                    first = await next_event(stream)
                    await start(b, task_id)
                    second = await next_event(stream)
                    await finish(b, task_id)
                    rest = await rest_of(stream)
                async with api.get(events_path(task_id), headers=resume(first.id)) as again:
                    resumed = await rest_of(again)
                missing = await api.get(events_path(uuid4()))
                missing_body = await missing.json()
                api_host = api.make_url("/").host

        assert kind.startswith("text/event-stream")
        assert [first.status, second.status] == ["PENDING", "STARTED"]
        assert [event.status for event in rest] == ["SUCCESS"]
        assert [event.status for event in resumed] == ["SUCCESS"]
        # the result URL names todo_api, the public base URL
        assert f"//{api_host}:" in rest[0].body["result_url"]
        assert missing.status == 404
        assert set(missing_body) == {"error"}


class TestEmbedded:
    async def test_todo_api_streams_the_in_process_trackers_changes_on_sqlite(
        self, module_topology: Settings, tmp_path: Path
    ) -> None:
        aws = module_topology.model_dump(include={"aws_endpoint_url", "resource_prefix"})
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/tracker.db", **aws)
        api_settings = settings.model_copy(
            update={"database_url": f"sqlite+aiosqlite:///{tmp_path}/todo_api.db"}
        )
        async with running_tracker(settings, InMemoryBlobStore()) as tracker:
            local = in_process_tracker(tracker.client.app)
            async with TestClient(TestServer(create_todo_api(api_settings, tracker=local))) as api:
                task_id = await tracker.add_job(utcnow(), "PENDING")
                async with api.get(events_path(task_id)) as stream:
                    first = await next_event(stream)
                    await start(tracker, task_id)
                    second = await next_event(stream)
                    await finish(tracker, task_id)
                    rest = await rest_of(stream)

        assert [first.status, second.status] == ["PENDING", "STARTED"]
        assert [event.status for event in rest] == ["SUCCESS"]
