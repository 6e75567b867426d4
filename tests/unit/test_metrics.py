"""The pure parts of the metrics: bounded labels, consumer outcomes, gauges read at scrape time."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared.metrics import UNMATCHED_ROUTE, Metrics, Samples, method_label, route_label


async def ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


Labels = tuple[tuple[str, str], ...]


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of an exposition, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def metrics_text(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


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

        found = samples(metrics_text(metrics))
        labels = (("consumer", "calendar-worker"),)
        assert found["consumer_messages_failed_total", labels] == 2
        assert found["consumer_messages_dead_lettered_total", labels] == 1

    def test_the_age_of_a_message_is_from_its_sent_timestamp(self) -> None:
        metrics = Metrics()
        consumer = metrics.consumer("job-tracker")
        sent_ms = int((time.time() - 3.0) * 1000)
        consumer.received_message(str(sent_ms))
        # a message without the attribute, or with a broken one, is received but not aged
        consumer.received_message(None)
        consumer.received_message("yesterday")

        found = samples(metrics_text(metrics))
        labels = (("consumer", "job-tracker"),)
        assert found["consumer_messages_received_total", labels] == 3
        assert found["consumer_message_age_seconds_count", labels] == 1
        assert 3.0 <= found["consumer_message_age_seconds_sum", labels] < 10.0

    def test_each_consumer_has_its_own_series(self) -> None:
        metrics = Metrics()
        metrics.consumer("a").handled.inc()
        metrics.consumer("b").handled.inc(2)

        found = samples(metrics_text(metrics))
        assert found["consumer_messages_handled_total", (("consumer", "a"),)] == 1
        assert found["consumer_messages_handled_total", (("consumer", "b"),)] == 2


class TestReadAtScrape:
    async def test_gives_what_the_read_returned_at_this_scrape(self) -> None:
        metrics, backlog = Metrics(), [3.0]

        async def read() -> Samples:
            return {(): backlog[0]}

        metrics.read_at_scrape("outbox_backlog_events", "Events waiting", [], read)
        first = samples((await metrics.exposition()).decode())
        backlog[0] = 0.0
        second = samples((await metrics.exposition()).decode())

        assert first["outbox_backlog_events", ()] == 3
        assert second["outbox_backlog_events", ()] == 0

    async def test_leaves_a_failed_read_out_instead_of_repeating_its_last_value(self) -> None:
        metrics, fail = Metrics(), [False]

        async def read() -> Samples:
            if fail[0]:
                raise ConnectionRefusedError("database away")
            return {("SUCCESS",): 1.0}

        metrics.read_at_scrape("calendar_jobs", "Jobs by state", ["state"], read)
        assert ("calendar_jobs", (("state", "SUCCESS"),)) in samples(
            (await metrics.exposition()).decode()
        )
        fail[0] = True
        after = samples((await metrics.exposition()).decode())

        assert not [key for key in after if key[0] == "calendar_jobs"]
        # the rest of the scrape is still there
        assert any(key[0].startswith("process_") for key in after)

    async def test_a_slow_read_does_not_hold_up_the_scrape(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("shared.metrics.SCRAPE_READ_TIMEOUT_S", 0.05)
        metrics = Metrics()

        async def read() -> Samples:
            await asyncio.sleep(10)
            return {}

        metrics.read_at_scrape("calendar_jobs", "Jobs by state", ["state"], read)
        started = time.monotonic()
        text = (await metrics.exposition()).decode()

        assert time.monotonic() - started < 1.0
        assert "calendar_jobs{" not in text


def test_two_apps_keep_separate_counts() -> None:
    first, second = Metrics(), Metrics()
    first.renders.rendered(todos=3, size_bytes=100, seconds=0.01)

    assert samples(metrics_text(first))["calendar_renders_total", ()] == 1
    assert ("calendar_renders_total", ()) not in samples(metrics_text(second))
