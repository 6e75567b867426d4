"""A transport file made by an earlier version is brought up to date when it is opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from embedded.transport import messages, queues
from embedded.transport.schema import connect
from shared.contracts.topology import DLQ_RETENTION_S, QUEUE_RETENTION_S

# the tables as the version before message retention made them
EARLIER_SCHEMA = """
CREATE TABLE topics (name TEXT PRIMARY KEY);
CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    visibility_timeout_s INTEGER NOT NULL,
    dead_letter_queue TEXT,
    max_receive_count INTEGER
);
CREATE TABLE subscriptions (
    topic TEXT NOT NULL,
    queue TEXT NOT NULL,
    filter_policy TEXT NOT NULL,
    PRIMARY KEY (topic, queue)
);
CREATE TABLE messages (
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
CREATE INDEX messages_by_visibility ON messages (queue, visible_at_ms);
INSERT INTO queues VALUES ('work-dlq', 30, NULL, NULL), ('work', 30, 'work-dlq', 5);
INSERT INTO messages (queue, message_id, body, attributes, sent_at_ms, visible_at_ms)
VALUES ('work', 'm-1', 'waiting since before the upgrade', '{}', 0, 0);
"""


def earlier_file(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(EARLIER_SCHEMA)
    conn.close()
    return path


class TestUpgrade:
    def test_queues_get_the_retention_of_a_queue_or_a_dlq(self, tmp_path: Path) -> None:
        conn = connect(earlier_file(tmp_path / "transport.db"))

        retention = dict(conn.execute("SELECT name, retention_s FROM queues").fetchall())

        assert retention == {"work": QUEUE_RETENTION_S, "work-dlq": DLQ_RETENTION_S}

    def test_messages_get_the_index_retention_reads(self, tmp_path: Path) -> None:
        conn = connect(earlier_file(tmp_path / "transport.db"))

        indexes = {row[1] for row in conn.execute("PRAGMA index_list(messages)")}

        assert {"messages_by_visibility", "messages_by_age"} <= indexes

    def test_a_message_within_its_retention_is_still_received(self, tmp_path: Path) -> None:
        path = earlier_file(tmp_path / "transport.db")
        # sent now: the file's own message dates from 1970, long past any retention
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE messages SET sent_at_ms = :now, visible_at_ms = :now",
                {"now": messages.now_ms()},
            )
        conn = connect(path)
        queue = queues.find_queue(conn, "work")
        assert queue is not None

        received, _ = messages.receive(conn, queue, 10, 30)

        assert [message.body for message in received] == ["waiting since before the upgrade"]

    def test_opening_an_upgraded_file_again_changes_nothing(self, tmp_path: Path) -> None:
        path = earlier_file(tmp_path / "transport.db")
        connect(path).close()

        conn = connect(path)

        assert conn.execute("SELECT COUNT(*) FROM queues").fetchone() == (2,)
