"""Deleting handled SQS messages ten at a time: one DeleteMessageBatch instead of ten requests.

A handled message is deleted in the background: under load a batch fills at once; when quiet,
whatever waits is sent after 200 ms. A delete that fails only means the message comes
back once more, which every idempotent handler absorbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from shared.messaging.batching import MAX_BATCH_ENTRIES

logger = logging.getLogger(__name__)
# how long a delete waits for company before it goes out: the work is committed already, so the
# wait delays nobody, and under load it fills batches (at 50 ms they held about five entries)
LINGER_S = 0.2


class DeleteBatcher:
    def __init__(self, sqs: Any, queue_url: Callable[[], str], name: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._name = name
        self._pending: list[tuple[str, str]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.deleted = self.failed = 0

    def add(self, message_id: str, receipt_handle: str) -> None:
        """Delete this message soon, in a batch with others."""
        self._pending.append((message_id, receipt_handle))
        if len(self._pending) >= MAX_BATCH_ENTRIES:
            self._send_pending()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(LINGER_S, self._send_pending)

    async def close(self) -> None:
        """Send what waits and wait for every batch under way (at shutdown)."""
        self._send_pending()
        if self._sending:
            await asyncio.wait(set(self._sending))

    def _send_pending(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            batch = self._pending[:MAX_BATCH_ENTRIES]
            del self._pending[:MAX_BATCH_ENTRIES]
            task = asyncio.create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[str, str]]) -> None:
        entries = [
            {"Id": str(number), "ReceiptHandle": handle} for number, (_, handle) in enumerate(batch)
        ]
        try:
            answer = await self._sqs.delete_message_batch(
                QueueUrl=self._queue_url(), Entries=entries
            )
        except Exception as exc:
            self.failed += len(batch)
            logger.warning("%s: could not delete %d messages: %r", self._name, len(batch), exc)
            return
        refused = answer.get("Failed", [])
        self.deleted += len(batch) - len(refused)
        self.failed += len(refused)
        for entry in refused:
            message_id = batch[int(entry["Id"])][0]
            with contextlib.suppress(Exception):
                logger.warning(
                    "%s: could not delete %s: %s", self._name, message_id, entry.get("Code")
                )
