"""The calendars of the page at GET /, driven in Chromium through Playwright against the embedded
stack (and, for a calendar job that waits, against the API and job tracker with no calendar
worker): the recent calendars, cancelling one, a large one's progress, subscribing to the feed.

Without Playwright or Chromium these tests skip on a laptop and fail in CI (CI=true).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from embedded.transport.clients import provision_embedded
from shared.settings import Settings
from tests.support.browser import (
    CALENDAR_TIMEOUT_MS,
    api_create,
    browser_page,
    is_calendar_post,
    is_event_stream,
    is_status_request,
    open_page,
    refuse_event_streams,
    vevents,
)
from tests.support.chromium import screenshot
from tests.support.processes import EmbeddedStack, Service

# without Playwright, chromium() reports it: a failure in CI, a skip elsewhere
with contextlib.suppress(ImportError):
    from playwright.sync_api import Browser, Locator, Page, Route, expect

# recent calendars the page shows at a time (HISTORY_PAGE in app.js)
HISTORY_PAGE = 10
# the longest the page waits between two status requests (POLL_MAX_MS in app.js)
POLL_MAX_MS = 3000
# how long a test waits for the page's next status request or what it shows: many polls, so a
# stalled host does not make a page that polls look like one that stopped
FOLLOW_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def stack_without_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """todo_api and job_tracker as processes on the embedded transport, and no calendar worker:
    every calendar job waits (PENDING) until it is cancelled. Yields the API's URL."""
    var_dir = tmp_path_factory.mktemp("without-worker")
    settings = Settings(transport="embedded", var_dir=var_dir)
    # Playwright's sync API owns this thread's event loop
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, provision_embedded(settings)).result()
    env = {"TRANSPORT": "embedded", "VAR_DIR": str(var_dir), "SQS_WAIT_TIME_S": "1"}

    def service(name: str, **extra: str) -> Service:
        database = f"sqlite+aiosqlite:///{var_dir / name}.db"
        module_env = {**env, "DATABASE_URL": database, **extra}
        return Service(f"services.{name}", module_env, var_dir / f"{name}.log")

    tracker = service("job_tracker")
    api = service("todo_api", JOB_TRACKER_URL=tracker.url)
    try:
        for started in (tracker, api):
            started.start()
            started.wait_healthy()
        yield api.url
    finally:
        codes = {
            started.module: started.terminate() for started in (api, tracker) if started.process
        }
    assert codes == dict.fromkeys(codes, 0), (
        f"unclean shutdown {codes}:\n{api.log()}\n{tracker.log()}"
    )


@pytest.fixture
def page_without_worker(browser: Browser, stack_without_worker: str) -> Iterator[Page]:
    """The page on the stack with no calendar worker, as `page` is on the embedded stack."""
    with browser_page(browser, stack_without_worker) as opened:
        yield opened


def finished_calendar(page: Page) -> str:
    """A calendar job of the current todos, asked for through the API and waited for."""
    accepted = page.request.post("/api/v1/todos/ical")
    assert accepted.status == 202, accepted.text()
    task_id: str = accepted.json()["task_id"]
    wait_for_job(page, task_id, "SUCCESS")
    return task_id


def wait_for_job(page: Page, task_id: str, task_status: str) -> None:
    """Until the API's status of the job is `task_status` (through the API, not the page)."""
    give_up_at = time.monotonic() + CALENDAR_TIMEOUT_MS / 1000
    while time.monotonic() < give_up_at:
        status = page.request.get(f"/api/v1/todos/ical/{task_id}/status").json()
        if status["task_status"] == task_status:
            return
        time.sleep(0.05)
    raise AssertionError(f"calendar {task_id} is not {task_status}: {status}")


def recent_calendars(page: Page) -> Locator:
    return page.locator("#history-list > li")


def all_jobs(page: Page) -> list[str]:
    """Every job's task id, newest first, as the API lists them."""
    found: list[str] = []
    cursor = ""
    while True:
        query = f"?limit=100&cursor={cursor}" if cursor else "?limit=100"
        body = page.request.get(f"/api/v1/todos/ical{query}").json()
        found += [job["task_id"] for job in body["jobs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def fake_job(task_status: str, **fields: Any) -> dict[str, Any]:
    return {
        "task_id": str(uuid.uuid4()),
        "task_status": task_status,
        "requested_at": "2030-05-06T04:00:00",
        "finished_at": "2030-05-06T04:00:01.250000",
        "todo_count": 2,
        "size_bytes": 1536,
        "error": None,
        "result_url": None,
        "expired": False,
        **fields,
    }


FAKE_JOBS = [
    fake_job("FAILURE", error="the todo snapshot was lost", size_bytes=None),
    fake_job("SUCCESS", expired=True),
    fake_job("SUCCESS", result_url="/api/v1/todos/ical/x/result"),
    fake_job("REVOKED", finished_at="2030-05-06T04:00:00.500000", size_bytes=None),
]


class TestRecentCalendars:
    def test_lists_calendars_newest_first_and_adds_a_job_the_page_starts(self, page: Page) -> None:
        api_create(page, title="In the calendar")
        older, newer = finished_calendar(page), finished_calendar(page)
        open_page(page)
        history = recent_calendars(page)
        expect(history.nth(0)).to_have_attribute("data-task-id", newer)
        expect(history.nth(1)).to_have_attribute("data-task-id", older)
        expect(history.nth(1)).to_contain_text("SUCCESS Requested")
        expect(history.nth(1)).to_contain_text("Ready · 1 todo · ")

        with page.expect_download() as download:
            history.nth(1).get_by_role(
                "link", name=re.compile(r"^Download \(\.ics\) of the calendar requested ")
            ).click()
        events = vevents(Path(download.value.path()).read_bytes())
        assert [str(event["SUMMARY"]) for event in events] == ["In the calendar"]

        with page.expect_response(
            lambda answer: answer.request.method == "POST" and answer.url.endswith("/ical")
        ) as posted:
            page.get_by_role("button", name="Generate calendar").click()
        started = posted.value.json()["task_id"]
        # listed once it finished, without a reload
        expect(history.nth(0)).to_have_attribute(
            "data-task-id", started, timeout=CALENDAR_TIMEOUT_MS
        )
        expect(history.nth(0)).to_have_attribute("data-state", "SUCCESS")
        expect(history.nth(1)).to_have_attribute("data-task-id", newer)
        expect(page.get_by_role("alert")).to_be_empty()
        screenshot(page, "web-page-recent-calendars.png")

    def test_older_calendars_load_from_the_keyboard_each_once(self, page: Page) -> None:
        for _ in range(HISTORY_PAGE + 1):
            finished_calendar(page)
        total = len(all_jobs(page))
        open_page(page)
        history = recent_calendars(page)
        expect(history).to_have_count(HISTORY_PAGE)

        more = page.get_by_role("button", name="Show older calendars")
        more.focus()
        page.keyboard.press("Enter")

        expect(history).to_have_count(min(total, 2 * HISTORY_PAGE))
        # reading goes on from the first calendar added
        expect(history.nth(HISTORY_PAGE)).to_be_focused()
        while more.is_visible():
            more.click()
            page.wait_for_function(
                "document.querySelector('#history-list').getAttribute('aria-busy') === 'false'"
            )
        shown = [item.get_attribute("data-task-id") for item in history.all()]
        assert shown == all_jobs(page)
        assert len(set(shown)) == len(shown)

    def test_says_which_calendars_failed_why_expired_or_were_cancelled(self, page: Page) -> None:
        def answer(route: Route) -> None:
            route.fulfill(status=200, json={"jobs": FAKE_JOBS, "next_cursor": None})

        page.route(re.compile(r"/api/v1/todos/ical(\?.*)?$"), answer)
        open_page(page)
        history = recent_calendars(page)
        expect(history).to_have_count(len(FAKE_JOBS))

        expect(history.nth(0)).to_contain_text("Failed: The todo snapshot was lost.")
        expect(history.nth(1)).to_contain_text("Expired: the file is no longer kept.")
        expect(history.nth(2)).to_contain_text("Ready · 2 todos · 1.5 KB")
        expect(history.nth(3)).to_contain_text("REVOKED Requested")
        expect(history.nth(3)).to_contain_text("Cancelled · 2 todos · finished")
        expect(page.locator("#history-list").get_by_role("link")).to_have_count(1)
        expect(page.get_by_role("button", name="Show older calendars")).to_be_hidden()


def wait_until_listed(page: Page, task_id: str) -> None:
    """Until the job tracker lists the job among the recent calendars."""
    give_up_at = time.monotonic() + CALENDAR_TIMEOUT_MS / 1000
    while task_id not in all_jobs(page):
        assert time.monotonic() < give_up_at, f"calendar {task_id} is not listed"
        time.sleep(0.05)


def status_answer(route: Route, task_status: str, **fields: Any) -> None:
    """Answer the page's status request for its job with `task_status`, as the API would."""
    task_id = route.request.url.split("/")[-2]
    result_url = route.request.url.removesuffix("/status") + "/result"
    body = {"task_id": task_id, "task_status": task_status, "result_url": result_url, **fields}
    route.fulfill(status=200, json=body)


class TestCancellingACalendar:
    def test_cancels_a_waiting_calendar_from_the_keyboard_and_stops_following_it(
        self, page_without_worker: Page
    ) -> None:
        page = page_without_worker
        refuse_event_streams(page)
        api_create(page, title="Not wanted after all")
        open_page(page)
        status_requests: list[str] = []
        page.on(
            "request",
            lambda request: (
                status_requests.append(request.url) if request.url.endswith("/status") else None
            ),
        )
        generate = page.get_by_role("button", name="Generate calendar")
        generate.focus()
        with page.expect_response(lambda answer: is_calendar_post(answer.request)) as posted:
            page.keyboard.press("Enter")
        task_id = posted.value.json()["task_id"]
        status = page.locator("#calendar-status")
        expect(status).to_have_attribute("data-state", "PENDING")
        expect(status).to_contain_text("Status: Waiting for a worker")
        # the status of a job the tracker has not heard of yet is PENDING too: the list is not
        wait_until_listed(page, task_id)

        cancel = page.get_by_role("button", name="Cancel this calendar")
        expect(cancel).to_have_text("Cancel")
        # next to the status in the keyboard's order too
        page.keyboard.press("Tab")
        expect(cancel).to_be_focused()
        with page.expect_response(lambda answer: answer.request.method == "DELETE") as cancelled:
            page.keyboard.press("Enter")

        # no worker has decided the cancel yet: the API says so, and so does the page
        assert cancelled.value.url.endswith(f"/api/v1/todos/ical/{task_id}")
        assert (cancelled.value.status, cancelled.value.json()["task_status"]) == (202, "PENDING")
        expect(status).to_have_attribute("data-state", "PENDING")
        expect(status).to_contain_text("Cancel requested: it stops as soon as a worker sees it")
        expect(cancel).to_be_hidden()
        # the focus goes back to the calendar's button, busy while the job is followed
        expect(page.locator("#calendar-button")).to_be_focused()
        expect(page.locator("#calendar-button")).to_have_text("Generating…")
        # and the page goes on following the job, to show how it ends
        page.wait_for_event(
            "request",
            lambda request: bool(request.url.endswith("/status")),
            timeout=FOLLOW_TIMEOUT_MS,
        )
        wait_for_job(page, task_id, "PENDING")

        # once a worker has revoked it, the status says so, and the page stops following it
        page.route("**/status", lambda route: status_answer(route, "REVOKED"))
        expect(status).to_have_attribute("data-state", "REVOKED", timeout=FOLLOW_TIMEOUT_MS)
        expect(status).to_contain_text("Status: Cancelled REVOKED")
        expect(status).to_contain_text("It was cancelled; no file was made.")
        expect(page.get_by_role("link", name="Download the calendar (.ics)")).to_be_hidden()
        expect(generate).not_to_have_attribute("aria-disabled", "true")
        expect(generate).to_be_focused()
        expect(recent_calendars(page).nth(0)).to_have_attribute("data-task-id", task_id)
        expect(page.get_by_role("alert")).to_be_empty()
        screenshot(page, "web-page-calendar-cancelled.png")
        asked = len(status_requests)
        # longer than the page ever waits between two status requests: it asked for none
        page.wait_for_timeout(POLL_MAX_MS + 500)
        assert len(status_requests) == asked, status_requests[asked:]

    @pytest.mark.parametrize(
        "status_first", [False, True], ids=["cancel-answered-first", "status-answered-first"]
    )
    def test_a_calendar_that_finished_first_is_shown_ready_with_why_it_was_not_cancelled(
        self, page: Page, status_first: bool
    ) -> None:
        released = False
        held: list[Route] = []

        def status(route: Route) -> None:
            # the page sees the job waiting until it asks to cancel it; the API has finished it
            if released:
                route.continue_()
            else:
                status_answer(route, "PENDING")

        def cancel(route: Route) -> None:
            nonlocal released
            released = True
            if status_first:
                held.append(route)
            else:
                route.continue_()

        refuse_event_streams(page)
        api_create(page, title="Rendered at once")
        open_page(page)
        page.route("**/api/v1/todos/ical/*/status", status)
        page.route(re.compile(r"/api/v1/todos/ical/[^/?]+$"), cancel)
        with page.expect_response(lambda answer: is_calendar_post(answer.request)) as posted:
            page.get_by_role("button", name="Generate calendar").click()
        status_region = page.locator("#calendar-status")
        expect(status_region).to_have_attribute("data-state", "PENDING")
        wait_for_job(page, posted.value.json()["task_id"], "SUCCESS")

        with page.expect_response(lambda answer: answer.request.method == "DELETE") as refused:
            page.get_by_role("button", name="Cancel this calendar").click()
            if status_first:
                # the page's next status request shows the job finished before the cancel's 409
                expect(status_region).to_have_attribute(
                    "data-state", "SUCCESS", timeout=POLL_MAX_MS * 2
                )
                held[0].fulfill(response=held[0].fetch())

        assert (refused.value.status, refused.value.json()) == (
            409,
            {"error": "Task already finished"},
        )
        expect(status_region).to_have_attribute("data-state", "SUCCESS")
        expect(status_region).to_contain_text(
            "It had already finished, so it was not cancelled. Your calendar file is ready."
        )
        expect(page.get_by_role("link", name="Download the calendar (.ics)")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel this calendar")).to_be_hidden()
        expect(page.get_by_role("button", name="Generate calendar")).to_be_focused()
        expect(page.get_by_role("alert")).to_be_empty()

    def test_a_cancel_that_the_render_beat_is_shown_with_the_file_and_why(self, page: Page) -> None:
        asked_to_cancel = False

        def status(route: Route) -> None:
            # waiting until the cancel is asked for; then the API's own answer: finished
            if asked_to_cancel:
                route.continue_()
            else:
                status_answer(route, "PENDING")

        def cancel(route: Route) -> None:
            # the cancel is recorded while the job is waiting, as the API answers it then
            nonlocal asked_to_cancel
            asked_to_cancel = True
            task_id = route.request.url.rsplit("/", 1)[-1]
            task_url = f"{route.request.url}/status"
            body = {"task_id": task_id, "task_status": "PENDING", "task_url": task_url}
            route.fulfill(status=202, json=body)

        refuse_event_streams(page)
        api_create(page, title="Rendered before the cancel arrived")
        open_page(page)
        page.route("**/api/v1/todos/ical/*/status", status)
        page.route(re.compile(r"/api/v1/todos/ical/[^/?]+$"), cancel)
        page.get_by_role("button", name="Generate calendar").click()
        status_region = page.locator("#calendar-status")
        expect(status_region).to_have_attribute("data-state", "PENDING")

        page.get_by_role("button", name="Cancel this calendar").click()

        expect(status_region).to_have_attribute("data-state", "SUCCESS", timeout=POLL_MAX_MS * 2)
        expect(status_region).to_contain_text(
            "It finished before the cancel reached it. Your calendar file is ready."
        )
        expect(page.get_by_role("link", name="Download the calendar (.ics)")).to_be_visible()
        expect(page.get_by_role("alert")).to_be_empty()

    def test_says_why_a_cancel_could_not_be_sent(self, page: Page) -> None:
        refuse_event_streams(page)
        api_create(page, title="Offline cancel")
        open_page(page)
        page.route("**/api/v1/todos/ical/*/status", lambda route: status_answer(route, "PENDING"))
        page.route(
            re.compile(r"/api/v1/todos/ical/[^/?]+$"),
            lambda route: route.abort("connectionrefused"),
        )
        page.get_by_role("button", name="Generate calendar").click()
        page.get_by_role("button", name="Cancel this calendar").click()
        expect(page.get_by_role("alert")).to_have_text(
            "Could not cancel the calendar. The TaskOverflow server could not be reached. "
            "Check your connection and try again."
        )
        # still followed, and still cancellable
        expect(page.locator("#calendar-status")).to_have_attribute("data-state", "PENDING")
        expect(page.get_by_role("button", name="Cancel this calendar")).to_be_visible()


class TestCalendarProgress:
    def test_shows_how_many_todos_a_large_calendar_has_written_while_it_renders(
        self, page: Page
    ) -> None:
        # the page's part: the API's progress is tested with the worker; here its answers are set
        stage = "waiting"

        def status(route: Route) -> None:
            if stage == "waiting":
                status_answer(route, "PENDING")
            elif stage == "rendering":
                status_answer(route, "STARTED", progress={"done": 1500, "total": 20000})
            elif stage == "retrying":
                status_answer(route, "RETRY")
            else:
                route.continue_()

        refuse_event_streams(page)
        api_create(page, title="One of many")
        open_page(page)
        page.route("**/api/v1/todos/ical/*/status", status)
        page.get_by_role("button", name="Generate calendar").click()
        status_region = page.locator("#calendar-status")
        bar = page.get_by_role("progressbar", name="Calendar progress")
        expect(status_region).to_have_attribute("data-state", "PENDING")
        expect(bar).to_be_hidden()

        stage = "rendering"
        expect(status_region).to_have_attribute("data-state", "STARTED", timeout=POLL_MAX_MS * 2)
        expect(bar).to_be_visible()
        expect(bar).to_have_attribute("max", "20000")
        expect(bar).to_have_attribute("aria-describedby", "calendar-progress-text")
        assert bar.evaluate("(element) => element.value") == 1500
        expect(page.locator("#calendar-progress-text")).to_have_text("1,500 of 20,000 todos")
        expect(page.get_by_role("button", name="Cancel this calendar")).to_be_visible()
        screenshot(page, "web-page-calendar-progress.png")

        stage = "retrying"
        expect(status_region).to_have_attribute("data-state", "RETRY", timeout=POLL_MAX_MS * 2)
        expect(bar).to_be_hidden()

        stage = "finished"
        expect(status_region).to_have_attribute("data-state", "SUCCESS", timeout=POLL_MAX_MS * 2)
        expect(bar).to_be_hidden()
        expect(page.get_by_role("button", name="Cancel this calendar")).to_be_hidden()


class TestFollowingACalendar:
    def test_follows_a_job_through_its_event_stream_to_success(self, page: Page) -> None:
        api_create(page, title="Watched, not polled")
        open_page(page)
        streams: list[str] = []
        polls: list[str] = []
        page.on(
            "request",
            lambda request: streams.append(request.url) if is_event_stream(request) else None,
        )
        page.on(
            "request",
            lambda request: polls.append(request.url) if is_status_request(request) else None,
        )

        with page.expect_response(lambda answer: is_calendar_post(answer.request)) as posted:
            page.get_by_role("button", name="Generate calendar").click()
        task_id = posted.value.json()["task_id"]
        status = page.locator("#calendar-status")

        expect(status).to_have_attribute("data-state", "SUCCESS", timeout=CALENDAR_TIMEOUT_MS)
        expect(status).to_contain_text("Your calendar file is ready.")
        download = page.get_by_role("link", name="Download the calendar (.ics)")
        expect(download).to_be_visible()
        expect(download).to_have_attribute(
            "href", re.compile(f"/api/v1/todos/ical/{task_id}/result$")
        )
        expect(page.get_by_role("alert")).to_be_empty()
        # followed through one stream, which the finished job ended; never by polling
        assert [url.split("/")[-2] for url in streams] == [task_id]
        assert polls == []

    def test_follows_by_polling_when_the_stream_is_refused(self, page: Page) -> None:
        refuse_event_streams(page)
        api_create(page, title="Polled after all")
        open_page(page)
        polls: list[str] = []
        page.on(
            "request",
            lambda request: polls.append(request.url) if is_status_request(request) else None,
        )

        page.get_by_role("button", name="Generate calendar").click()

        status = page.locator("#calendar-status")
        expect(status).to_have_attribute("data-state", "SUCCESS", timeout=CALENDAR_TIMEOUT_MS)
        expect(page.get_by_role("alert")).to_be_empty()
        assert polls


class TestSubscribing:
    def test_offers_the_todos_as_a_webcal_subscription_and_a_plain_address(
        self, page: Page, embedded_stack: EmbeddedStack
    ) -> None:
        api_create(page, title="In every calendar app")
        open_page(page)
        host = embedded_stack.url.removeprefix("http://")
        subscribe = page.get_by_role("link", name="Subscribe in your calendar app")
        expect(subscribe).to_have_attribute("href", f"webcal://{host}/api/v1/todos/calendar.ics")
        address = f"{embedded_stack.url}/api/v1/todos/calendar.ics"
        plain = page.get_by_role("link", name=address)
        expect(plain).to_have_attribute("href", address)
        expect(page.get_by_text("asks this address again from time to time")).to_be_visible()

        answer = page.request.get(plain.get_attribute("href") or "")
        assert answer.headers["content-type"].startswith("text/calendar")
        assert [str(event["SUMMARY"]) for event in vevents(answer.body())] == [
            "In every calendar app"
        ]
