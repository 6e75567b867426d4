"""The operations page at /ops, in Chromium against the embedded stack (`make run`): a job that
just finished, a dead letter planted in a DLQ, the page keeping up on its own, and what it says
when its figures cannot be had."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.chromium import screenshot, watched_page
from tests.support.processes import EmbeddedStack

# without Playwright, chromium() reports it: a failure in CI, a skip elsewhere
with contextlib.suppress(ImportError):
    from playwright.sync_api import Browser, Locator, Page, Route, expect

JOB_TIMEOUT_S = 30
# the page asks every 5 s; one missed refresh is still in time
REFRESH_TIMEOUT_MS = 12_000
DLQ = Names("").dlq(JOB_TRACKER)


@pytest.fixture
def page(browser: Browser, embedded_stack: EmbeddedStack) -> Iterator[Page]:
    """A fresh browser context; no request may leave loopback, no script may fail."""
    base_url = embedded_stack.url
    context = browser.new_context(
        base_url=base_url,
        timezone_id="Australia/Brisbane",
        locale="en-AU",
        viewport={"width": 1000, "height": 900},
    )
    with watched_page(context, base_url) as opened:
        yield opened


def plant_dead_letter(stack: EmbeddedStack, body: str) -> None:
    """Send a message straight to the tracker's DLQ, in the transport file the stack uses."""

    async def send() -> None:
        settings = Settings(transport="embedded", var_dir=stack.var_dir)
        async with transport_client(settings, "sqs") as sqs:
            url = (await sqs.get_queue_url(QueueName=DLQ))["QueueUrl"]
            await sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": body}])

    # Playwright's sync API owns this thread's event loop
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, send()).result()


def finished_job(page: Page) -> str:
    """Request a calendar and wait for its SUCCESS; its task id."""
    accepted = page.request.post("/api/v1/todos/ical")
    assert accepted.status == 202, accepted.text()
    task_id: str = accepted.json()["task_id"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status = page.request.get(f"/api/v1/todos/ical/{task_id}/status").json()
        if status["task_status"] == "SUCCESS":
            return task_id
        time.sleep(0.05)
    raise AssertionError(f"job {task_id} did not finish: {status}")


def open_page(page: Page) -> None:
    page.goto("/ops")
    expect(page.locator("#updated")).to_contain_text("Updated")


def service_row(page: Page, name: str) -> Locator:
    return page.locator(f'#services tr[data-service="{name}"]')


def queue_row(page: Page, name: str) -> Locator:
    return page.locator(f'#queues tr[data-queue="{name}"]')


def job_row(page: Page, task_id: str) -> Locator:
    return page.locator(f'#recent-jobs tr[data-task-id="{task_id}"]')


class TestTheOperationsPage:
    def test_shows_a_job_that_just_finished_and_a_planted_dead_letter(
        self, page: Page, embedded_stack: EmbeddedStack
    ) -> None:
        plant_dead_letter(embedded_stack, "not an event")
        task_id = finished_job(page)

        open_page(page)

        for service in ("todo_api", "job_tracker", "calendar_worker"):
            expect(service_row(page, service)).to_have_attribute("data-status", "ready")
            expect(service_row(page, service)).to_contain_text("database: ok, broker: ok")
        expect(job_row(page, task_id)).to_contain_text("SUCCESS")
        expect(page.locator('#job-states [data-state="SUCCESS"] strong')).not_to_have_text("0")
        dead_letters = queue_row(page, DLQ)
        expect(dead_letters.locator("td").nth(1)).to_have_text("1")
        expect(dead_letters).to_have_class("attention")
        expect(queue_row(page, Names("").queue(JOB_TRACKER)).locator("td").nth(1)).to_have_text("0")
        # one finished job makes at least one bar of the chart stand above the axis
        heights = page.locator("#chart-svg rect.bar-ok").evaluate_all(
            "bars => bars.map(bar => Number(bar.getAttribute('height')))"
        )
        assert len(heights) == 60
        assert max(heights) > 0
        expect(page.locator("#chart-summary")).to_contain_text("jobs/s")
        expect(page.get_by_role("alert")).to_be_empty()
        screenshot(page, "ops-page.png")

    def test_keeps_up_on_its_own(self, page: Page) -> None:
        open_page(page)
        task_id = finished_job(page)

        expect(job_row(page, task_id)).to_contain_text("SUCCESS", timeout=REFRESH_TIMEOUT_MS)

    def test_pausing_stops_the_updates_until_resumed(self, page: Page) -> None:
        open_page(page)
        pause = page.get_by_role("button", name="Pause updates")
        pause.click()
        expect(page.get_by_role("button", name="Resume updates")).to_have_attribute(
            "aria-pressed", "true"
        )
        task_id = finished_job(page)
        page.wait_for_timeout(6000)
        expect(job_row(page, task_id)).to_have_count(0)

        page.get_by_role("button", name="Resume updates").click()

        expect(job_row(page, task_id)).to_contain_text("SUCCESS")


class TestWhenFiguresAreMissing:
    def test_an_answer_that_is_not_the_report_is_said_in_words_and_the_last_figures_stay(
        self, page: Page
    ) -> None:
        open_page(page)
        refused = {"error": "Service temporarily unavailable, try again shortly"}
        page.route("**/api/v1/ops", lambda route: route.fulfill(status=503, json=refused))

        refresh_now(page)

        expect(page.get_by_role("alert")).to_contain_text(
            "could not be loaded (Service temporarily unavailable, try again shortly)"
        )
        expect(page.locator("#services tbody tr")).to_have_count(3)

    def test_a_service_away_and_unknown_jobs_are_shown_as_such(self, page: Page) -> None:
        report = page.request.get("/api/v1/ops").json()
        degraded = copy.deepcopy(report)
        worker = next(s for s in degraded["services"] if s["service"] == "calendar_worker")
        worker.update(
            status="not ready",
            checks={},
            outbox_backlog=None,
            error="unreachable: ClientConnectorError",
        )
        degraded["jobs"] = None
        degraded["jobs_error"] = "job tracker unreachable: no answer within 3 s"

        def answer(route: Route) -> None:
            route.fulfill(json=degraded)

        page.route("**/api/v1/ops", answer)
        open_page(page)

        worker_row = service_row(page, "calendar_worker")
        expect(worker_row).to_have_attribute("data-status", "not ready")
        expect(worker_row).to_contain_text("unreachable: ClientConnectorError")
        expect(page.locator("#jobs-error")).to_have_text(
            "Job figures unknown: job tracker unreachable: no answer within 3 s"
        )
        expect(page.locator("#recent-empty")).to_contain_text("Unknown")
        expect(page.get_by_role("alert")).to_be_empty()


def refresh_now(page: Page) -> None:
    """Pause and resume: the page asks at once instead of at its next turn."""
    page.get_by_role("button", name="Pause updates").click()
    page.get_by_role("button", name="Resume updates").click()
