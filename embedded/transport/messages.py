"""Messages in a queue: send, receive (moving dead letters), delete, change visibility.

Plain functions on the connection, run in the database thread; each write is one transaction.
A receipt handle is `<seq>-<token>` with a new token per receive: only the latest receipt of a
message deletes it or changes its visibility, so a consumer whose visibility timeout lapsed
cannot delete the message another consumer now holds. An older handle is answered with success
and changes nothing, as AWS documents for DeleteMessage. A message past its queue's retention
period (counted from its first send, also in a DLQ) is no longer received, counted or changed;
`expire` deletes its row later.
"""

from __future__ import annotations

import enum
import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embedded.transport.database import write_transaction
from embedded.transport.queues import QueueRow

# messages past their retention deleted per queue per sweep: a bounded moment on the loop
EXPIRE_BATCH = 500


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
    taken: list[int] = []
    dead_lettered = False
    now = now_ms()
    with write_transaction(conn):
        while len(received) < max_messages:
            candidates = _visible(conn, queue, now, taken, max_messages - len(received))
            if not candidates:
                break
            for seq, receive_count in candidates:
                if queue.is_exhausted(receive_count):
                    _dead_letter(conn, seq, queue, now)
                    dead_lettered = True
                else:
                    received.append(_take(conn, seq, now + visibility_timeout_s * 1000))
                    taken.append(seq)
    return received, dead_lettered


def visible_sql(skipped: int) -> str:
    """The receive's query: the first visible, unexpired messages in the order they became
    visible, past `skipped` seqs (those taken with a zero timeout earlier in this receive).

    The index holds (queue, visible_at_ms, seq) in this order, so the query reads the rows it
    returns and the few it skips, never the whole queue, and sorts nothing. A message becomes
    visible no sooner than it was sent, so one sent after the retention cutoff becomes visible
    after it too: the index range starts there, past any expired rows the sweep has not yet
    deleted.
    """
    return (
        "SELECT seq, receive_count FROM messages INDEXED BY messages_by_visibility"
        " WHERE queue = ? AND visible_at_ms > ? AND visible_at_ms <= ? AND sent_at_ms > ?"
        f" AND seq NOT IN ({','.join('?' * skipped)})"
        " ORDER BY visible_at_ms, seq LIMIT ?"
    )


def _visible(
    conn: sqlite3.Connection, queue: QueueRow, now: int, taken: list[int], limit: int
) -> list[tuple[int, int]]:
    cutoff = queue.expired_at_ms(now)
    rows = conn.execute(visible_sql(len(taken)), (queue.name, cutoff, now, cutoff, *taken, limit))
    return [(int(seq), int(count)) for seq, count in rows]


def _dead_letter(conn: sqlite3.Connection, seq: int, queue: QueueRow, now: int) -> None:
    # the receive count and the send time go along, as in SQS: the DLQ shows how often it was
    # tried, and its retention counts from the original send
    conn.execute(
        "UPDATE messages SET queue = ?, receipt = NULL, visible_at_ms = ? WHERE seq = ?",
        (queue.dead_letter_queue, now, seq),
    )


def _take(conn: sqlite3.Connection, seq: int, hidden_until_ms: int) -> Received:
    receipt = f"{seq}-{secrets.token_hex(12)}"
    row = conn.execute(
        "UPDATE messages SET receive_count = receive_count + 1, receipt = ?, visible_at_ms = ?"
        " WHERE seq = ? RETURNING message_id, body, attributes, sent_at_ms, receive_count",
        (receipt, hidden_until_ms, seq),
    ).fetchone()
    message_id, body, attributes, sent_at_ms, receive_count = row
    return Received(message_id, receipt, body, json.loads(attributes), sent_at_ms, receive_count)


def expire(conn: sqlite3.Connection, queue: QueueRow, now: int) -> int:
    """Delete up to EXPIRE_BATCH messages past the queue's retention, inside the caller's
    transaction; return how many (EXPIRE_BATCH: there may be more)."""
    deleted = conn.execute(
        "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages INDEXED BY messages_by_age"
        " WHERE queue = ? AND sent_at_ms <= ? LIMIT ?)",
        (queue.name, queue.expired_at_ms(now), EXPIRE_BATCH),
    )
    return deleted.rowcount


def delete(conn: sqlite3.Connection, queue: str, receipt: Receipt) -> None:
    """Delete inside the caller's transaction; a handle not the latest changes nothing."""
    conn.execute(
        "DELETE FROM messages WHERE seq = ? AND queue = ? AND receipt = ?",
        (receipt.seq, queue, _handle(receipt)),
    )


class VisibilityChange(enum.Enum):
    CHANGED = "changed"
    # the handle is the latest, but its visibility timeout has run out
    NOT_IN_FLIGHT = "not in flight"
    # the message is gone, or was received again since (an older handle)
    UNAVAILABLE = "unavailable"


def change_visibility(
    conn: sqlite3.Connection, queue: QueueRow, receipt: Receipt, visibility_timeout_s: int
) -> VisibilityChange:
    """Inside the caller's transaction: only a message still hidden by this receipt changes."""
    now = now_ms()
    row = conn.execute(
        "SELECT visible_at_ms FROM messages WHERE seq = ? AND queue = ? AND receipt = ?"
        " AND sent_at_ms > ?",
        (receipt.seq, queue.name, _handle(receipt), queue.expired_at_ms(now)),
    ).fetchone()
    if row is None:
        return VisibilityChange.UNAVAILABLE
    if row[0] <= now:
        return VisibilityChange.NOT_IN_FLIGHT
    conn.execute(
        "UPDATE messages SET visible_at_ms = ? WHERE seq = ?",
        (now + visibility_timeout_s * 1000, receipt.seq),
    )
    return VisibilityChange.CHANGED


def _handle(receipt: Receipt) -> str:
    return f"{receipt.seq}-{receipt.token}"
