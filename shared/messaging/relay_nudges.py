"""Nudges for an outbox relay that runs in another process than the commits it publishes.

`make run` publishes todo_api's outbox from the tracker's process, so the process taking
requests spends no turn of its loop on publishing (embedded/hosting.py). Each commit that queues
events there tells the relay's process at once, over loopback (shared/neighbours.py), through a
wake folder both processes name; without the nudge the rows would wait for the relay's next poll.
A nudge lost (a full buffer) costs at most that poll (RELAY_POLL_INTERVAL_MS): the outbox table
stays the one truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from shared.eventstore.store import OutboxRow
from shared.neighbours import Neighbours, wake_folder

NUDGE = "outbox"


class RelayNudges:
    """One outbox's nudges between processes that name the same `path` (a file need not exist
    there: its wake folder is made beside it)."""

    def __init__(self, path: Path) -> None:
        self._neighbours = Neighbours(wake_folder(path), self._on_told)
        self._nudge: Callable[[], None] | None = None

    def tell(self, _committed: Sequence[OutboxRow] = ()) -> None:
        """A commit queued events: nudge the relay's process (never raises). The rows stay
        here: that relay reads them from the outbox."""
        self._neighbours.tell([NUDGE])

    def listen(self, nudge: Callable[[], None]) -> None:
        """Call `nudge` on the running loop at each nudge from another process."""
        self._nudge = nudge
        self._neighbours.listen()

    def close(self) -> None:
        self._neighbours.close()

    def _on_told(self, names: list[str]) -> None:
        # on the loop that listened: the relay's
        if NUDGE in names and self._nudge is not None:
            self._nudge()
