"""The job tracker with AUTH_MODE=required (SQLite, PostgreSQL): credentials or 401, the public
probes, the operator role on the jobs overview, the keys todo_api's events brought, and tokens of
OIDC_ISSUER when it is set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.auth.api_keys import ApiKey
from shared.aws.blobs import InMemoryBlobStore
from shared.clock import utcnow
from shared.contracts.ops_report import JOBS_OVERVIEW_PATH
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.settings import Settings
from tests.support.auth import bearer, requiring_credentials
from tests.support.oidc_issuer import LocalIssuer, new_rsa_key, running_issuer
from tests.support.tracker_jobs import Tracker, key_events, running_tracker

HISTORY = "/api/v1/todos/ical"


@pytest.fixture
async def tracker(service_settings: Settings) -> AsyncIterator[Tracker]:
    settings = requiring_credentials(service_settings)
    async with running_tracker(settings, InMemoryBlobStore()) as running:
        yield running


def job_paths(settings: Settings) -> list[str]:
    task_id = issue_task_id(settings.task_secret, ANONYMOUS_TENANT)
    return [
        f"{HISTORY}/{task_id}/status",
        f"{HISTORY}/{task_id}/result",
        HISTORY,
        JOBS_OVERVIEW_PATH,
    ]


async def error_of(response: Any) -> str:
    assert response.content_type == "application/json"
    body: dict[str, str] = await response.json()
    assert set(body) == {"error"}
    return body["error"]


class TestWithoutCredentials:
    async def test_every_job_route_answers_401_json_with_a_bearer_challenge(
        self, tracker: Tracker
    ) -> None:
        for path in job_paths(tracker.settings):
            response = await tracker.client.get(path)

            assert response.status == 401, path
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert await error_of(response) == "Authentication required"

    async def test_the_health_probe_needs_none(self, tracker: Tracker) -> None:
        assert (await tracker.client.get("/api/v1/health")).status == 200


class TestKeys:
    async def test_a_member_key_reads_its_jobs(self, tracker: Tracker) -> None:
        key = await tracker.add_key("acme")

        response = await tracker.client.get(HISTORY, headers=bearer(key))

        assert response.status == 200

    async def test_a_revoked_key_is_refused(self, tracker: Tracker) -> None:
        key = await tracker.add_key("acme")
        await tracker.revoke_key(key)

        response = await tracker.client.get(HISTORY, headers=bearer(key))

        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert await error_of(response) == "Invalid API key"

    async def test_a_revoke_delivered_before_its_issue_still_refuses_the_key(
        self, tracker: Tracker
    ) -> None:
        events = key_events("acme")
        await tracker.deliver_key_event(events.revoked)
        await tracker.deliver_key_event(events.issued)

        response = await tracker.client.get(HISTORY, headers=bearer(events.key))

        assert response.status == 401

    async def test_a_key_todo_api_never_sent_is_refused(self, tracker: Tracker) -> None:
        unknown = ApiKey(key_id="zzzzzzzz", secret="s" * 43)

        response = await tracker.client.get(HISTORY, headers=bearer(unknown))

        assert response.status == 401


class TestJobsOverview:
    async def test_a_member_is_refused_with_403(self, tracker: Tracker) -> None:
        member = await tracker.add_key("acme", ("member",))

        response = await tracker.client.get(JOBS_OVERVIEW_PATH, headers=bearer(member))

        assert response.status == 403
        assert await error_of(response) == "This needs the operator role"

    async def test_an_operator_sees_every_tenants_jobs(self, tracker: Tracker) -> None:
        operator = await tracker.add_key("ops", ("member", "operator"))
        for tenant in ("acme", "globex"):
            await tracker.add_job(utcnow(), "FAILURE", tenant=tenant)

        response = await tracker.client.get(JOBS_OVERVIEW_PATH, headers=bearer(operator))

        assert response.status == 200
        body = await response.json()
        assert body["by_state"]["FAILURE"] == 2
        assert len(body["failures"]) == 2


async def test_with_oidc_issuer_set_a_token_of_it_shows_its_tenants_jobs(
    service_settings: Settings,
) -> None:
    async with running_issuer() as issuer:
        oidc = issuer.settings().model_dump(include=OIDC_SETTINGS)
        settings = requiring_credentials(service_settings).model_copy(update=oidc)
        async with running_tracker(settings, InMemoryBlobStore()) as tracker:
            mine = await tracker.add_job(utcnow(), tenant="acme")
            await tracker.add_job(utcnow(), tenant="globex")

            listed = await tracker.client.get(HISTORY, headers=bearer(issuer.token()))
            forged = await tracker.client.get(HISTORY, headers=bearer(foreign_token(issuer)))
            shown = [job["task_id"] for job in (await listed.json())["jobs"]]
            reason = await error_of(forged)

    assert shown == [str(mine)]
    assert (forged.status, reason) == (401, "Invalid token")


OIDC_SETTINGS = {
    "oidc_issuer",
    "oidc_audience",
    "oidc_jwks_url",
    "oidc_algorithms",
    "oidc_leeway_s",
}


def foreign_token(issuer: LocalIssuer) -> str:
    """A token with the issuer's claims, signed by a key it never published."""
    return issuer.token(key=new_rsa_key())
