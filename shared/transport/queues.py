"""Queue definitions and depths as stored in the transport's file."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

DEPTH_SQL = """
SELECT
    COALESCE(SUM(visible_at_ms <= :now), 0),
    COALESCE(SUM(visible_at_ms > :now AND receipt IS NOT NULL), 0),
    COALESCE(SUM(visible_at_ms > :now AND receipt IS NULL), 0)
FROM messages WHERE queue = :queue
"""


@dataclass(frozen=True)
class QueueRow:
    name: str
    visibility_timeout_s: int
    dead_letter_queue: str | None
    max_receive_count: int | None

    def is_exhausted(self, receive_count: int) -> bool:
        """True when one more receive would exceed the redrive policy's maxReceiveCount."""
        limit = self.max_receive_count
        return self.dead_letter_queue is not None and limit is not None and receive_count >= limit


@dataclass(frozen=True)
class Depth:
    visible: int
    in_flight: int
    delayed: int


def find_queue(conn: sqlite3.Connection, name: str) -> QueueRow | None:
    row = conn.execute(
        "SELECT name, visibility_timeout_s, dead_letter_queue, max_receive_count"
        " FROM queues WHERE name = ?",
        (name,),
    ).fetchone()
    return QueueRow(*row) if row else None


def depth(conn: sqlite3.Connection, queue: str, now_ms: int) -> Depth:
    visible, in_flight, delayed = conn.execute(
        DEPTH_SQL, {"now": now_ms, "queue": queue}
    ).fetchone()
    return Depth(int(visible), int(in_flight), int(delayed))
