"""Messages in a queue: send, receive (moving dead letters), delete, change visibility.

Plain functions on the connection, run in the database thread; each write is one transaction.
A receipt handle is `<seq>-<token>` with a new token per receive: only the latest receipt of a
message deletes it or changes its visibility, so a consumer whose visibility timeout lapsed
cannot delete the message another consumer now holds. An older handle is answered with success
and changes nothing, as AWS documents for DeleteMessage.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.transport.database import write_transaction
from shared.transport.queues import QueueRow


@dataclass(frozen=True)
class NewMessage:
    body: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Received:
    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, Any]
    sent_at_ms: int
    receive_count: int


@dataclass(frozen=True)
class Receipt:
    seq: int
    token: str

    @classmethod
    def parse(cls, handle: str) -> Receipt | None:
        seq, _, token = handle.partition("-")
        return cls(int(seq), token) if seq.isdigit() and token else None


def now_ms() -> int:
    # wall clock, not monotonic: the file is shared with other processes
    return int(time.time() * 1000)


def insert(conn: sqlite3.Connection, queue: str, messages: Sequence[NewMessage]) -> list[str]:
    """Add messages to `queue` inside the caller's transaction; return their message ids."""
    sent_at = now_ms()
    ids = [str(uuid.uuid4()) for _ in messages]
    conn.executemany(
        "INSERT INTO messages (queue, message_id, body, attributes, sent_at_ms, visible_at_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (queue, message_id, message.body, json.dumps(message.attributes), sent_at, sent_at)
            for message_id, message in zip(ids, messages, strict=True)
        ],
    )
    return ids


def send(conn: sqlite3.Connection, queue: str, messages: Sequence[NewMessage]) -> list[str]:
    with write_transaction(conn):
        return insert(conn, queue, messages)


def receive(
    conn: sqlite3.Connection, queue: QueueRow, max_messages: int, visibility_timeout_s: int
) -> tuple[list[Received], bool]:
    """Up to `max_messages` visible messages, hidden for the timeout; True if any dead-lettered."""
    received: list[Received] = []
    dead_lettered = False
    with write_transaction(conn):
        # walk forward by seq: a message taken with a zero timeout is visible again at once
        after_seq = 0
        while len(received) < max_messages:
            candidates = _visible(conn, queue.name, after_seq, max_messages - len(received))
            if not candidates:
                break
            after_seq = candidates[-1][0]
            for seq, receive_count in candidates:
                if queue.is_exhausted(receive_count):
                    _dead_letter(conn, seq, queue)
                    dead_lettered = True
                else:
                    received.append(_take(conn, seq, visibility_timeout_s))
    return received, dead_lettered


def _visible(
    conn: sqlite3.Connection, queue: str, after_seq: int, limit: int
) -> list[tuple[int, int]]:
    rows = conn.execute(
        "SELECT seq, receive_count FROM messages"
        " WHERE queue = ? AND visible_at_ms <= ? AND seq > ? ORDER BY seq LIMIT ?",
        (queue, now_ms(), after_seq, limit),
    )
    return [(int(seq), int(count)) for seq, count in rows]


def _dead_letter(conn: sqlite3.Connection, seq: int, queue: QueueRow) -> None:
    # the receive count goes along, as in SQS: the DLQ shows how often it was tried
    conn.execute(
        "UPDATE messages SET queue = ?, receipt = NULL, visible_at_ms = ? WHERE seq = ?",
        (queue.dead_letter_queue, now_ms(), seq),
    )


def _take(conn: sqlite3.Connection, seq: int, visibility_timeout_s: int) -> Received:
    receipt = f"{seq}-{secrets.token_hex(12)}"
    row = conn.execute(
        "UPDATE messages SET receive_count = receive_count + 1, receipt = ?, visible_at_ms = ?"
        " WHERE seq = ? RETURNING message_id, body, attributes, sent_at_ms, receive_count",
        (receipt, now_ms() + visibility_timeout_s * 1000, seq),
    ).fetchone()
    message_id, body, attributes, sent_at_ms, receive_count = row
    return Received(message_id, receipt, body, json.loads(attributes), sent_at_ms, receive_count)


def delete(conn: sqlite3.Connection, queue: str, receipt: Receipt) -> None:
    """Delete inside the caller's transaction; a handle not the latest changes nothing."""
    conn.execute(
        "DELETE FROM messages WHERE seq = ? AND queue = ? AND receipt = ?",
        (receipt.seq, queue, _handle(receipt)),
    )


def change_visibility(
    conn: sqlite3.Connection, queue: str, receipt: Receipt, visibility_timeout_s: int
) -> bool:
    """Inside the caller's transaction; False when the handle is not the latest (or is gone)."""
    changed = conn.execute(
        "UPDATE messages SET visible_at_ms = ? WHERE seq = ? AND queue = ? AND receipt = ?",
        (now_ms() + visibility_timeout_s * 1000, receipt.seq, queue, _handle(receipt)),
    )
    return changed.rowcount == 1


def _handle(receipt: Receipt) -> str:
    return f"{receipt.seq}-{receipt.token}"
