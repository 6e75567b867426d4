"""The outbox relay: stored events reach the topic, in order, however long the broker is away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from shared.bus import Publisher
from shared.store import EventStore

logger = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0


class OutboxRelay:
    def __init__(
        self, store: EventStore, publisher: Publisher, *, poll_interval_s: float, batch: int = 50
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._poll_interval_s = poll_interval_s
        self._batch = batch
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0
        self.failures = 0

    def __repr__(self) -> str:
        return f"<OutboxRelay published={self.published} failures={self.failures}>"

    def notify(self) -> None:
        """Something was just committed: publish now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the batch in hand, then return from run()."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; back off with jitter while the broker is unreachable."""
        backoff_s = 0.0
        while not self._stopping:
            # cleared before reading the outbox, so a commit during the read is never missed
            self._wake.clear()
            try:
                sent = await self.publish_pending()
                backoff_s = 0.0
            except Exception as exc:
                self.failures += 1
                backoff_s = min(MAX_BACKOFF_S, max(0.1, backoff_s * 2))
                logger.warning("outbox relay: publish failed (%r), retry in ~%.1fs", exc, backoff_s)
                await self._idle(backoff_s * random.uniform(0.5, 1.0))
                continue
            if sent == 0:
                await self._idle(self._poll_interval_s)

    async def _idle(self, timeout_s: float) -> None:
        """Wait for a nudge (or stop), at most `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)

    async def publish_pending(self) -> int:
        """Publish one batch of the outbox; return how many were sent."""
        messages = await self._store.outbox_batch(self._batch)
        if not messages:
            return 0
        sent = await self._publisher.publish(messages)
        if sent:
            await self._store.mark_published([message.position for message in messages[:sent]])
            self.published += sent
        return sent

    async def flush(self, timeout_s: float) -> bool:
        """Publish everything pending (used at shutdown); False if the time ran out."""
        try:
            async with asyncio.timeout(timeout_s):
                while await self.publish_pending():
                    pass
        except TimeoutError:
            return False
        except Exception as exc:
            logger.warning("outbox relay: flush at shutdown failed (%r); events stay stored", exc)
            return False
        return True
