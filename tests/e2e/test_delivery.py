"""At-least-once delivery end to end: duplicated bursts and jobs that can never succeed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.contracts.envelope import Envelope
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.contracts.topology import Names
from shared.messaging.publisher import Outgoing, SnsPublisher, outgoing_batches
from shared.messaging.transports import transport_client
from tests.support.api_client import ApiClient
from tests.support.environment import POSTGRES_URL
from tests.support.factories import calendar_envelope, calendar_requested, todo_snapshot
from tests.support.processes import Service, Stack

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack


def calendar_request(stack: Stack, **fields: Any) -> Envelope:
    task_id = issue_task_id(stack.settings.task_secret, ANONYMOUS_TENANT)
    todos = (todo_snapshot(1, title="Duplicated"),)
    fields = {"todos": todos, "todo_count": 1, **fields}
    return calendar_envelope(calendar_requested(task_id=task_id, **fields))


async def publish(stack: Stack, envelope: Envelope, times: int) -> None:
    """The same event published `times` times, in batches, as a relay publishes."""
    body = envelope.to_json()
    copies = [Outgoing(position=n, type=envelope.type, body=body) for n in range(times)]
    async with transport_client(stack.settings, "sns") as sns:
        publisher = SnsPublisher(sns, Names(stack.settings.resource_prefix).topic)
        for batch in outgoing_batches(copies):
            assert await publisher.publish(batch) == {}


async def count_rows(schema: str, table: str, where: str, argument: str) -> int:
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        # table and column names come from this test module, never from input
        query = f'SELECT count(*) FROM "{schema}".{table} WHERE {where} = $1'
        return int(await conn.fetchval(query, argument))
    finally:
        await conn.close()


async def test_a_request_delivered_ten_times_to_two_workers_has_one_effect(
    stack: Stack, stack_env: dict[str, str], api: ApiClient, tmp_path: Path
) -> None:
    second = Service("services.calendar_worker", stack_env, tmp_path / "worker-2.log")
    second.start()
    try:
        second.wait_healthy()
        envelope = calendar_request(stack)
        task_id = str(envelope.correlation_id)
        await publish(stack, envelope, times=10)

        final = await api.wait_until_finished(
            f"{stack.base_url}/api/v1/todos/ical/{task_id}/status"
        )
        # give any straggling duplicate time to be handled (and ignored)
        await asyncio.sleep(2)
    finally:
        assert second.terminate() == 0
    schema = stack_env["DATABASE_SCHEMA"]
    ready = "type = 'CalendarReady' AND correlation_id"
    assert final["task_status"] == "SUCCESS"
    assert await count_rows(schema, "calendar_worker_events", ready, task_id) == 1
    assert await count_rows(schema, "job_tracker_events", ready, task_id) == 1
    assert await count_rows(schema, "job_tracker_jobs", "task_id", task_id) == 1


async def test_a_request_that_can_never_succeed_ends_in_failure_with_a_reason(
    stack: Stack, api: ApiClient
) -> None:
    envelope = calendar_request(stack, todos=None, snapshot_key="snapshots/missing.json")
    await publish(stack, envelope, times=1)

    final = await api.wait_until_finished(
        f"{stack.base_url}/api/v1/todos/ical/{envelope.correlation_id}/status"
    )
    code, _, _, _ = await api.result(final["result_url"])

    assert final["task_status"] == "FAILURE"
    assert final["error"] == "the calendar's snapshot of todos is missing"
    assert code == 404
