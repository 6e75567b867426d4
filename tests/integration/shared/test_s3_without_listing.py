"""A role that may read objects but not list the bucket is told 403 AccessDenied for a missing
key: the blob store reads it as missing, so a result whose file is gone answers 410 and a lost
claim-checked snapshot fails its job at once, as with S3's 404 (moto behind a denying proxy)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from botocore.exceptions import ClientError

from services.calendar_worker.handlers import WorkerPorts, build_calendar
from services.calendar_worker.records import SqlRenderBook
from services.calendar_worker.tables import SCHEMA as WORKER_SCHEMA
from shared.aws.blobs import BlobNotFoundError, BlobStore, S3BlobStore
from shared.aws.clients import aws_client
from shared.clock import utcnow
from shared.contracts.topology import Names
from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.factories import calendar_envelope, calendar_requested, delivery, task_of
from tests.support.s3_without_listing import DenyingProxy, s3_without_list_permission
from tests.support.stores import service_store
from tests.support.tracker_jobs import running_tracker


@pytest.fixture
async def proxy(moto_url: str) -> AsyncIterator[DenyingProxy]:
    async with s3_without_list_permission(moto_url) as running:
        yield running


@pytest.fixture
async def denied_settings(aws_settings: Settings, proxy: DenyingProxy) -> Settings:
    """A bucket on moto, reached through the proxy."""
    await bootstrap(aws_settings)
    return aws_settings.model_copy(update={"aws_endpoint_url": proxy.url})


@pytest.fixture
async def blobs(denied_settings: Settings) -> AsyncIterator[BlobStore]:
    async with aws_client(denied_settings, "s3") as s3:
        yield S3BlobStore(s3, Names(denied_settings.resource_prefix).bucket)


class TestTheEndpoint:
    async def test_a_missing_key_is_access_denied_to_get_and_to_head(
        self, denied_settings: Settings, proxy: DenyingProxy
    ) -> None:
        bucket = Names(denied_settings.resource_prefix).bucket
        async with aws_client(denied_settings, "s3") as s3:
            with pytest.raises(ClientError) as got:
                await s3.get_object(Bucket=bucket, Key="calendars/none.ics")
            with pytest.raises(ClientError) as headed:
                await s3.head_object(Bucket=bucket, Key="calendars/none.ics")

        assert got.value.response["Error"]["Code"] == "AccessDenied"
        assert headed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert proxy.denied == 2


class TestTheBlobStore:
    async def test_a_denied_missing_key_is_not_found_and_a_stored_one_is_read(
        self, blobs: BlobStore, proxy: DenyingProxy
    ) -> None:
        await blobs.put("calendars/there.ics", b"BEGIN:VCALENDAR", "text/calendar")

        assert await blobs.get("calendars/there.ics") == b"BEGIN:VCALENDAR"
        with pytest.raises(BlobNotFoundError):
            await blobs.get("calendars/none.ics")
        with pytest.raises(BlobNotFoundError):
            [chunk async for chunk in blobs.stream("snapshots/none.json")]
        assert proxy.denied == 2


class TestTheResult:
    async def test_a_success_whose_file_is_gone_answers_410(
        self, service_settings: Settings, proxy: DenyingProxy
    ) -> None:
        denied = service_settings.model_copy(update={"aws_endpoint_url": proxy.url})
        async with running_tracker(denied) as tracker:
            task_id = await tracker.add_job(utcnow(), stored=False)

            response = await tracker.client.get(f"/api/v1/todos/ical/{task_id}/result")
            body = await response.read()
            status = await tracker.client.get(f"/api/v1/todos/ical/{task_id}/status")
            expired = (await status.json())["expired"]

        assert (response.status, response.content_type) == (410, "application/json")
        assert json.loads(body) == {"error": "Task result expired"}
        assert expired is True
        assert proxy.denied >= 1


class TestTheSnapshot:
    async def test_a_missing_snapshot_fails_the_job_at_its_first_receive(
        self, blobs: BlobStore, database: Settings, proxy: DenyingProxy
    ) -> None:
        envelope = calendar_envelope(
            calendar_requested(None, todo_count=5000, snapshot_key="snapshots/gone.json")
        )
        async with service_store(database, WORKER_SCHEMA) as store:
            ports = WorkerPorts(SqlRenderBook(store), blobs)

            await build_calendar(envelope, delivery(receive_count=1), ports)

            history = await ports.book.history(task_of(envelope))
        assert [event.type for event in history] == ["CalendarStarted", "CalendarFailed"]
        failed = history[-1].data
        assert getattr(failed, "reason", None) == "the calendar's snapshot of todos is missing"
        assert proxy.denied == 1
