"""The job history, GET /api/v1/todos/ical: newest request first, filtered by state, paged by a
cursor that jobs arriving meanwhile cannot shift (SQLite and PostgreSQL); on todo_api's port it is
answered in process or forwarded to the tracker, with the same answers."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.job_tracker import views as tracker_views
from services.job_tracker.in_flight import jobs_in_flight
from services.job_tracker.job_events import job_events
from services.job_tracker.ops_views import overview_of
from services.todo_api.app import create_app as create_todo_api
from services.todo_api.in_process_tracker import InProcessTracker
from shared.aws.blobs import InMemoryBlobStore
from shared.clock import utcnow
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.settings import Settings
from tests.support.factories import calendar_ready
from tests.support.tracker_jobs import CALENDAR, Client, Tracker, running_tracker

HISTORY = "/api/v1/todos/ical"
# yesterday, to the second: well within RESULT_TTL_DAYS
START = utcnow().replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
async def tracker(service_settings: Settings) -> AsyncIterator[Tracker]:
    async with running_tracker(service_settings, InMemoryBlobStore()) as running:
        yield running


def minutes(count: float) -> datetime:
    return START + timedelta(minutes=count)


async def page(client: Client, **params: Any) -> dict[str, Any]:
    response = await client.get(HISTORY, params={k: str(v) for k, v in params.items()})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [job["task_id"] for job in body["jobs"]]


async def every_page(client: Client, **params: Any) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        body = await page(client, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(ids(body))
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


class TestOrderAndFields:
    async def test_lists_jobs_newest_request_first_with_what_each_came_to(
        self, tracker: Tracker
    ) -> None:
        succeeded = await tracker.add_job(minutes(0), finished_at=minutes(0.5), todo_count=3)
        failed = await tracker.add_job(minutes(1), "FAILURE", finished_at=minutes(2))
        running = await tracker.add_job(minutes(2), "STARTED")

        body = await page(tracker.client)

        assert ids(body) == [str(running), str(failed), str(succeeded)]
        assert body["next_cursor"] is None
        newest, middle, oldest = body["jobs"]
        base = str(tracker.client.make_url(""))
        assert oldest == {
            "task_id": str(succeeded),
            "task_status": "SUCCESS",
            "requested_at": minutes(0).isoformat(),
            "finished_at": minutes(0.5).isoformat(),
            "todo_count": 3,
            "size_bytes": len(CALENDAR),
            "error": None,
            "result_url": f"{base}/api/v1/todos/ical/{succeeded}/result",
            "expired": False,
        }
        assert (middle["task_status"], middle["error"], middle["result_url"]) == (
            "FAILURE",
            "the snapshot was lost",
            None,
        )
        assert middle["finished_at"] == minutes(2).isoformat()
        assert (newest["task_status"], newest["finished_at"], newest["size_bytes"]) == (
            "STARTED",
            None,
            None,
        )

    async def test_an_old_calendar_is_listed_as_expired_without_a_link(
        self, tracker: Tracker
    ) -> None:
        await tracker.add_job(datetime(2024, 4, 17, 14, 0))

        [job] = (await page(tracker.client))["jobs"]

        assert (job["task_status"], job["expired"], job["result_url"]) == ("SUCCESS", True, None)

    async def test_a_job_whose_request_was_not_seen_yet_is_left_out(self, tracker: Tracker) -> None:
        listed = await tracker.add_job(minutes(0))
        early = issue_task_id(tracker.settings.task_secret, ANONYMOUS_TENANT)
        await tracker.record(calendar_ready(early), minutes(1))

        assert ids(await page(tracker.client)) == [str(listed)]


class TestStateFilter:
    async def test_lists_only_jobs_in_the_state_asked_for(self, tracker: Tracker) -> None:
        first = await tracker.add_job(minutes(0))
        await tracker.add_job(minutes(1), "FAILURE")
        second = await tracker.add_job(minutes(2))
        await tracker.add_job(minutes(3), "PENDING")

        assert ids(await page(tracker.client, state="SUCCESS")) == [str(second), str(first)]
        assert len((await page(tracker.client, state="FAILURE"))["jobs"]) == 1
        assert (await page(tracker.client, state="RETRY"))["jobs"] == []

    async def test_the_filter_pages_like_the_whole_list(self, tracker: Tracker) -> None:
        wanted = [await tracker.add_job(minutes(2 * n), "FAILURE") for n in range(5)]
        for n in range(5):
            await tracker.add_job(minutes(2 * n + 1))

        pages = await every_page(tracker.client, state="FAILURE", limit=2)

        assert pages == [
            [str(wanted[4]), str(wanted[3])],
            [str(wanted[2]), str(wanted[1])],
            [str(wanted[0])],
        ]


class TestCursor:
    async def test_page_two_continues_where_page_one_ended_while_new_jobs_arrive(
        self, tracker: Tracker
    ) -> None:
        before = [await tracker.add_job(minutes(n)) for n in range(7)]
        newest_first = [str(task_id) for task_id in reversed(before)]

        first = await page(tracker.client, limit=3)
        # jobs submitted meanwhile: requested after all of them
        arrivals = [await tracker.add_job(minutes(10 + n)) for n in range(3)]
        second = await page(tracker.client, limit=3, cursor=first["next_cursor"])
        third = await page(tracker.client, limit=3, cursor=second["next_cursor"])

        assert ids(first) == newest_first[:3]
        assert ids(second) == newest_first[3:6]
        assert ids(third) == newest_first[6:]
        assert third["next_cursor"] is None
        shown = ids(first) + ids(second) + ids(third)
        assert len(shown) == len(set(shown))
        assert not {str(task_id) for task_id in arrivals} & set(ids(second) + ids(third))
        # a fresh first page shows the arrivals on top
        assert ids(await page(tracker.client, limit=3)) == [
            str(task_id) for task_id in reversed(arrivals[:3])
        ]

    async def test_jobs_requested_at_the_same_moment_are_each_listed_once(
        self, tracker: Tracker
    ) -> None:
        same_time = {str(await tracker.add_job(minutes(0))) for _ in range(7)}

        pages = await every_page(tracker.client, limit=2)

        shown = [task_id for listed in pages for task_id in listed]
        assert [len(listed) for listed in pages] == [2, 2, 2, 1]
        assert sorted(shown) == sorted(same_time)

    async def test_the_default_page_is_twenty_jobs_and_a_full_last_page_has_no_cursor(
        self, tracker: Tracker
    ) -> None:
        for n in range(21):
            await tracker.add_job(minutes(n))

        first = await page(tracker.client)
        last = await page(tracker.client, cursor=first["next_cursor"])
        exact = await page(tracker.client, limit=21)

        assert (len(first["jobs"]), len(last["jobs"]), last["next_cursor"]) == (20, 1, None)
        assert (len(exact["jobs"]), exact["next_cursor"]) == (21, None)


class TestBadParameters:
    @pytest.mark.parametrize(
        ("query", "reason"),
        [
            ("state=success", "state must be one of"),
            ("state=", "state must be one of"),
            ("limit=0", "limit must be a whole number between 1 and 100"),
            ("limit=101", "limit must be a whole number between 1 and 100"),
            ("limit=-1", "limit must be a whole number between 1 and 100"),
            ("limit=2.5", "limit must be a whole number between 1 and 100"),
            ("limit=ten", "limit must be a whole number between 1 and 100"),
            ("cursor=", "cursor is not one this API gave out"),
            ("cursor=not-a-cursor", "cursor is not one this API gave out"),
            ("cursor=%F0%9F%92%A5", "cursor is not one this API gave out"),
            # base64 of "2030-03-01T09:00:00+10:00|<uuid>": a zone the column cannot compare
            (
                "cursor=MjAzMC0wMy0wMVQwOTowMDowMCsxMDowMHw3ZjAxYzY3Yi0xZTFiLTRiMmQtOTg3Ni0wMDEyMzQ1Njc4OWE",
                "cursor is not one this API gave out",
            ),
            ("cursor=" + "A" * 500, "cursor is not one this API gave out"),
        ],
    )
    async def test_a_bad_parameter_is_a_400_that_names_it(
        self, tracker: Tracker, query: str, reason: str
    ) -> None:
        response = await tracker.client.get(f"{HISTORY}?{query}")

        assert response.status == 400
        assert response.content_type == "application/json"
        body = await response.json()
        assert list(body) == ["error"]
        assert body["error"].startswith(reason)


class TestOnTheApisPort:
    @pytest.mark.parametrize("answered", ["in process", "forwarded"])
    async def test_the_public_base_url_answers_as_the_tracker_does(
        self, tracker: Tracker, service_settings: Settings, answered: str
    ) -> None:
        task_ids = [await tracker.add_job(utcnow() - timedelta(minutes=n)) for n in range(3)]
        await tracker.add_job(utcnow(), "FAILURE")
        if answered == "in process":
            app = create_todo_api(
                service_settings.model_copy(update={"job_tracker_url": None}),
                tracker=_local(tracker),
            )
        else:
            tracker_url = str(tracker.client.make_url(""))
            app = create_todo_api(
                service_settings.model_copy(update={"job_tracker_url": tracker_url})
            )

        async with TestClient(TestServer(app)) as api:
            first = await page(api, limit=2, state="SUCCESS")
            second = await page(api, limit=2, state="SUCCESS", cursor=first["next_cursor"])
            refused = await api.get(f"{HISTORY}?limit=500")
            reason = (await refused.json())["error"]
            base = str(api.make_url(""))

        assert ids(first) + ids(second) == [str(task_id) for task_id in task_ids]
        # links are built for the public host, not the tracker's
        assert first["jobs"][0]["result_url"] == f"{base}/api/v1/todos/ical/{task_ids[0]}/result"
        assert refused.status == 400
        assert reason.startswith("limit must be")


def _local(tracker: Tracker) -> InProcessTracker:
    app = tracker.client.app
    return InProcessTracker(
        status_view=functools.partial(tracker_views.job_status, app),
        result_view=functools.partial(tracker_views.job_result, app),
        events_view=functools.partial(job_events, app),
        history_view=functools.partial(tracker_views.job_history, app),
        in_flight_view=functools.partial(jobs_in_flight, app),
        overview_of=functools.partial(overview_of, app),
    )
