"""Publishing to a topic: each message goes to every subscribed queue whose filter matches.

Delivery is raw (the queue gets the message body and attributes as published), and the fan-out
of a whole batch is one transaction: once it returns, the messages are in their queues.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence

from embedded.transport import filter_policy
from embedded.transport.database import write_transaction
from embedded.transport.messages import NewMessage, insert


def topic_exists(conn: sqlite3.Connection, topic: str) -> bool:
    return conn.execute("SELECT 1 FROM topics WHERE name = ?", (topic,)).fetchone() is not None


def topic_names(conn: sqlite3.Connection) -> list[str]:
    return [name for (name,) in conn.execute("SELECT name FROM topics ORDER BY name")]


def publish(
    conn: sqlite3.Connection, topic: str, messages: Sequence[NewMessage]
) -> tuple[list[str], set[str]]:
    """Fan the messages out; return their message ids and the queues that received any."""
    subscriptions = [
        (queue, filter_policy.parse(policy))
        for queue, policy in conn.execute(
            "SELECT queue, filter_policy FROM subscriptions WHERE topic = ?", (topic,)
        )
    ]
    ids: list[str] = []
    touched: set[str] = set()
    with write_transaction(conn):
        for message in messages:
            ids.append(str(uuid.uuid4()))
            for queue, policy in subscriptions:
                if filter_policy.matches(policy, message.attributes):
                    insert(conn, queue, [message])
                    touched.add(queue)
    return ids, touched
