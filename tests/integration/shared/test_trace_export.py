"""TRACES_EXPORTER picks where spans go: nowhere by default, the console, or an OTLP collector
over HTTP at OTEL_EXPORTER_OTLP_ENDPOINT (here a stand-in collector on loopback)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.observability import tracing
from shared.settings import Settings


class Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, int]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.rfile.read(length)
        Collector.received.append((self.path, self.headers["Content-Type"], length))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def back_to_not_exporting() -> Iterator[None]:
    yield
    tracing.stop_exporting()


def make_a_span() -> None:
    with tracing.span("a step"):
        pass


def test_by_default_nothing_is_exported() -> None:
    tracing.configure_tracing(Settings())

    assert not tracing.exporting()


def test_the_console_exporter_prints_each_span(capsys: pytest.CaptureFixture[str]) -> None:
    tracing.configure_tracing(Settings(traces_exporter="console", service_name="todo_api"))
    make_a_span()
    tracing.stop_exporting()

    printed = capsys.readouterr().out
    assert '"name": "a step"' in printed
    # a step outside any request or message belongs to the process's own service
    assert '"service.name": "todo_api"' in printed


def test_the_otlp_exporter_posts_spans_to_the_collector_s_traces_path(collector: str) -> None:
    settings = Settings(traces_exporter="otlp", otel_exporter_otlp_endpoint=collector + "/")
    tracing.configure_tracing(settings)
    make_a_span()
    tracing.stop_exporting()

    assert [(path, kind) for path, kind, _ in Collector.received] == [
        ("/v1/traces", "application/x-protobuf")
    ]
    assert Collector.received[0][2] > 0
