"""`make run` on the embedded transport (TRANSPORT=embedded): no AWS emulator on the event path.

The practical's calendar session runs to SUCCESS through the SQLite transport and the file blob
store, and the operator tools read the same transport file from another process.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import aiohttp
import icalendar
import pytest

from services.calendar_worker.rendering import calendar_blob_key
from shared.aws.clients import aws_client
from shared.aws.demo_queues import DEMO_QUEUE_NAMES
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.contracts.topology import Names
from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.processes import ROOT, EmbeddedStack, Service


@pytest.fixture
async def api(embedded_stack: EmbeddedStack) -> AsyncIterator[ApiClient]:
    """The embedded stack's HTTP API, in place of conftest's (the three-process stack's)."""
    async with aiohttp.ClientSession() as session:
        yield ApiClient(session, embedded_stack.url)


async def replay(var_dir: Path, *argv: str) -> tuple[int, str]:
    env = {**os.environ, "TRANSPORT": "embedded", "VAR_DIR": str(var_dir)}
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "scripts.replay", *argv],
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return await process.wait(), out.decode()


class TestEmbeddedTransport:
    async def test_the_practicals_calendar_session_succeeds(
        self, api: ApiClient, embedded_stack: EmbeddedStack
    ) -> None:
        await api.create_todo(title="Project Proposal", deadline_at="2023-04-03T14:00:00")
        await api.create_todo(title="No deadline, no description")
        accepted = await api.request_calendar()

        final = await api.wait_until_finished(accepted["task_url"])
        code, content_type, body, _ = await api.result(final["result_url"])

        assert final["task_status"] == "SUCCESS", final
        assert code == 200
        assert content_type == "text/calendar"
        calendar = icalendar.Calendar.from_ical(body)
        assert [str(event["SUMMARY"]) for event in calendar.walk("VEVENT")] == [
            "Project Proposal",
            "No deadline, no description",
        ]
        assert (embedded_stack.var_dir / "transport.db").is_file()
        assert any((embedded_stack.var_dir / "blobs").rglob("*.ics"))

    async def test_status_reads_the_queues_of_the_running_stack(
        self, api: ApiClient, embedded_stack: EmbeddedStack
    ) -> None:
        await api.create_todo(title="counted")
        final = await api.wait_until_finished((await api.request_calendar())["task_url"])

        status, out = await replay(embedded_stack.var_dir, "status", "--service", "job_tracker")

        assert final["task_status"] == "SUCCESS"
        assert status == 0, out
        assert "0 waiting" in out


async def test_make_run_on_an_aws_endpoint_keeps_every_queue_and_file_there(
    moto_url: str, tmp_path: Path
) -> None:
    """TRANSPORT=aws with AWS_ENDPOINT_URL (LocalStack, say): no emulator of its own is started."""
    settings = Settings(aws_endpoint_url=moto_url, resource_prefix=f"r{uuid.uuid4().hex[:8]}-")
    env = {
        "TRANSPORT": "aws",
        "AWS_ENDPOINT_URL": moto_url,
        "RESOURCE_PREFIX": settings.resource_prefix,
        "VAR_DIR": str(tmp_path),
        "SQS_WAIT_TIME_S": "1",
    }
    service = Service("embedded", env, tmp_path / "embedded.log")
    service.start()
    try:
        await asyncio.to_thread(service.wait_healthy)
        async with aiohttp.ClientSession() as session:
            api = ApiClient(session, service.url)
            await api.create_todo(title="On the endpoint")
            final = await api.wait_until_finished((await api.request_calendar())["task_url"])
    finally:
        exit_code = service.terminate()

    assert (final["task_status"], exit_code) == ("SUCCESS", 0), service.log()
    async with aws_client(settings, "s3") as s3, aws_client(settings, "sqs") as sqs:
        stored = await s3.list_objects_v2(Bucket=Names(settings.resource_prefix).bucket)
        demo = [await sqs.get_queue_url(QueueName=name) for name in DEMO_QUEUE_NAMES]
    assert [entry["Key"] for entry in stored["Contents"]] == [
        calendar_blob_key(ANONYMOUS_TENANT, UUID(final["task_id"]))
    ]
    assert len(demo) == len(DEMO_QUEUE_NAMES)
    assert not (tmp_path / "transport.db").exists()
