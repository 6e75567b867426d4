"""Wake-ups between the processes that share one file (the embedded transport's, a SQLite
database's): a few names told to every other process at once, over loopback.

Each process that listens takes a UDP port of loopback and names it in a file of a folder beside
the shared file (`<file>.wake/<pid>`, the port inside). `tell` sends every other listed process
the names, in one datagram each; the listening process reads them on its event loop (the loop
that first listened) and hands them to `on_wake` there. A listener thread handing each to the
loop cost every hop a second wake-up (the thread's, then the loop's) of 0.2-0.3 ms. A datagram
crosses loopback in microseconds; one can be lost (a full buffer, a process that has just gone),
so the names may only cause an early look at the shared file, which stays the one truth, and
each user keeps a floor of its own for a lost one. Whoever can send to loopback can send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

LOOPBACK = "127.0.0.1"
# the folder is listed again when it changed, and at least this often (its mtime may not change
# for two files added within one tick of the file system's clock)
RELIST_S = 1.0
MAX_DATAGRAM = 65_507


def wake_folder(shared_file: Path) -> Path:
    return shared_file.with_name(shared_file.name + ".wake")


class Neighbours:
    """This process's listener, and the other processes' ports, for one shared file."""

    def __init__(self, folder: Path, on_wake: Callable[[list[str]], None]) -> None:
        self._folder = folder
        self._on_wake = on_wake
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        # the loop reading the listener (the first to listen; another once that one has closed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sender: socket.socket | None = None
        self._closed = threading.Event()
        self._ports: list[int] = []
        self._listed_at = 0.0
        self._listed_mtime_ns = -1

    def listen(self) -> None:
        """Listen on the running loop, from the first call on: before the first wait on the
        shared file, so no tell is missed. `on_wake` runs on that loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed.is_set():
                return
            if self._loop is not None and not self._loop.is_closed():
                return
            listener, fresh = self._listener, self._listener is None
            if listener is None:
                listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                listener.bind((LOOPBACK, 0))
                listener.setblocking(False)
                self._listener = listener
            # the loop that listened before has closed (a test's, a tool's): this one reads now
            self._loop = loop
        loop.add_reader(listener.fileno(), self._read, listener)
        if fresh:
            self._name_port(listener)

    def tell(self, names: Iterable[str]) -> None:
        """Tell the other listening processes `names`; never raises."""
        ports = self._other_ports()
        if not ports:
            return
        payload = "\n".join(sorted(set(names))).encode()
        sender = self._sending_socket()
        for port in ports:
            # a process gone since the listing, or a full buffer: the listener's floor covers it
            with contextlib.suppress(OSError):
                sender.sendto(payload, (LOOPBACK, port))

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            listener, self._listener = self._listener, None
            loop, self._loop = self._loop, None
            sender, self._sender = self._sender, None
        if listener is not None:
            with contextlib.suppress(FileNotFoundError):
                (self._folder / str(self._pid)).unlink()
            if loop is not None and not loop.is_closed():
                # from its loop's thread, or handed to it: a selector is not safe across threads
                if _running_loop() is loop:
                    _stop_reading(loop, listener)
                else:
                    try:
                        loop.call_soon_threadsafe(_stop_reading, loop, listener)
                        listener = None
                    except RuntimeError:
                        pass  # it closed meanwhile, and its selector with it: close it here
        for sock in (listener, sender):
            if sock is not None:
                sock.close()

    def _name_port(self, listener: socket.socket) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        own = self._folder / str(self._pid)
        # written whole under another name first: a reader never sees half a port
        partial = own.with_suffix(".partial")
        partial.write_text(str(listener.getsockname()[1]))
        partial.replace(own)

    def _read(self, listener: socket.socket) -> None:
        """What has arrived, all of it: on the loop, whenever the listener turns readable."""
        while True:
            try:
                payload = listener.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._on_wake([name for name in payload.decode(errors="replace").split("\n") if name])

    def _sending_socket(self) -> socket.socket:
        with self._lock:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
            return self._sender

    def _other_ports(self) -> list[int]:
        try:
            mtime_ns = self._folder.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        now = time.monotonic()
        if mtime_ns != self._listed_mtime_ns or now - self._listed_at >= RELIST_S:
            self._ports = self._list_ports()
            self._listed_mtime_ns, self._listed_at = mtime_ns, now
        return self._ports

    def _list_ports(self) -> list[int]:
        ports = []
        for entry in self._folder.iterdir():
            if not entry.name.isdigit() or int(entry.name) == self._pid:
                continue
            if not _alive(int(entry.name)):
                # a process that died without closing: its file would be told forever
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                continue
            with contextlib.suppress(FileNotFoundError, ValueError):
                ports.append(int(entry.read_text()))
        return ports


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _stop_reading(loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
    loop.remove_reader(listener.fileno())
    listener.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
