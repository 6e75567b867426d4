"""The transport's tables in its SQLite file, and how a connection to it is opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shared.contracts.topology import DLQ_RETENTION_S, QUEUE_RETENTION_S

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    visibility_timeout_s INTEGER NOT NULL,
    dead_letter_queue TEXT,
    max_receive_count INTEGER,
    retention_s INTEGER NOT NULL DEFAULT {QUEUE_RETENTION_S}
);
CREATE TABLE IF NOT EXISTS subscriptions (
    topic TEXT NOT NULL,
    queue TEXT NOT NULL,
    filter_policy TEXT NOT NULL,
    PRIMARY KEY (topic, queue)
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
-- ordered by (queue, visible_at_ms, seq): a receive reads the first visible rows, no sort
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible_at_ms);
-- the oldest messages of a queue first: what retention drops
CREATE INDEX IF NOT EXISTS messages_by_age ON messages (queue, sent_at_ms);
"""
# operator tools may write the same file from another process: wait for them, don't fail
BUSY_TIMEOUT_MS = 5000


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create) the file; commits are explicit, one `BEGIN IMMEDIATE` per write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # WAL: a commit is durable against a killed process; NORMAL skips the fsync per commit
    # (only a power loss can take the last commits back)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    upgrade(conn)
    return conn


def upgrade(conn: sqlite3.Connection) -> None:
    """Bring a file made by an older version up to SCHEMA (its new indexes it creates itself)."""
    # IMMEDIATE: two processes opening an old file add the column once
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "retention_s" not in _columns(conn, "queues"):
            _add_retention(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _add_retention(conn: sqlite3.Connection) -> None:
    conn.execute(
        f"ALTER TABLE queues ADD COLUMN retention_s INTEGER NOT NULL DEFAULT {QUEUE_RETENTION_S}"
    )
    # a queue that is some queue's dead-letter target keeps its letters as long as a DLQ does
    conn.execute(
        "UPDATE queues SET retention_s = ?"
        " WHERE name IN (SELECT dead_letter_queue FROM queues WHERE dead_letter_queue IS NOT NULL)",
        (DLQ_RETENTION_S,),
    )


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
