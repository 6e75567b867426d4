"""The dead letters panel of /ops in Chromium against the embedded stack (`make run`): two kinds
of poison planted in the job tracker's DLQ show as two groups; one message is inspected; one
group is redriven at 5 messages a second and its jobs end SUCCESS while the other group stays;
the other group is discarded with a reason, which todo_api's event log keeps."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

import pytest

from shared.clock import utcnow
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import DeadLetterDiscarded
from shared.contracts.streams import render_stream_id
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN, ANONYMOUS_TENANT
from shared.contracts.topology import JOB_TRACKER, Names
from shared.eventstore.database import create_engine
from shared.messaging.dead_letters.failures import failure_attributes
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.chromium import screenshot, watched_page
from tests.support.factories import calendar_ready
from tests.support.processes import EmbeddedStack

with contextlib.suppress(ImportError):
    from playwright.sync_api import Browser, Locator, Page, expect

T = TypeVar("T")
DLQ = Names("").dlq(JOB_TRACKER)
JOBS = 10
JUNK = 3
# ten messages at five a second: two batches, a second apart
REDRIVE_TIMEOUT_MS = 20_000
JOB_TIMEOUT_S = 30
REASON = "load-test junk, not a real client's"


@pytest.fixture
def page(browser: Browser, embedded_stack: EmbeddedStack) -> Iterator[Page]:
    context = browser.new_context(
        base_url=embedded_stack.url, viewport={"width": 1200, "height": 1000}
    )
    with watched_page(context, embedded_stack.url) as opened:
        yield opened


def in_a_thread(work: Coroutine[Any, Any, T]) -> T:
    # Playwright's sync API owns this thread's event loop
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result()


def ready_event(task_id: UUID) -> Envelope:
    """The worker's outcome of a job, as the tracker receives it."""
    return wrap(
        calendar_ready(task_id),
        stream_id=render_stream_id(task_id),
        stream_version=1,
        correlation_id=task_id,
        origin=ANONYMOUS_ORIGIN,
    )


def plant(stack: EmbeddedStack, entries: list[tuple[str, dict[str, Any]]]) -> None:
    """Put messages (body, attributes) straight into the tracker's DLQ, as its consumer would."""

    async def send() -> None:
        settings = Settings(transport="embedded", var_dir=stack.var_dir)
        async with transport_client(settings, "sqs") as sqs:
            url = (await sqs.get_queue_url(QueueName=DLQ))["QueueUrl"]
            for start in range(0, len(entries), 10):
                batch = [
                    {"Id": str(n), "MessageBody": body, "MessageAttributes": attributes}
                    for n, (body, attributes) in enumerate(entries[start : start + 10])
                ]
                sent = await sqs.send_message_batch(QueueUrl=url, Entries=batch)
                assert not sent.get("Failed"), sent

    in_a_thread(send())


def plant_two_kinds(stack: EmbeddedStack) -> list[UUID]:
    """A tracker release that failed every CalendarReady, and unreadable junk; the task ids."""
    task_ids = [issue_task_id(Settings().task_secret, ANONYMOUS_TENANT) for _ in range(JOBS)]
    typed = {"type": {"DataType": "String", "StringValue": "CalendarReady"}}
    failed = failure_attributes("RuntimeError", utcnow(), 5)
    unreadable = failure_attributes("unreadable: Invalid JSON", utcnow(), 5)
    plant(stack, [(ready_event(task).to_json(), {**typed, **failed}) for task in task_ids])
    plant(stack, [(f"junk {n}", unreadable) for n in range(JUNK)])
    return task_ids


def discards_in_the_log(stack: EmbeddedStack) -> list[DeadLetterDiscarded]:
    async def read() -> list[DeadLetterDiscarded]:
        settings = Settings(var_dir=stack.var_dir).with_embedded_database("todo_api")
        engine = create_engine(settings)
        try:
            async with engine.connect() as conn:
                rows = await conn.exec_driver_sql(
                    "SELECT body FROM todo_api_events WHERE type = 'DeadLetterDiscarded'"
                )
                found = [Envelope.from_json(body).data for (body,) in rows.all()]
        finally:
            await engine.dispose()
        return [event for event in found if isinstance(event, DeadLetterDiscarded)]

    return in_a_thread(read())


def group_row(page: Page, event_type: str) -> Locator:
    return page.locator(f'#dead-letter-groups tr[data-event-type="{event_type}"]')


def count_of(row: Locator) -> Locator:
    return row.locator("td.count")


def wait_for_success(page: Page, task_ids: list[UUID]) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    waiting = set(task_ids)
    while waiting and time.monotonic() < deadline:
        for task_id in list(waiting):
            status = page.request.get(f"/api/v1/todos/ical/{task_id}/status")
            if status.ok and status.json()["task_status"] == "SUCCESS":
                waiting.discard(task_id)
        time.sleep(0.1)
    assert not waiting, f"{len(waiting)} jobs did not end SUCCESS"


class TestTheDeadLettersPanel:
    def test_two_groups_one_inspected_redriven_at_a_rate_the_other_discarded_with_a_reason(
        self, page: Page, embedded_stack: EmbeddedStack
    ) -> None:
        task_ids = plant_two_kinds(embedded_stack)

        page.goto("/ops")

        ready, junk = group_row(page, "CalendarReady"), group_row(page, "?")
        expect(count_of(ready)).to_have_text(str(JOBS))
        expect(count_of(junk)).to_have_text(str(JUNK))
        expect(ready).to_contain_text("RuntimeError")
        expect(junk).to_contain_text("unreadable: Invalid JSON")

        # any message of the group: here the last one
        messages = ready.get_by_label("Message", exact=True)
        last = messages.locator("option").last.get_attribute("value")
        assert last is not None
        messages.select_option(last)
        ready.get_by_role("button", name="Inspect").click()
        expect(page.locator("#dead-letter-id")).to_have_text(last)
        detail = page.locator("#dead-letter-json")
        expect(detail).to_contain_text('"failure": "RuntimeError"')
        expect(detail).to_contain_text('"receive_count": 5')
        expect(detail).to_contain_text('"type": "CalendarReady"')
        screenshot(page, "ops-dead-letters.png")
        page.get_by_role("button", name="Close").click()

        # the cause (a tracker release that failed CalendarReady) is gone: this stack's tracker
        # folds them; move the group back at 5 messages a second
        ready.get_by_label("Rate (messages/s)").fill("5")
        ready.get_by_role("button", name="Redrive").click()
        redrive = page.locator("#redrives li").first
        expect(redrive).to_have_attribute("data-state", "finished", timeout=REDRIVE_TIMEOUT_MS)
        expect(redrive).to_contain_text(f"{JOBS} of {JOBS} moved, done")
        bar = redrive.locator("progress")
        assert bar.evaluate("bar => [bar.value, bar.max]") == [JOBS, JOBS]

        wait_for_success(page, task_ids)
        expect(ready).to_have_count(0)
        expect(count_of(junk)).to_have_text(str(JUNK))

        junk.get_by_label("Reason").fill(REASON)
        junk.get_by_role("button", name="Discard").click()

        expect(page.locator("#dead-letters-status")).to_contain_text(
            f"Discarded {JUNK} messages from {DLQ}"
        )
        expect(junk).to_have_count(0)
        expect(page.locator("#dead-letters-empty")).to_be_visible()
        expect(page.locator("#discards tbody tr")).to_have_count(JUNK)
        expect(page.locator("#discards tbody tr").first).to_contain_text(REASON)
        expect(page.get_by_role("alert")).to_be_empty()
        logged = discards_in_the_log(embedded_stack)
        assert sorted(event.body for event in logged) == [f"junk {n}" for n in range(JUNK)]
        assert {event.reason for event in logged} == {REASON}
        assert {event.queue for event in logged} == {DLQ}
