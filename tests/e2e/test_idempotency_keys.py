"""A calendar request retried with its Idempotency-Key through the whole pipeline, on the
embedded transport and on SNS/SQS: one job, rendered once, the same answer each time."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api_client import ApiClient

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack


async def test_retries_of_a_keyed_request_make_one_job_that_finishes_once(api: ApiClient) -> None:
    await api.create_todo(title="Project Proposal", deadline_at="2030-04-03T14:00:00")

    answers = await asyncio.gather(*(api.request_calendar("proposal-ical") for _ in range(3)))
    final = await api.wait_until_finished(answers[0]["task_url"])
    retried = await api.request_calendar("proposal-ical")

    assert len({answer["task_id"] for answer in [*answers, retried]}) == 1
    assert final["task_status"] == "SUCCESS", final
    # the retry after success neither starts nor changes a job
    _, status = await api.status(retried["task_url"])
    assert (status["task_status"], status["result_url"]) == ("SUCCESS", final["result_url"])
