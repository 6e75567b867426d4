"""SQS operations as they run in the database thread: find the queue, then act on it."""

from __future__ import annotations

import sqlite3

from embedded.transport import messages, queues
from embedded.transport.database import write_transaction
from embedded.transport.errors import no_such_queue
from embedded.transport.messages import Receipt, Received


def lookup(conn: sqlite3.Connection, operation: str, name: str) -> queues.QueueRow:
    found = queues.find_queue(conn, name)
    if found is None:
        raise no_such_queue(operation, name)
    return found


def receive(
    conn: sqlite3.Connection, name: str, max_messages: int, visibility_timeout_s: int | None
) -> tuple[list[Received], str | None]:
    """Received messages, and the DLQ's name if some were dead-lettered on the way."""
    queue = lookup(conn, "ReceiveMessage", name)
    hide_s = queue.visibility_timeout_s if visibility_timeout_s is None else visibility_timeout_s
    received, dead_lettered = messages.receive(conn, queue, max_messages, hide_s)
    return received, queue.dead_letter_queue if dead_lettered else None


def delete(conn: sqlite3.Connection, name: str, receipts: list[Receipt]) -> None:
    lookup(conn, "DeleteMessage", name)
    with write_transaction(conn):
        for receipt in receipts:
            messages.delete(conn, name, receipt)


def change_visibility(
    conn: sqlite3.Connection, name: str, changes: list[tuple[Receipt, int]]
) -> list[messages.VisibilityChange]:
    queue = lookup(conn, "ChangeMessageVisibility", name)
    with write_transaction(conn):
        return [messages.change_visibility(conn, queue, receipt, s) for receipt, s in changes]


def send(conn: sqlite3.Connection, name: str, batch: list[messages.NewMessage]) -> list[str]:
    lookup(conn, "SendMessageBatch", name)
    return messages.send(conn, name, batch)


def describe(conn: sqlite3.Connection, name: str) -> tuple[queues.QueueRow, queues.Depth]:
    queue = lookup(conn, "GetQueueAttributes", name)
    return queue, queues.depth(conn, queue, messages.now_ms())


def configure(conn: sqlite3.Connection, name: str, settings: dict[str, int]) -> None:
    lookup(conn, "SetQueueAttributes", name)
    with write_transaction(conn):
        queues.configure(conn, name, settings)


def expire_all(conn: sqlite3.Connection) -> bool:
    """Delete messages past their retention in every queue, a batch per queue; True when some
    queue may hold more."""
    now = messages.now_ms()
    with write_transaction(conn):
        deleted = [messages.expire(conn, queue, now) for queue in queues.all_queues(conn)]
    return any(count == messages.EXPIRE_BATCH for count in deleted)
