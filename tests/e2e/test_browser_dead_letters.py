"""The dead letters panel of /ops in Chromium, on two stacks: `make run` (the embedded transport,
SQLite) and the three services as processes on PostgreSQL and an AWS endpoint (moto, or LocalStack
under `make test-localstack`). Two kinds of poison reach the job tracker's DLQ and show as two
groups; one message is inspected; one group is redriven at 5 messages a second and its jobs end
SUCCESS while the other group stays; the other group is discarded with a reason, which todo_api's
event log keeps.

The unreadable kind is dead-lettered by the tracker's own consumer: sent to its queue, it fails
every receive and, on the last one allowed, the consumer moves it to the DLQ with why. No setting
of the product makes the tracker fail a readable event and lets a fixed setting heal it (a
dependency away holds the message in place, and the worker ends a job FAILURE on its last
receive), so the other kind is planted as a tracker release that failed every CalendarReady
would have dead-lettered it, its failure recorded by hand.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
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
from shared.messaging.provisioning import bootstrap
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.e2e.conftest import process_settings, running_embedded, running_processes
from tests.support.chromium import screenshot, watched_page
from tests.support.environment import schema_for_processes
from tests.support.factories import calendar_ready
from tests.support.polling import eventually
from tests.support.processes import service_env
from tests.support.threads import in_a_thread

with contextlib.suppress(ImportError):
    from playwright.sync_api import Browser, Locator, Page, expect

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

# the LocalStack run (make test-localstack) is for the AWS endpoint only
STACKS = ["processes"] if os.environ.get("TEST_AWS_ENDPOINT_URL") else ["embedded", "processes"]
JOBS = 10
JUNK = 3
# receives of a message before its consumer gives up on it, as the process stack has it
MAX_RECEIVES = 3
# three receives within a few seconds (the consumer's backoff), with slack for a slow host
DEAD_LETTERED_TIMEOUT_S = 30
# ten messages at five a second: two batches, a second apart
REDRIVE_TIMEOUT_MS = 20_000
JOB_TIMEOUT_S = 30
REASON = "load-test junk, not a real client's"
UNREADABLE = "unreadable: Invalid JSON: expected value at line 1 column 1"


@dataclass(frozen=True)
class OpsStack:
    """A running stack as this test uses it: todo_api's URL, the settings that reach its broker,
    and those that reach todo_api's database."""

    url: str
    broker: Settings
    todo_api_database: Settings
    # the page's picture: the README's (docs/ops-dead-letters.png) is `make run`'s, whose names
    # have no prefix
    screenshot: str

    @property
    def names(self) -> Names:
        return Names(self.broker.resource_prefix)

    @property
    def dlq(self) -> str:
        return self.names.dlq(JOB_TRACKER)


@pytest.fixture(params=STACKS)
def ops_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpsStack]:
    """`make run`, or the three services as processes on PostgreSQL and the AWS endpoint under
    test; either gives up on a message on its third receive."""
    if request.param == "embedded":
        # the process stack's receive limit and short backoff, so the tracker gives up soon
        with running_embedded(
            tmp_path_factory,
            SQS_MAX_RECEIVE_COUNT=str(MAX_RECEIVES),
            SQS_VISIBILITY_TIMEOUT_S="5",
        ) as embedded:
            broker = Settings(transport="embedded", var_dir=embedded.var_dir)
            todo_api = broker.with_embedded_database("todo_api")
            yield OpsStack(embedded.url, broker, todo_api, "ops-dead-letters.png")
        return
    # the session's moto server, or LocalStack: no async fixture, Playwright owns the loop
    endpoint = request.getfixturevalue("moto_url")
    folder = tmp_path_factory.mktemp("processes")
    with schema_for_processes() as schema:
        base = process_settings(schema, folder)
        settings = base.model_copy(update={"transport": "aws", "aws_endpoint_url": endpoint})
        assert settings.sqs_max_receive_count == MAX_RECEIVES
        in_a_thread(bootstrap(settings))
        with running_processes(service_env(settings), settings, folder) as stack:
            yield OpsStack(stack.base_url, settings, settings, "ops-dead-letters-processes.png")


@pytest.fixture
def page(browser: Browser, ops_stack: OpsStack) -> Iterator[Page]:
    context = browser.new_context(base_url=ops_stack.url, viewport={"width": 1200, "height": 1000})
    with watched_page(context, ops_stack.url) as opened:
        yield opened


def ready_event(task_id: UUID) -> Envelope:
    """The worker's outcome of a job, as the tracker receives it."""
    return wrap(
        calendar_ready(task_id),
        stream_id=render_stream_id(task_id),
        stream_version=1,
        correlation_id=task_id,
        origin=ANONYMOUS_ORIGIN,
    )


async def send(sqs: Any, queue: str, entries: list[tuple[str, dict[str, Any]]]) -> None:
    """Send messages (body, attributes) to a queue, ten at a time."""
    url = (await sqs.get_queue_url(QueueName=queue))["QueueUrl"]
    for start in range(0, len(entries), 10):
        batch = [
            {"Id": str(n), "MessageBody": body, "MessageAttributes": attributes}
            for n, (body, attributes) in enumerate(entries[start : start + 10])
        ]
        sent = await sqs.send_message_batch(QueueUrl=url, Entries=batch)
        assert not sent.get("Failed"), sent


async def held_by(sqs: Any, queue: str) -> tuple[int, int]:
    """A queue's messages: waiting, and held by a consumer."""
    url = (await sqs.get_queue_url(QueueName=queue))["QueueUrl"]
    wanted = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=wanted)
    waiting, in_flight = (int(found["Attributes"][name]) for name in wanted)
    return waiting, in_flight


def two_kinds_dead_lettered(stack: OpsStack) -> list[UUID]:
    """Unreadable junk sent to the tracker's queue, which its consumer dead-letters itself, and
    CalendarReady events planted in its DLQ as a release that failed them would have; the task
    ids of the latter, once all are in the DLQ."""
    task_ids = [issue_task_id(Settings().task_secret, ANONYMOUS_TENANT) for _ in range(JOBS)]
    typed = {"type": {"DataType": "String", "StringValue": "CalendarReady"}}
    failed = failure_attributes("RuntimeError", utcnow(), MAX_RECEIVES)
    ready = [(ready_event(task).to_json(), {**typed, **failed}) for task in task_ids]

    async def dead_letter() -> None:
        async with transport_client(stack.broker, "sqs") as sqs:
            junk: list[tuple[str, dict[str, Any]]] = [(f"junk {n}", {}) for n in range(JUNK)]
            await send(sqs, stack.names.queue(JOB_TRACKER), junk)
            await send(sqs, stack.dlq, ready)

            async def all_there() -> bool:
                # and gone from the tracker's queue: the consumer deletes what it moved in the
                # background, after the DLQ took it
                moved = await held_by(sqs, stack.dlq) == (JOBS + JUNK, 0)
                return moved and await held_by(sqs, stack.names.queue(JOB_TRACKER)) == (0, 0)

            await eventually(all_there, DEAD_LETTERED_TIMEOUT_S, interval_s=0.25)

    in_a_thread(dead_letter())
    return task_ids


def discards_in_the_log(stack: OpsStack) -> list[DeadLetterDiscarded]:
    async def read() -> list[DeadLetterDiscarded]:
        engine = create_engine(stack.todo_api_database)
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
        self, page: Page, ops_stack: OpsStack
    ) -> None:
        task_ids = two_kinds_dead_lettered(ops_stack)
        dlq = ops_stack.dlq

        page.goto("/ops")

        ready, junk = group_row(page, "CalendarReady"), group_row(page, "?")
        expect(count_of(ready)).to_have_text(str(JOBS))
        expect(count_of(junk)).to_have_text(str(JUNK))
        expect(ready).to_contain_text("RuntimeError")
        # what the tracker's consumer said when it gave up on the junk
        expect(junk).to_contain_text(UNREADABLE)

        # any message of the group: here the last one
        messages = ready.get_by_label("Message", exact=True)
        last = messages.locator("option").last.get_attribute("value")
        assert last is not None
        messages.select_option(last)
        ready.get_by_role("button", name="Inspect").click()
        expect(page.locator("#dead-letter-id")).to_have_text(last)
        detail = page.locator("#dead-letter-json")
        expect(detail).to_contain_text('"failure": "RuntimeError"')
        expect(detail).to_contain_text(f'"receive_count": {MAX_RECEIVES}')
        expect(detail).to_contain_text('"type": "CalendarReady"')
        screenshot(page, ops_stack.screenshot)
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
            f"Discarded {JUNK} messages from {dlq}"
        )
        expect(junk).to_have_count(0)
        expect(page.locator("#dead-letters-empty")).to_be_visible()
        expect(page.locator("#discards tbody tr")).to_have_count(JUNK)
        expect(page.locator("#discards tbody tr").first).to_contain_text(REASON)
        expect(page.get_by_role("alert")).to_be_empty()
        logged = discards_in_the_log(ops_stack)
        assert sorted(event.body for event in logged) == [f"junk {n}" for n in range(JUNK)]
        assert {event.reason for event in logged} == {REASON}
        assert {event.queue for event in logged} == {dlq}
