"""The rate limits per principal, on SQLite and PostgreSQL: two todo_api apps on two engines
sharing one database let exactly the burst through when every request reaches the check at once
(held at a barrier in authentication); each principal has its own buckets; a 429 records nothing;
its Retry-After is honest on the apps' clock; reads are never limited; PostgreSQL away answers
503 (a SQLite file cannot go away)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from services.todo_api.app import create_app
from services.todo_api.tables import store as store_tables
from shared.auth.principal import Principal
from shared.eventstore.database import create_engine
from shared.settings import Settings
from tests.support.auth import bearer, requiring_credentials
from tests.support.environment import POSTGRES_URL
from tests.support.faults import FaultProxy, proxied_url, target_of
from tests.support.todo_http import TODOS, Client, error_of

CALENDARS = f"{TODOS}/ical"
BURST = 5
# a token a minute: on the frozen clock none comes back unless a test moves it
PER_MINUTE = 1
START_S = 1_800_000_000.0


class GatedVerifier:
    """Accepts `<any>.<tenant>.<subject>` tokens, each only once `parties` requests hold one:
    they then reach the rate limit together."""

    def __init__(self, parties: int = 1) -> None:
        self.barrier = asyncio.Barrier(parties)

    async def principal(self, token: str) -> Principal:
        _, tenant, subject = token.split(".")
        await self.barrier.wait()
        return Principal(tenant=tenant, subject=subject, roles=frozenset({"member"}))


class Clock:
    """The apps' clock: still, unless a test moves it. The apps' pauses are noted, not waited:
    time stands still for them too."""

    def __init__(self) -> None:
        self.now_s = START_S
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    async def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


def token(tenant: str = "acme", subject: str = "alice") -> dict[str, str]:
    return bearer(f"t.{tenant}.{subject}")


@pytest.fixture
def limited(service_settings: Settings) -> Settings:
    return requiring_credentials(service_settings).model_copy(
        update={
            "rate_limit_writes_per_minute": PER_MINUTE,
            "rate_limit_writes_burst": BURST,
            "rate_limit_calendars_per_minute": PER_MINUTE,
            "rate_limit_calendars_burst": BURST,
            # the buckets alone: no job tracker answers the cap on jobs in flight here
            "calendar_jobs_in_flight_per_tenant": 0,
        }
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@contextlib.asynccontextmanager
async def app_client(
    settings: Settings, clock: Clock, verifier: GatedVerifier | None = None
) -> AsyncIterator[Client]:
    app = create_app(settings, verifier=verifier or GatedVerifier(), clock=clock, pause=clock.pause)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def client(limited: Settings, clock: Clock) -> AsyncIterator[Client]:
    async with app_client(limited, clock) as client:
        yield client


async def event_count(settings: Settings) -> int:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            found: int = (
                await conn.execute(select(func.count()).select_from(store_tables.events))
            ).scalar_one()
            return found
    finally:
        await engine.dispose()


async def use_up(client: Client, path: str, headers: dict[str, str], **body: Any) -> None:
    for _ in range(BURST):
        response = await client.post(path, headers=headers, **body)
        assert response.status in (201, 202), await response.text()


async def assert_refused(response: ClientResponse, name: str) -> int:
    """A 429 of the `name` limit with its headers; its Retry-After."""
    assert "Too many" in await error_of(response, 429)
    assert response.headers["RateLimit-Policy"] == f'"{name}";q={BURST};w={BURST * 60}'
    assert response.headers["RateLimit"].startswith(f'"{name}";r=0;t=')
    return int(response.headers["Retry-After"])


class TestAcrossTwoApps:
    @pytest.mark.parametrize("path", [TODOS, CALENDARS])
    async def test_exactly_the_burst_passes_when_every_request_comes_at_once(
        self, limited: Settings, clock: Clock, path: str
    ) -> None:
        per_app = 8
        verifier = GatedVerifier(parties=2 * per_app)
        async with (
            app_client(limited, clock, verifier) as first,
            app_client(limited, clock, verifier) as second,
        ):

            async def send(client: Client) -> ClientResponse:
                response = await client.post(path, headers=token(), json={"title": "a todo"})
                await response.read()
                return response

            answers = await asyncio.gather(
                *[send(client) for client in (first, second) for _ in range(per_app)]
            )

        statuses = sorted(response.status for response in answers)
        assert statuses.count(429) == 2 * per_app - BURST
        assert set(statuses) - {429} == {201 if path == TODOS else 202}
        for response in answers:
            if response.status == 429:
                assert await assert_refused(response, "writes" if path == TODOS else "calendars")


class TestPrincipals:
    async def test_each_subject_and_each_tenant_has_its_own_bucket(self, client: Client) -> None:
        await use_up(client, TODOS, token("acme", "alice"), json={"title": "a"})
        refused = await client.post(TODOS, headers=token("acme", "alice"), json={"title": "a"})
        assert refused.status == 429

        for other in (token("acme", "bob"), token("globex", "alice")):
            response = await client.post(TODOS, headers=other, json={"title": "b"})
            assert response.status == 201
            assert response.headers["RateLimit"] == f'"writes";r={BURST - 1};t=60'

    async def test_writes_and_calendar_jobs_are_counted_apart(self, client: Client) -> None:
        await use_up(client, TODOS, token(), json={"title": "a"})

        response = await client.post(CALENDARS, headers=token())
        assert response.status == 202

    async def test_reads_are_not_limited(self, client: Client) -> None:
        await use_up(client, TODOS, token(), json={"title": "a"})

        response = await client.get(TODOS, headers=token())
        assert response.status == 200
        assert "RateLimit" not in response.headers


class TestRefused:
    async def test_a_refused_write_records_nothing_not_even_its_idempotency_key(
        self, client: Client, limited: Settings, clock: Clock
    ) -> None:
        await use_up(client, TODOS, token(), json={"title": "a"})
        await use_up(client, CALENDARS, token())
        before = await event_count(limited)
        keyed = {**token(), "Idempotency-Key": "once"}
        todo_id = (await (await client.get(TODOS, headers=token())).json())[0]["id"]

        refusals = [
            await client.post(TODOS, headers=keyed, json={"title": "refused"}),
            await client.post(CALENDARS, headers=keyed),
            await client.put(f"{TODOS}/{todo_id}", headers=token(), json={"title": "refused"}),
            await client.delete(f"{TODOS}/{todo_id}", headers=token()),
        ]

        assert [response.status for response in refusals] == [429] * 4
        assert await event_count(limited) == before
        clock.now_s += 60
        # the key was never used: with a token back it creates, not answers a refusal again
        created = await client.post(TODOS, headers=keyed, json={"title": "later"})
        assert created.status == 201
        assert (await created.json())["title"] == "later"

    @pytest.mark.parametrize("path", [TODOS, CALENDARS])
    async def test_after_retry_after_a_request_passes_and_a_second_sooner_it_does_not(
        self, client: Client, clock: Clock, path: str
    ) -> None:
        await use_up(client, path, token(), json={"title": "a"})
        name = "writes" if path == TODOS else "calendars"
        wait_s = await assert_refused(
            await client.post(path, headers=token(), json={"title": "a"}), name
        )
        assert wait_s == 60

        clock.now_s += wait_s - 1
        too_soon = await client.post(path, headers=token(), json={"title": "a"})
        assert too_soon.status == 429
        assert too_soon.headers["Retry-After"] == "1"
        clock.now_s += 1
        passed = await client.post(path, headers=token(), json={"title": "a"})
        assert passed.status in (201, 202)
        assert passed.headers["RateLimit"] == f'"{name}";r=0;t={BURST * 60}'


class TestPrincipalsThatIgnoreRetryAfter:
    async def test_wait_before_each_check_while_their_bucket_is_known_empty(
        self, client: Client, clock: Clock
    ) -> None:
        await use_up(client, TODOS, token(), json={"title": "a"})
        first = await client.post(TODOS, headers=token(), json={"title": "a"})
        pauses_after_first = list(clock.pauses)
        again = [await client.post(TODOS, headers=token(), json={"title": "a"}) for _ in range(2)]
        pauses_after_again = list(clock.pauses)
        other = await client.post(TODOS, headers=token(subject="bob"), json={"title": "b"})
        calendars = await client.post(CALENDARS, headers=token())
        clock.now_s += 59.7
        nearly_due = await client.post(TODOS, headers=token(), json={"title": "a"})

        # the first refusal is answered at once: a client that honours Retry-After never waits
        assert await assert_refused(first, "writes") == 60
        assert pauses_after_first == []
        # then the cap (1 s by default), since the next token is a minute away
        for response in again:
            assert await assert_refused(response, "writes") == 60
        assert pauses_after_again == [1.0, 1.0]
        # nobody else waits: another subject, or the same one's other limit
        assert other.status == 201
        assert calendars.status == 202
        # the next token sooner than the cap: only until then
        assert clock.pauses[2:] == [pytest.approx(0.3, abs=0.002)]
        assert nearly_due.status == 429
        assert nearly_due.headers["Retry-After"] == "1"

    async def test_answer_at_once_when_the_pause_is_0(
        self, limited: Settings, clock: Clock
    ) -> None:
        settings = limited.model_copy(update={"rate_limit_refusal_pause_ms": 0})
        async with app_client(settings, clock) as client:
            await use_up(client, TODOS, token(), json={"title": "a"})
            refusals = [
                await client.post(TODOS, headers=token(), json={"title": "a"}) for _ in range(3)
            ]

        assert [response.status for response in refusals] == [429] * 3
        assert clock.pauses == []

    async def test_really_wait_on_the_event_loop(self, limited: Settings) -> None:
        settings = limited.model_copy(update={"rate_limit_refusal_pause_ms": 150})
        app = create_app(settings, verifier=GatedVerifier())
        async with TestClient(TestServer(app)) as client:
            await use_up(client, TODOS, token(), json={"title": "a"})
            first = await client.post(TODOS, headers=token(), json={"title": "a"})
            started = asyncio.get_running_loop().time()
            second = await client.post(TODOS, headers=token(), json={"title": "a"})
            waited_s = asyncio.get_running_loop().time() - started

        assert (first.status, second.status) == (429, 429)
        assert waited_s >= 0.15


class TestUnlimited:
    async def test_without_credentials_required_nothing_is_limited_or_labelled(
        self, service_settings: Settings, clock: Clock
    ) -> None:
        async with app_client(service_settings, clock) as client:
            answers = [await client.post(TODOS, json={"title": "a"}) for _ in range(BURST * 3)]

        assert {response.status for response in answers} == {201}
        assert all("RateLimit" not in response.headers for response in answers)


class TestOutage:
    async def test_a_database_away_during_the_check_answers_503_json(
        self, postgres_schema: str, module_topology: Settings, clock: Clock
    ) -> None:
        with FaultProxy(*target_of(POSTGRES_URL)) as proxy:
            through = module_topology.model_copy(
                update={
                    "database_url": proxied_url(POSTGRES_URL, proxy),
                    "database_schema": postgres_schema,
                    "auth_mode": "required",
                }
            )
            async with app_client(through, clock) as client:
                proxy.block()
                response = await client.post(TODOS, headers=token(), json={"title": "a"})

                message = await error_of(response, 503)
                proxy.unblock()
        assert "try again" in message
