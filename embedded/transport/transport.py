"""One transport per file per process, shared by every client that opens it.

The services in one process share one event loop and one file: they must share one connection
(one writer) and one set of wake-ups, or a publish would not wake the receive waiting for it.
Other processes on the same file are woken through the neighbours (shared/neighbours.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from embedded.transport.database import TransportDatabase
from embedded.transport.wakeups import Wakeups
from shared.neighbours import wake_folder
from shared.settings import SqliteSynchronous


@dataclass
class Transport:
    database: TransportDatabase
    region: str
    wakeups: Wakeups
    users: int = 0
    # when a receive next sweeps expired messages out of every queue (time.monotonic())
    next_sweep_at: float = 0.0


_open: dict[Path, Transport] = {}
_lock = threading.Lock()


def acquire(path: Path, region: str, synchronous: SqliteSynchronous = "NORMAL") -> Transport:
    """The process's transport on `path`, opened on first use (with the first user's settings)."""
    key = path.resolve()
    with _lock:
        if key not in _open:
            database = TransportDatabase(key, synchronous=synchronous)
            _open[key] = Transport(database, region, Wakeups(wake_folder(key)))
        transport = _open[key]
        transport.users += 1
        return transport


def release(transport: Transport) -> None:
    """Close the file once its last user is done with it."""
    with _lock:
        transport.users -= 1
        if transport.users:
            return
        del _open[transport.database.path]
    transport.wakeups.close()
    transport.database.close()
