"""A calendar's result expires: past RESULT_TTL_DAYS, or once its file is gone from the blob store,
the result route answers 410 and the status says `"expired": true` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from shared.aws.blobs import InMemoryBlobStore, S3BlobStore
from shared.aws.clients import aws_client
from shared.clock import utcnow
from shared.settings import Settings
from tests.support.tracker_jobs import CALENDAR, Tracker, running_tracker

EXPIRED = {"error": "Task result expired"}
TTL_DAYS = 7


@pytest.fixture
async def tracker(service_settings: Settings) -> AsyncIterator[Tracker]:
    settings = service_settings.model_copy(update={"result_ttl_days": TTL_DAYS})
    async with running_tracker(settings, InMemoryBlobStore()) as running:
        yield running


@pytest.fixture
async def s3_tracker(service_settings: Settings) -> AsyncIterator[Tracker]:
    """The tracker on S3 (moto), as deployed."""
    async with running_tracker(service_settings) as running:
        yield running


async def status_of(tracker: Tracker, task_id: UUID) -> dict[str, Any]:
    response = await tracker.client.get(f"/api/v1/todos/ical/{task_id}/status")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def result_of(tracker: Tracker, task_id: UUID) -> tuple[int, str, bytes]:
    response = await tracker.client.get(f"/api/v1/todos/ical/{task_id}/result")
    return response.status, response.content_type, await response.read()


def days_ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


class TestPastTheSetting:
    async def test_a_calendar_older_than_the_setting_is_gone_and_its_status_says_so(
        self, tracker: Tracker
    ) -> None:
        old = await tracker.add_job(days_ago(TTL_DAYS + 1), finished_at=days_ago(TTL_DAYS + 0.01))

        code, content_type, body = await result_of(tracker, old)
        status = await status_of(tracker, old)

        # the file is still in the store: the age alone decides, as the lifecycle rule does
        assert (code, content_type) == (410, "application/json")
        assert json.loads(body) == EXPIRED
        assert status["task_status"] == "SUCCESS"
        assert status["expired"] is True

    async def test_a_calendar_younger_than_the_setting_is_served_with_the_three_keys(
        self, tracker: Tracker
    ) -> None:
        recent = await tracker.add_job(days_ago(TTL_DAYS), finished_at=days_ago(TTL_DAYS - 0.01))

        code, content_type, body = await result_of(tracker, recent)
        status = await status_of(tracker, recent)

        assert (code, content_type, body) == (200, "text/calendar", CALENDAR)
        assert set(status) == {"task_id", "task_status", "result_url"}

    async def test_the_age_counts_from_the_outcome_not_the_request(self, tracker: Tracker) -> None:
        # requested long ago, finished (stored) yesterday: kept
        late = await tracker.add_job(days_ago(TTL_DAYS * 3), finished_at=days_ago(1))

        assert (await result_of(tracker, late))[0] == 200

    async def test_a_failed_job_never_expires_and_stays_not_finished(
        self, tracker: Tracker
    ) -> None:
        failed = await tracker.add_job(days_ago(30), "FAILURE")

        code, _, body = await result_of(tracker, failed)
        status = await status_of(tracker, failed)

        assert (code, json.loads(body)) == (404, {"error": "Task not finished"})
        assert "expired" not in status

    async def test_result_expiry_s_counts_in_seconds_instead_of_the_days(
        self, service_settings: Settings
    ) -> None:
        # the embedded folder deletes the file after the same setting (and a minute)
        settings = service_settings.model_copy(
            update={"result_ttl_days": TTL_DAYS, "result_expiry_s": 60}
        )
        async with running_tracker(settings, InMemoryBlobStore()) as tracker:
            asked = utcnow() - timedelta(minutes=2)
            old = await tracker.add_job(asked, finished_at=asked + timedelta(seconds=59))
            recent = await tracker.add_job(asked, finished_at=asked + timedelta(seconds=90))

            assert (await result_of(tracker, old))[0] == 410
            assert (await result_of(tracker, recent))[0] == 200


class TestFileGone:
    async def test_a_deleted_file_answers_410_and_the_status_says_expired_from_then_on(
        self, s3_tracker: Tracker
    ) -> None:
        task_id = await s3_tracker.add_job(utcnow())
        assert (await result_of(s3_tracker, task_id))[0] == 200
        blobs = s3_tracker.blobs
        assert isinstance(blobs, S3BlobStore)
        async with aws_client(s3_tracker.settings, "s3") as s3:
            await s3.delete_object(Bucket=blobs.bucket, Key=f"calendars/{task_id}.ics")

        code, content_type, body = await result_of(s3_tracker, task_id)
        again = await result_of(s3_tracker, task_id)
        status = await status_of(s3_tracker, task_id)

        assert (code, content_type) == (410, "application/json")
        assert json.loads(body) == EXPIRED
        assert again[0] == 410
        assert (status["task_status"], status["expired"]) == ("SUCCESS", True)

    async def test_a_file_that_is_back_is_served_again_and_no_longer_expired(
        self, tracker: Tracker
    ) -> None:
        task_id = await tracker.add_job(utcnow(), stored=False)
        assert (await result_of(tracker, task_id))[0] == 410
        assert (await status_of(tracker, task_id))["expired"] is True

        await tracker.blobs.put(f"calendars/{task_id}.ics", CALENDAR, "text/calendar")

        assert await result_of(tracker, task_id) == (200, "text/calendar", CALENDAR)
        assert "expired" not in await status_of(tracker, task_id)
