"""Queue definitions and depths as stored in the transport's file."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

# messages past their queue's retention are gone, even before the sweep deletes their rows
DEPTH_SQL = """
SELECT
    COALESCE(SUM(visible_at_ms <= :now), 0),
    COALESCE(SUM(visible_at_ms > :now AND receipt IS NOT NULL), 0),
    COALESCE(SUM(visible_at_ms > :now AND receipt IS NULL), 0)
FROM messages WHERE queue = :queue AND sent_at_ms > :expired_at
"""
QUEUE_COLUMNS = "name, visibility_timeout_s, dead_letter_queue, max_receive_count, retention_s"


@dataclass(frozen=True)
class QueueRow:
    name: str
    visibility_timeout_s: int
    dead_letter_queue: str | None
    max_receive_count: int | None
    retention_s: int

    def is_exhausted(self, receive_count: int) -> bool:
        """True when one more receive would exceed the redrive policy's maxReceiveCount."""
        limit = self.max_receive_count
        return self.dead_letter_queue is not None and limit is not None and receive_count >= limit

    def expired_at_ms(self, now_ms: int) -> int:
        """Messages sent at or before this moment are past the queue's retention period."""
        return now_ms - self.retention_s * 1000


@dataclass(frozen=True)
class Depth:
    visible: int
    in_flight: int
    delayed: int


def find_queue(conn: sqlite3.Connection, name: str) -> QueueRow | None:
    row = conn.execute(f"SELECT {QUEUE_COLUMNS} FROM queues WHERE name = ?", (name,)).fetchone()
    return QueueRow(*row) if row else None


def all_queues(conn: sqlite3.Connection) -> list[QueueRow]:
    return [QueueRow(*row) for row in conn.execute(f"SELECT {QUEUE_COLUMNS} FROM queues")]


def depth(conn: sqlite3.Connection, queue: QueueRow, now_ms: int) -> Depth:
    visible, in_flight, delayed = conn.execute(
        DEPTH_SQL, {"now": now_ms, "queue": queue.name, "expired_at": queue.expired_at_ms(now_ms)}
    ).fetchone()
    return Depth(int(visible), int(in_flight), int(delayed))


def configure(conn: sqlite3.Connection, name: str, settings: dict[str, int]) -> None:
    """Set queue columns inside the caller's transaction; `settings` names only known columns."""
    for column, value in settings.items():
        if column not in ("visibility_timeout_s", "retention_s"):
            raise ValueError(f"no queue setting {column!r}")
        conn.execute(f"UPDATE queues SET {column} = ? WHERE name = ?", (value, name))
