"""Streamed downloads fail like streams, over real sockets.

Once a response's status line may be on the wire, an error cuts the connection: the client sees a
truncated transfer, never a second response inside the first one's body. A client that goes away
mid-download is not an outage: no warning, no 503 counted. The tracker proxy bounds how long its
upstream may stay silent, not how long a transfer may take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app as create_todo_api
from shared.app.app_keys import metrics_key
from shared.app.resources import service_app
from shared.aws.blobs import CHUNK_BYTES, S3BlobStore
from shared.aws.clients import aws_client
from shared.clock import utcnow
from shared.contracts.topology import Names
from shared.settings import Settings
from tests.support.polling import eventually
from tests.support.scrapes import Scrape
from tests.support.tracker_jobs import Tracker, running_tracker

RESULT_ROUTE = "/api/v1/todos/ical/{task_id}/result"
# no socket buffers on the way can hold this much, so the server is still writing when it fails
# or when its client goes away (the client's own receive buffer is made small, see raw_get)
LARGE_BYTES = 16 * 1024 * 1024
SLOW_CLIENT_BYTES = 50 * 1024 * 1024
CLIENT_RECEIVE_BUFFER = 32 * 1024
# the store's answer is cut this far into the file
CUT_AFTER_BYTES = 1024 * 1024
READ_TIMEOUT_MS = 500
# a cut connection closes at once; a kept-alive one stays open for aiohttp's 75 s keep-alive
CLOSED_WITHIN_S = 10.0
# today a stalled tracker is given up on after 30 s; the idle bound here is half a second
STALL_NOTICED_WITHIN_S = 10.0
CHUNKED_END = b"0\r\n\r\n"
# a second status line written into the first answer's body
SECOND_ANSWER = b"HTTP/1.1 "


def payload(size: int) -> bytes:
    line = b"DESCRIPTION:a calendar line of no particular meaning, repeated\r\n"
    return (line * (size // len(line) + 1))[:size]


class CuttingProxy:
    """A loopback TCP proxy that resets each connection once `cut_after` bytes of its answers have
    passed: a store that fails half-way through sending a file."""

    def __init__(self, target: tuple[str, int], cut_after: int) -> None:
        self.target = target
        self.cut_after = cut_after
        self.cuts = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, upstream_writer}
        requests = asyncio.create_task(_pipe(reader, upstream_writer, limit=None))
        try:
            if await _pipe(upstream_reader, writer, limit=self.cut_after):
                self.cuts += 1
        finally:
            requests.cancel()
            for side in (writer, upstream_writer):
                side.transport.abort()
                self._writers.discard(side)


async def _pipe(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, limit: int | None
) -> bool:
    """Copy until the source ends (False) or `limit` bytes have passed (True)."""
    passed = 0
    with contextlib.suppress(OSError):
        while data := await source.read(CHUNK_BYTES):
            if limit is not None and passed + len(data) >= limit:
                sink.write(data[: limit - passed])
                await sink.drain()
                return True
            passed += len(data)
            sink.write(data)
            await sink.drain()
    return False


async def raw_get(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A keep-alive GET on a socket of our own, with a small receive buffer: a slow reader."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RECEIVE_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


async def read_until_closed(reader: asyncio.StreamReader, within_s: float) -> tuple[bytes, bool]:
    """Everything the server sent, and whether it closed the connection within `within_s`."""
    received = bytearray()
    try:
        async with asyncio.timeout(within_s):
            while data := await reader.read(CHUNK_BYTES):
                received += data
    except TimeoutError:
        return bytes(received), False
    return bytes(received), True


async def hang_up_after_headers(port: int, path: str) -> bytes:
    """Ask for `path`, read the status line and headers, and go away (a reset, unread data
    pending)."""
    reader, writer = await raw_get(port, path)
    head = await reader.readuntil(b"\r\n\r\n")
    writer.transport.abort()
    return head


def requests_counted(app: web.Application, route: str) -> dict[str, float]:
    """http_requests_total of `route` by status."""
    found = Scrape.of(app[metrics_key])
    return {
        dict(labels)["status"]: value
        for (name, labels), value in found.values.items()
        if name == "http_requests_total" and dict(labels).get("route") == route
    }


def cut_off_counted(app: web.Application, route: str) -> float | None:
    found = Scrape.of(app[metrics_key])
    return found.value("http_responses_cut_off_total", route=route, method="GET")


async def answered(app: web.Application, route: str) -> None:
    """Wait until the server has finished with its request on `route` and counted it."""

    async def counted() -> bool:
        return bool(requests_counted(app, route))

    await eventually(counted, timeout_s=CLOSED_WITHIN_S)


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


def infos_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]


@pytest.fixture
def settings(module_topology: Settings, tmp_path: Path) -> Settings:
    """One database is enough: what is tested here happens after the database was read."""
    aws = module_topology.model_dump(include={"aws_endpoint_url", "resource_prefix"})
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/test.db", **aws)


# -- the result download, from the blob store ---------------------------------------------------


@pytest.fixture
async def cutting_store(settings: Settings) -> AsyncIterator[CuttingProxy]:
    """A proxy in front of the S3 endpoint that cuts each answer a megabyte in."""
    assert settings.aws_endpoint_url is not None
    host, _, port = settings.aws_endpoint_url.removeprefix("http://").partition(":")
    async with CuttingProxy((host, int(port)), CUT_AFTER_BYTES) as proxy:
        yield proxy


@pytest.fixture
async def failing_tracker(
    settings: Settings, cutting_store: CuttingProxy
) -> AsyncIterator[Tracker]:
    """The job tracker whose blob store's connection fails a megabyte into every file."""
    through_proxy = settings.model_copy(
        update={"aws_endpoint_url": f"http://127.0.0.1:{cutting_store.port}"}
    )
    async with aws_client(through_proxy, "s3") as s3:
        blobs = S3BlobStore(s3, Names(settings.resource_prefix).bucket)
        async with running_tracker(settings, blobs) as tracker:
            yield tracker


async def large_result(tracker: Tracker) -> str:
    """A finished job whose file is larger than any buffer on the way; its result path."""
    task_id = await tracker.add_job(utcnow(), stored=False)
    await tracker.blobs.put(f"calendars/{task_id}.ics", payload(LARGE_BYTES), "text/calendar")
    return RESULT_ROUTE.format(task_id=task_id)


class TestAStoreFailingMidDownload:
    async def test_the_client_sees_a_cut_connection_never_a_second_answer(
        self, failing_tracker: Tracker, cutting_store: CuttingProxy
    ) -> None:
        path = await large_result(failing_tracker)

        reader, writer = await raw_get(failing_tracker.client.port or 0, path)
        received, closed = await read_until_closed(reader, CLOSED_WITHIN_S)
        writer.close()

        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert cutting_store.cuts == 1
        assert SECOND_ANSWER not in body
        # the chunked body never ends: the client can tell it got part of a file
        assert not body.endswith(CHUNKED_END)
        assert CUT_AFTER_BYTES // 2 < len(body) < LARGE_BYTES
        # and the connection is not offered for another request
        assert closed, "the server kept the connection open after the failed download"

    async def test_an_http_client_reports_a_truncated_transfer_and_the_cut_is_counted(
        self, failing_tracker: Tracker, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = await large_result(failing_tracker)
        caplog.set_level(logging.INFO)

        # a bound of our own: a client that never hears the end would wait aiohttp's 300 s
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=CLOSED_WITHIN_S)
        ) as session:
            url = failing_tracker.client.make_url(path)
            async with session.get(url) as response:
                assert response.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()

        app = failing_tracker.client.app
        await answered(app, RESULT_ROUTE)
        assert requests_counted(app, RESULT_ROUTE) == {"200": 1}
        assert cut_off_counted(app, RESULT_ROUTE) == 1
        # the store's failure is an outage, and the log says the answer was cut
        [warning] = warnings_logged(caplog)
        assert "dependency unavailable" in warning
        assert "connection closed" in warning


# -- a client going away ------------------------------------------------------------------------


@pytest.fixture
async def tracker(settings: Settings) -> AsyncIterator[Tracker]:
    """The job tracker on S3 (moto), as deployed."""
    async with running_tracker(settings) as running:
        yield running


class TestAClientGoingAway:
    async def test_a_download_the_client_leaves_is_no_outage_and_no_503(
        self, tracker: Tracker, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = await large_result(tracker)
        caplog.set_level(logging.INFO)

        head = await hang_up_after_headers(tracker.client.port or 0, path)

        assert head.startswith(b"HTTP/1.1 200 OK")
        app = tracker.client.app
        await answered(app, RESULT_ROUTE)
        assert requests_counted(app, RESULT_ROUTE) == {"499": 1}
        assert cut_off_counted(app, RESULT_ROUTE) is None
        assert warnings_logged(caplog) == []
        assert any("client went away" in line for line in infos_logged(caplog))

    async def test_a_proxied_download_the_client_leaves_is_no_outage_and_no_503(
        self,
        upstream: Upstream,
        todo_api: TestClient[web.Request, web.Application],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        upstream.size = LARGE_BYTES
        caplog.set_level(logging.INFO)

        head = await hang_up_after_headers(todo_api.port or 0, RESULT_ROUTE.format(task_id="t1"))

        assert head.startswith(b"HTTP/1.1 200 OK")
        await answered(todo_api.app, RESULT_ROUTE)
        assert requests_counted(todo_api.app, RESULT_ROUTE) == {"499": 1}
        assert warnings_logged(caplog) == []
        assert any("client went away" in line for line in infos_logged(caplog))


# -- the tracker proxy --------------------------------------------------------------------------


class Upstream:
    """A job tracker's result route as the proxy sees it: `size` bytes, in chunks; with
    `stall_after`, it goes silent that far in until the test ends."""

    def __init__(self) -> None:
        self.url = ""
        self.size = 0
        self.stall_after: int | None = None
        self.released = asyncio.Event()

    async def result(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/calendar; charset=utf-8"})
        await response.prepare(request)
        chunk = payload(CHUNK_BYTES)
        for sent in range(0, self.size, CHUNK_BYTES):
            if sent == self.stall_after:
                await self.released.wait()
            await response.write(chunk[: self.size - sent])
        await response.write_eof()
        return response


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    served = Upstream()
    # a service of ours, so it too takes its client's (todo_api's) leaving calmly
    app = service_app(Settings())
    app.router.add_get(RESULT_ROUTE, served.result)
    async with TestServer(app) as server:
        served.url = str(server.make_url("/"))
        yield served
        served.released.set()


@pytest.fixture
async def todo_api(
    settings: Settings, upstream: Upstream
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """todo_api forwarding the job routes to `upstream`, its read timeout half a second."""
    forwarding = settings.model_copy(
        update={
            "job_tracker_url": upstream.url,
            "job_tracker_read_timeout_ms": READ_TIMEOUT_MS,
        }
    )
    async with TestClient(TestServer(create_todo_api(forwarding))) as client:
        yield client


class TestTheTrackerProxy:
    async def test_a_slow_client_gets_the_whole_file_however_long_it_takes(
        self, upstream: Upstream, todo_api: TestClient[web.Request, web.Application]
    ) -> None:
        upstream.size = SLOW_CLIENT_BYTES
        read_timeout_s = READ_TIMEOUT_MS / 1000

        started = time.monotonic()
        response = await todo_api.get(RESULT_ROUTE.format(task_id="t1"))
        first = await response.content.readexactly(CUT_AFTER_BYTES)
        # the client stops reading for longer than the proxy lets its upstream stay silent
        await asyncio.sleep(3 * read_timeout_s)
        rest = await response.read()
        took_s = time.monotonic() - started

        assert response.status == 200
        assert len(first) + len(rest) == SLOW_CLIENT_BYTES
        assert took_s > 3 * read_timeout_s

    async def test_a_silent_tracker_is_given_up_on_after_the_read_timeout_with_a_cut(
        self, upstream: Upstream, todo_api: TestClient[web.Request, web.Application]
    ) -> None:
        upstream.size, upstream.stall_after = LARGE_BYTES, CUT_AFTER_BYTES

        reader, writer = await raw_get(todo_api.port or 0, RESULT_ROUTE.format(task_id="t1"))
        received, closed = await read_until_closed(reader, STALL_NOTICED_WITHIN_S)
        writer.close()

        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert SECOND_ANSWER not in body
        assert not body.endswith(CHUNKED_END)
        assert closed, (
            f"the proxy still waited on its silent tracker after {STALL_NOTICED_WITHIN_S}s"
        )
        await answered(todo_api.app, RESULT_ROUTE)
        assert cut_off_counted(todo_api.app, RESULT_ROUTE) == 1
