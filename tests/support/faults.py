"""A fault injector: a loopback TCP proxy a test can cut and restore while services run.

Point one service's AWS_ENDPOINT_URL or DATABASE_URL at the proxy (`proxied_url`) and that service
alone loses its dependency on `block()`; the real moto or PostgreSQL server is never touched. The
proxy runs its own event loop in a thread, so it keeps forwarding while a test blocks its own
loop (waiting for a process, say).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Coroutine
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")
CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 5.0
# every call into the proxy's loop is bounded, so a broken proxy fails a test instead of hanging it
CONTROL_TIMEOUT_S = 10.0


class FaultProxy:
    """Forward 127.0.0.1:<port> to a target; `block()` refuses, `stall()` goes silent.

    - `block()`: every open connection is reset and new ones are accepted and reset at once,
      like a server that went away (clients fail fast).
    - `stall()`: open connections stop carrying data and new ones are accepted but never
      answered, like a network partition (clients only notice through their own timeouts).
    - `unblock()`: back to forwarding; stalled connections resume where they were.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = self.refused = self.reset = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        # the client side of each open connection; its upstream side closes along with it
        self._connections: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._refusing = False
        # created here, bound to the proxy's loop on first use (asyncio primitives are lazy)
        self._flowing = asyncio.Event()
        self._flowing.set()

    def __repr__(self) -> str:
        state = "blocked" if self._refusing else "stalled" if self.stalled else "open"
        return (
            f"<FaultProxy 127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]} {state} "
            f"accepted={self.accepted} refused={self.refused} reset={self.reset}>"
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def block(self) -> None:
        """Reset every open connection and refuse new ones until `unblock()`."""
        self._call(self._set(refusing=True, flowing=True))

    def stall(self) -> None:
        """Stop carrying bytes, on open and new connections alike, until `unblock()`."""
        self._call(self._set(refusing=False, flowing=False))

    def unblock(self) -> None:
        self._call(self._set(refusing=False, flowing=True))

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CONTROL_TIMEOUT_S)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CONTROL_TIMEOUT_S)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _set(self, *, refusing: bool, flowing: bool) -> None:
        self._refusing = refusing
        if refusing:
            for writer in list(self._connections):
                self.reset += 1
                _abort(writer)
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._set(refusing=True, flowing=True)
        # let every connection's handler see its reset and end before the loop stops
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=CONTROL_TIMEOUT_S / 2)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            self.refused += 1
            _abort(writer)
            return
        self.accepted += 1
        self._connections.add(writer)
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            await self._forward(reader, writer)
        finally:
            self._connections.discard(writer)
            self._handlers.discard(handler)
            _abort(writer)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # a stalled proxy has accepted the connection but does not reach the target yet
        await self._flowing.wait()
        if self._refusing:
            return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except (OSError, TimeoutError):
            return
        try:
            await _first_to_finish(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        finally:
            _abort(upstream_writer)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(CHUNK_BYTES):
                await self._flowing.wait()
                if self._refusing:
                    return
                sink.write(data)
                await sink.drain()


async def _first_to_finish(*jobs: Awaitable[None]) -> None:
    """Run both directions; when either side closes, the connection is over."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _abort(writer: asyncio.StreamWriter) -> None:
    # abort sends a reset at once, as a crashed or unreachable server would
    if not writer.transport.is_closing():
        writer.transport.abort()


def target_of(url: str) -> tuple[str, int]:
    """The host and port a URL connects to (default ports for http, https, postgresql)."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme, 5432)
    return parts.hostname or "127.0.0.1", parts.port or default


def proxied_url(url: str, proxy: FaultProxy) -> str:
    """The same URL (credentials, path and query kept) going through the proxy."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{proxy.address}" if credentials else proxy.address
    return urlunsplit(parts._replace(netloc=netloc))
