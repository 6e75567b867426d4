"""Each service's metrics on their own listener, over real sockets: the public port has no
/metrics however the path is spelled, the metrics port answers them and nothing else."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from aiohttp.test_utils import TestServer

from embedded.transport.clients import provision_embedded
from shared.app.app_keys import metrics_url_key
from shared.settings import Settings
from tests.support.scrapes import Scrape

SERVICES = ["todo_api", "job_tracker", "calendar_worker"]
# what aiohttp or a proxy may turn into /metrics: percent-encoded letters and slashes, dot
# segments, doubled slashes, another case, a trailing slash, parameters
METRICS_SPELLINGS = [
    "/metrics",
    "/%6detrics",
    "/%6D%65%74%72%69%63%73",
    "/%2fmetrics",
    "/%2Fmetrics",
    "//metrics",
    "/./metrics",
    "/%2e/metrics",
    "/api/../metrics",
    "/static/..%2fmetrics",
    "/METRICS",
    "/metrics/",
    "/metrics?format=prometheus",
    "/metrics;x",
    "/metrics%00",
]


async def status_of(url: str, raw_path: str) -> tuple[int, bytes]:
    """GET `raw_path` byte for byte, as a client that does not normalise it would send it."""
    address = urlparse(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        request = f"GET {raw_path} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@dataclass(frozen=True)
class Listening:
    public_url: str
    metrics_url: str


@pytest.fixture(params=SERVICES)
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Listening]:
    """One service on a public port and a metrics port, both picked by the OS."""
    settings = Settings(transport="embedded", var_dir=tmp_path, metrics_port=0)
    await provision_embedded(settings)
    factory = importlib.import_module(f"services.{request.param}.app").create_app
    app = factory(settings.with_embedded_database(request.param))
    server = TestServer(app)
    await server.start_server()
    try:
        yield Listening(str(server.make_url("")).rstrip("/"), app[metrics_url_key])
    finally:
        await server.close()


@pytest.mark.parametrize("path", METRICS_SPELLINGS)
async def test_the_public_port_answers_no_spelling_of_metrics(
    service: Listening, path: str
) -> None:
    status, body = await status_of(service.public_url, path)

    assert (status, body) == (404, b'{"error":"Not found"}')


async def test_the_metrics_port_answers_the_service_s_metrics(service: Listening) -> None:
    status, body = await status_of(service.metrics_url, "/metrics")

    assert status == 200
    assert "process_cpu_seconds_total" in Scrape.parse(body.decode()).names()


async def test_the_metrics_port_serves_nothing_else(service: Listening) -> None:
    status, body = await status_of(service.metrics_url, "/api/v1/health")

    assert (status, body) == (404, b'{"error":"Not found"}')
