"""The outbox relay: stored events reach the topic, in order, however long the broker is away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from shared.messaging.outbox import LeaseLostError, Outbox
from shared.messaging.publisher import Outgoing, Publisher, Refused, outgoing_batches
from shared.observability.metrics import Metrics, RelayMetrics
from shared.retry import backoff_delay

logger = logging.getLogger(__name__)
# while the broker is unreachable: the first pause, doubled after each failure up to the longest
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
# an entry SNS refuses on its own waits this long at first, then doubled, at most the longest
FIRST_REFUSED_BACKOFF_S = 2.0
MAX_REFUSED_BACKOFF_S = 300.0


@dataclass
class RefusedEntries:
    """Entries refused on their own, set aside with backoff so the rest of the outbox flows."""

    retry_at: dict[int, float] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)

    def waiting(self) -> list[int]:
        now = time.monotonic()
        return [position for position, due in self.retry_at.items() if due > now]

    def note(self, refused: Refused) -> None:
        for position, reason in refused.items():
            attempts = self.attempts.get(position, 0) + 1
            self.attempts[position] = attempts
            delay_s = backoff_delay(
                attempts, base_s=FIRST_REFUSED_BACKOFF_S, cap_s=MAX_REFUSED_BACKOFF_S
            )
            self.retry_at[position] = time.monotonic() + delay_s
            logger.error(
                "outbox relay: SNS refused the event at position %d (%s); attempt %d, "
                "next try in %.0fs",
                position,
                reason,
                attempts,
                delay_s,
            )

    def forget(self, positions: list[int]) -> None:
        for position in positions:
            self.retry_at.pop(position, None)
            self.attempts.pop(position, None)


class Lease(Protocol):
    """Whether this relay may publish the outbox now (one of several: relay_lease.py)."""

    @property
    def held(self) -> bool: ...

    async def hold(self) -> bool:
        """True while this relay may publish: take the lease, or keep it."""
        ...

    def kept(self) -> AbstractAsyncContextManager[None]:
        """Keep the lease through one publish; TimeoutError if it outlasts what the lease
        allows (the relay lease: renewed meanwhile, and bounded at half its time)."""
        ...

    async def release(self) -> None:
        """Give the lease up, so another relay takes over at once."""
        ...


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        *,
        lease: Lease,
        poll_interval_s: float,
        batch: int = 50,
        batch_window_s: float = 0.0,
        metrics: RelayMetrics | None = None,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._poll_interval_s = poll_interval_s
        # see shared/settings.py, batch_window_ms
        self._batch_window_s = batch_window_s
        self._batch = batch
        self._lease = lease
        self._refused = RefusedEntries()
        self._metrics = metrics or Metrics().relay
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self.published = 0
        self.failures = 0

    def __repr__(self) -> str:
        return (
            f"<OutboxRelay published={self.published} failures={self.failures} "
            f"set_aside={len(self._refused.retry_at)} lease_held={self._lease.held}>"
        )

    def notify(self) -> None:
        """Something was just committed: publish now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the batch in hand, then return from run()."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; back off with jitter while the broker is unreachable."""
        failures_in_a_row = 0
        while not self._stopping:
            # cleared before reading the outbox, so a commit during the read is never missed
            self._wake.clear()
            try:
                before = self.published
                drained = await self._publish_read()
                failures_in_a_row = 0
            except Exception as exc:
                self.failures += 1
                self._metrics.failures.inc()
                failures_in_a_row += 1
                backoff_s = backoff_delay(
                    failures_in_a_row, base_s=FIRST_BACKOFF_S, cap_s=MAX_BACKOFF_S
                )
                logger.warning("outbox relay: publish failed (%r), retry in ~%.1fs", exc, backoff_s)
                await self._idle(backoff_s)
                continue
            if drained and self.published - before >= 2 and self._batch_window_s:
                # several events at once: traffic is steady, so the next publish waits a moment
                # and carries more of them instead of costing a request per event or two
                await self._pause(self._batch_window_s)
            elif drained:
                # the outbox is empty: what commits next nudges the relay
                await self._idle(self._poll_interval_s)

    async def _pause(self, seconds: float) -> None:
        """Gather for `seconds`, nudges or not (the next read takes all of it); stop cuts it."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    async def _idle(self, timeout_s: float) -> None:
        """Wait for a nudge (or stop), at most `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)

    async def publish_pending(self) -> int:
        """Publish one read of the outbox, if this relay holds the lease; return how many."""
        before = self.published
        await self._publish_read()
        return self.published - before

    async def _publish_read(self) -> bool:
        """Publish one read of the outbox; True when it was all there was (or not ours)."""
        if not await self._lease.hold():
            return True
        messages = await self._outbox.pending(self._batch, skip=self._refused.waiting())
        for index, batch in enumerate(outgoing_batches(messages)):
            # asked again before each batch: a lease lost during the last one ends the read
            if index and not await self._lease.hold():
                return True
            try:
                await self._publish(batch)
            except LeaseLostError as exc:
                # another relay holds the outbox now and publishes these rows itself: what this
                # one just sent goes out twice (inboxes absorb it), nothing more does
                logger.warning("outbox relay: lease lost during a publish (%s); standing by", exc)
                return True
        return len(messages) < self._batch

    async def _publish(self, batch: list[Outgoing]) -> int:
        started = time.perf_counter()
        async with self._lease.kept():
            refused = await self._publisher.publish(batch)
        accepted = [message.position for message in batch if message.position not in refused]
        if accepted:
            await self._outbox.mark_published(accepted)
            self._refused.forget(accepted)
            self.published += len(accepted)
            self._metrics.published.inc(len(accepted))
        self._metrics.publish_duration.observe(time.perf_counter() - started)
        self._refused.note(refused)
        return len(accepted)

    async def backlog(self) -> int:
        """How many events wait in the outbox, this relay's or another instance's to publish."""
        return await self._outbox.backlog()

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

    async def release(self) -> None:
        """Hand the outbox to another instance's relay (after the flush at shutdown)."""
        try:
            await self._lease.release()
        except Exception as exc:
            logger.warning("outbox relay: could not release its lease (%r); it expires", exc)
