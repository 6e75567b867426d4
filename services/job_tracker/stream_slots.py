"""The bound on the event streams one process holds open (JOB_EVENTS_MAX_STREAMS)."""

from __future__ import annotations


class StreamSlots:
    """How many event streams this process may hold open, and how many it does."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> bool:
        """A slot for one more stream; False when all are taken."""
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1
