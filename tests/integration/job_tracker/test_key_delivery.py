"""API keys reach the job tracker from todo_api over SNS/SQS (moto in server mode; SQLite and
PostgreSQL): a key issued in todo_api works at the tracker, and one revoked there is refused at
the tracker soon after the revoke's commit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.job_tracker.app import create_app as create_tracker
from services.todo_api.app import create_app as create_todo_api
from services.todo_api.app_keys import key_book_key
from services.todo_api.key_book import KeyBook, Revocation
from shared.app.app_keys import Adapters
from shared.auth.api_keys import ApiKey
from shared.aws.blobs import InMemoryBlobStore
from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.auth import bearer, requiring_credentials
from tests.support.polling import eventually
from tests.support.tracker_jobs import Client

HISTORY = "/api/v1/todos/ical"
# a revoke is refused at the tracker within this long of its commit; its usual time (under a
# second on an idle queue) is a benchmark's figure: here its hops (relay, SNS, the tracker's long
# poll) share a host that may stall for seconds
REVOCATION_S = 15.0
# how often the tracker is asked meanwhile
POLL_S = 0.01
# how long a new key may take to arrive, the services' start included
DELIVERY_S = 10.0


@dataclass
class Services:
    keys: KeyBook
    tracker: Client


@pytest.fixture
async def services(database: Settings, aws_settings: Settings) -> AsyncIterator[Services]:
    """todo_api and the tracker on one database, the tracker consuming its queue on moto; a
    short long-poll, so that the tracker stops promptly at the end."""
    aws = aws_settings.model_dump(include={"aws_endpoint_url", "resource_prefix"})
    settings = requiring_credentials(database).model_copy(update={**aws, "sqs_wait_time_s": 1})
    await bootstrap(settings)
    tracker_app = create_tracker(settings, adapters=Adapters(blobs=InMemoryBlobStore()))
    async with (
        TestClient(TestServer(create_todo_api(settings))) as api,
        TestClient(TestServer(tracker_app)) as tracker,
    ):
        yield Services(api.app[key_book_key], tracker)


async def accepted(tracker: Client, key: ApiKey) -> bool:
    return (await tracker.get(HISTORY, headers=bearer(key))).status == 200


async def test_a_key_issued_in_todo_api_works_at_the_tracker(services: Services) -> None:
    key = await services.keys.issue(
        tenant="acme", roles=["member"], label="export", issued_by="operator:test"
    )

    await eventually(lambda: accepted(services.tracker, key), DELIVERY_S, POLL_S)


async def test_a_key_revoked_in_todo_api_fails_at_the_tracker_soon_after(
    services: Services,
) -> None:
    key = await services.keys.issue(
        tenant="acme", roles=["member"], label="export", issued_by="operator:test"
    )
    await eventually(lambda: accepted(services.tracker, key), DELIVERY_S, POLL_S)

    revocation = await services.keys.revoke(key.key_id, revoked_by="operator:test")
    # revoke returns once its transaction has committed
    committed = time.monotonic()

    async def refused() -> bool:
        return not await accepted(services.tracker, key)

    await eventually(refused, REVOCATION_S, POLL_S)
    assert revocation is Revocation.REVOKED
    assert time.monotonic() - committed < REVOCATION_S
