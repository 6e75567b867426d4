"""Create the topology's topic, queues, DLQs and subscriptions in the transport's file.

The topology is shared/contracts/topology.py's. This is the embedded counterpart of
shared/messaging/provisioning.py; running it again updates what is there.
"""

from __future__ import annotations

import sqlite3

from embedded.transport.database import write_transaction
from shared.contracts.topology import DLQ_RETENTION_S, QUEUE_RETENTION_S, QUEUES, Names
from shared.settings import Settings

UPSERT_QUEUE = """
INSERT INTO queues (name, visibility_timeout_s, dead_letter_queue, max_receive_count)
VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET
    visibility_timeout_s = excluded.visibility_timeout_s,
    dead_letter_queue = excluded.dead_letter_queue,
    max_receive_count = excluded.max_receive_count
"""
SET_RETENTION = "UPDATE queues SET retention_s = ? WHERE name = ?"
UPSERT_SUBSCRIPTION = """
INSERT INTO subscriptions (topic, queue, filter_policy) VALUES (?, ?, ?)
ON CONFLICT (topic, queue) DO UPDATE SET filter_policy = excluded.filter_policy
"""


def provision(conn: sqlite3.Connection, settings: Settings) -> None:
    names = Names(settings.resource_prefix)
    visibility_s = settings.sqs_visibility_timeout_s
    with write_transaction(conn):
        conn.execute("INSERT OR IGNORE INTO topics (name) VALUES (?)", (names.topic,))
        for spec in QUEUES:
            conn.execute(UPSERT_QUEUE, (names.dlq(spec), visibility_s, None, None))
            conn.execute(SET_RETENTION, (DLQ_RETENTION_S, names.dlq(spec)))
            conn.execute(
                UPSERT_QUEUE,
                (names.queue(spec), visibility_s, names.dlq(spec), settings.sqs_max_receive_count),
            )
            conn.execute(SET_RETENTION, (QUEUE_RETENTION_S, names.queue(spec)))
            conn.execute(
                UPSERT_SUBSCRIPTION, (names.topic, names.queue(spec), spec.filter_policy())
            )
