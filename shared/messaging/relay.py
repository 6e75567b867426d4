"""The outbox relay: stored events reach the topic, in order, however long the broker is away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from shared.eventstore.store import OutboxRow
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
# how many positions a relay remembers having published (see RecentPositions)
RECENT_POSITIONS = 10_000


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


class RecentPositions:
    """The positions published last: a row a commit told the relay of, which a read had
    already found and published before the telling arrived, is not sent twice."""

    def __init__(self, size: int = RECENT_POSITIONS) -> None:
        self._size = size
        self._order: deque[int] = deque()
        self._known: set[int] = set()

    def add(self, positions: Iterable[int]) -> None:
        for position in positions:
            if position not in self._known:
                self._order.append(position)
                self._known.add(position)
        while len(self._order) > self._size:
            self._known.discard(self._order.popleft())

    def __contains__(self, position: object) -> bool:
        return position in self._known


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
        # the rows commits in this process queued since the last turn (notify)
        self._told: list[Outgoing] = []
        # when the last read that left nothing behind in the outbox began (None: unknown)
        self._emptied_at: float | None = None
        self._recent = RecentPositions()
        self._stopped = asyncio.Event()
        self._stopping = False
        self.published = 0
        self.failures = 0

    def __repr__(self) -> str:
        return (
            f"<OutboxRelay published={self.published} failures={self.failures} "
            f"set_aside={len(self._refused.retry_at)} lease_held={self._lease.held}>"
        )

    def notify(self, committed: Sequence[OutboxRow] = ()) -> None:
        """Something was just committed: publish now instead of at the next poll. `committed`:
        the rows a commit in this process queued, which the next turn may send as they are,
        without reading them back (see _publish_turn)."""
        self._told.extend(Outgoing(*row) for row in committed)
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
            told, self._told = self._told, []
            try:
                before = self.published
                drained = await self._publish_turn(told)
                failures_in_a_row = 0
            except Exception as exc:
                self._emptied_at = None
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
                # the outbox is empty: what commits next nudges the relay, and it reads again a
                # poll interval after its last read (another process's commits, no nudge here)
                await self._idle(self._until_next_read())

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

    async def _publish_turn(self, told: list[Outgoing]) -> bool:
        """One turn: the rows this process's commits told of, sent as they are when a read would
        find nothing else (_told_suffice); otherwise one read of the outbox. True when that was
        all there was (or the outbox is not ours)."""
        if not (told and self._told_suffice()):
            return await self._publish_read()
        if not await self._lease.hold():
            self._emptied_at = None
            return True
        # a read that began after their commit may have published them before they were told
        unsent = sorted(
            (message for message in told if message.position not in self._recent),
            key=lambda message: message.position,
        )
        if not await self._publish_all(unsent):
            self._emptied_at = None
        return True

    def _until_next_read(self) -> float:
        if self._emptied_at is None:
            return self._poll_interval_s
        return max(0.0, self._poll_interval_s - (time.monotonic() - self._emptied_at))

    def _told_suffice(self) -> bool:
        """Whether a read now would find only rows told since: the last read left the outbox
        empty (nothing set aside either) less than a poll interval ago. What another process
        commits meanwhile, or an entry refused since whose wait ends, waits for the next read at
        most a poll interval, as it would while this relay idles."""
        if self._emptied_at is None:
            return False
        return time.monotonic() - self._emptied_at < self._poll_interval_s

    async def _publish_read(self) -> bool:
        """Publish one read of the outbox; True when it was all there was (or not ours)."""
        if not await self._lease.hold():
            self._emptied_at = None
            return True
        began = time.monotonic()
        messages = await self._outbox.pending(self._batch, skip=self._refused.waiting())
        if not await self._publish_all(messages):
            self._emptied_at = None
            return True
        drained = len(messages) < self._batch
        self._emptied_at = began if drained and not self._refused.retry_at else None
        return drained

    async def _publish_all(self, messages: list[Outgoing]) -> bool:
        """Publish `messages` in batches; False when the lease was lost on the way."""
        for index, batch in enumerate(outgoing_batches(messages)):
            # asked again before each batch: a lease lost during the last one ends the read
            if index and not await self._lease.hold():
                return False
            try:
                await self._publish(batch)
            except LeaseLostError as exc:
                # another relay holds the outbox now and publishes these rows itself: what this
                # one just sent goes out twice (inboxes absorb it), nothing more does
                logger.warning("outbox relay: lease lost during a publish (%s); standing by", exc)
                return False
        return True

    async def _publish(self, batch: list[Outgoing]) -> int:
        started = time.perf_counter()
        async with self._lease.kept():
            refused = await self._publisher.publish(batch)
        accepted = [message.position for message in batch if message.position not in refused]
        if accepted:
            await self._outbox.mark_published(accepted)
            self._recent.add(accepted)
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
