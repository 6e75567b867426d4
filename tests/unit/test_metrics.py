"""The pure parts of the metrics: bounded labels, consumer outcomes, gauges read at scrape time."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from shared.observability.metrics import (
    UNMATCHED_ROUTE,
    Metrics,
    Samples,
    method_label,
    route_label,
)
from tests.support.scrapes import Scrape

# how long a slow read and its unwind take unless the test ends them: far beyond any host stall
READ_S = 10.0


async def ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def router() -> web.UrlDispatcher:
    app = web.Application()
    app.router.add_get("/api/v1/todos/{id}", ok)
    app.router.add_get("/api/v1/todos/ical/{task_id}/status", ok)
    app.router.add_static("/static", ".")
    return app.router


async def label_of(method: str, path: str) -> str:
    match_info = await router().resolve(make_mocked_request(method, path))
    return route_label(match_info)


class TestRouteLabel:
    @pytest.mark.parametrize(
        ("path", "label"),
        [
            ("/api/v1/todos/42", "/api/v1/todos/{id}"),
            ("/api/v1/todos/not-a-number", "/api/v1/todos/{id}"),
            (
                "/api/v1/todos/ical/0b9c3c5e-1f0e-8a4b-9d3e-6f1a2b3c4d5e/status",
                "/api/v1/todos/ical/{task_id}/status",
            ),
            ("/static/app.js", "/static"),
        ],
    )
    async def test_is_the_template_of_the_matched_route(self, path: str, label: str) -> None:
        assert await label_of("GET", path) == label

    @pytest.mark.parametrize(
        "path", ["/nope", "/api/v1/todos/1/2/3", "/metrics/../x", "/" + "a" * 500]
    )
    async def test_is_one_value_for_every_path_no_route_matches(self, path: str) -> None:
        assert await label_of("GET", path) == UNMATCHED_ROUTE

    async def test_is_one_value_for_a_method_the_route_does_not_allow(self) -> None:
        assert await label_of("DELETE", "/api/v1/todos/ical/x/status") == UNMATCHED_ROUTE


class TestMethodLabel:
    @pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
    def test_keeps_the_methods_of_http(self, method: str) -> None:
        assert method_label(method) == method

    @pytest.mark.parametrize("method", ["PROPFIND", "BREW", "get", "X" * 40])
    def test_folds_any_other_into_one_value(self, method: str) -> None:
        assert method_label(method) == "other"


class TestConsumerMetrics:
    def test_a_failure_on_the_last_receive_is_also_dead_lettered(self) -> None:
        metrics = Metrics()
        consumer = metrics.consumer("calendar-worker")
        consumer.failure(last_attempt=False)
        consumer.failure(last_attempt=True)

        found = Scrape.of(metrics)
        assert found.value("consumer_messages_failed_total", consumer="calendar-worker") == 2
        assert found.value("consumer_messages_dead_lettered_total", consumer="calendar-worker") == 1

    def test_the_age_of_a_message_is_from_its_sent_timestamp(self) -> None:
        metrics = Metrics()
        consumer = metrics.consumer("job-tracker")
        sent_ms = int((time.time() - 3.0) * 1000)
        consumer.received_message(str(sent_ms))
        # a message without the attribute, or with a broken one, is received but not aged
        consumer.received_message(None)
        consumer.received_message("yesterday")

        found = Scrape.of(metrics)
        assert found.value("consumer_messages_received_total", consumer="job-tracker") == 3
        assert found.value("consumer_message_age_seconds_count", consumer="job-tracker") == 1
        age_s = found.value("consumer_message_age_seconds_sum", consumer="job-tracker")
        assert age_s is not None
        assert 3.0 <= age_s < 10.0

    def test_each_consumer_has_its_own_series(self) -> None:
        metrics = Metrics()
        metrics.consumer("a").handled.inc()
        metrics.consumer("b").handled.inc(2)

        found = Scrape.of(metrics)
        assert found.value("consumer_messages_handled_total", consumer="a") == 1
        assert found.value("consumer_messages_handled_total", consumer="b") == 2


class TestReadAtScrape:
    async def test_gives_what_the_read_returned_at_this_scrape(self) -> None:
        metrics, backlog = Metrics(), [3.0]

        async def read() -> Samples:
            return {(): backlog[0]}

        metrics.read_at_scrape("outbox_backlog_events", "Events waiting", [], read)
        first = Scrape.parse((await metrics.exposition()).decode())
        backlog[0] = 0.0
        second = Scrape.parse((await metrics.exposition()).decode())

        assert first.value("outbox_backlog_events") == 3
        assert second.value("outbox_backlog_events") == 0

    async def test_leaves_a_failed_read_out_instead_of_repeating_its_last_value(self) -> None:
        metrics, fail = Metrics(), [False]

        async def read() -> Samples:
            if fail[0]:
                raise ConnectionRefusedError("database away")
            return {("SUCCESS",): 1.0}

        metrics.read_at_scrape("calendar_jobs", "Jobs by state", ["state"], read)
        before = Scrape.parse((await metrics.exposition()).decode())
        fail[0] = True
        after = Scrape.parse((await metrics.exposition()).decode())

        assert before.value("calendar_jobs", state="SUCCESS") == 1
        assert "calendar_jobs" not in after.names()
        # the rest of the scrape is still there
        assert "process_cpu_seconds_total" in after.names()

    async def test_a_slow_read_does_not_hold_up_the_scrape(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("shared.observability.metrics.SCRAPE_READ_TIMEOUT_S", 0.05)
        metrics = Metrics()
        let_unwind, unwound = asyncio.Event(), asyncio.Event()
        # a scrape that waited for the read or its unwind answers only once this lets it end
        asyncio.get_running_loop().call_later(READ_S, let_unwind.set)

        async def read() -> Samples:
            try:
                await asyncio.sleep(READ_S)
            finally:
                # like a database connection closing itself after a cancel
                await asyncio.shield(let_unwind.wait())
                unwound.set()
            return {}

        metrics.read_at_scrape("calendar_jobs", "Jobs by state", ["state"], read)
        started = time.monotonic()
        text = (await metrics.exposition()).decode()
        answered_s = time.monotonic() - started

        assert not unwound.is_set()
        assert answered_s < READ_S / 2
        assert "calendar_jobs{" not in text
        let_unwind.set()
        await asyncio.wait_for(unwound.wait(), READ_S)


def test_two_apps_keep_separate_counts() -> None:
    first, second = Metrics(), Metrics()
    first.renders.rendered(todos=3, size_bytes=100, seconds=0.01)

    assert Scrape.of(first).value("calendar_renders_total") == 1
    # a service shows only the groups it uses
    assert "calendar_renders_total" not in Scrape.of(second).names()
