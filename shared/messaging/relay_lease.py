"""One relay at a time per outbox: a lease row in the database, renewed while it publishes.

Several instances of a service share one outbox. Without a claim each relay would publish every
event once per instance, and their interleaving would break the order of a stream's events. The
lease holder publishes; the others stand by and take over when its lease runs out (a crash) or
is released (a graceful stop).

The lease is a fence, not only a claim: a publish runs inside `kept()`, which renews the lease
while the publish waits and abandons a publish that has not returned within `publish_limit_s`
(half the lease), so a live relay never publishes on a lease that ran out; and `confirm()` checks
the lease in the transaction that deletes the published rows, so a relay whose publish outlived
its lease anyway (a paused process: its timers cannot fire) deletes nothing and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.eventstore import leases
from shared.eventstore.store import EventStore

logger = logging.getLogger(__name__)
LEASE_NAME = "outbox-relay"
LEASE_TTL_S = 10.0
# how often a standby asks whether the lease is free
STANDBY_RETRY_S = 1.0


class RelayLease:
    """Claimed and renewed a third into its time, also while a publish waits on SNS."""

    def __init__(
        self, store: EventStore, *, ttl_s: float = LEASE_TTL_S, publish_limit_s: float | None = None
    ) -> None:
        self._store = store
        self._ttl = timedelta(seconds=ttl_s)
        # a publish starts on a lease with at least two thirds of its time left (hold() renews
        # it a third in): bounded at half, it ends while the lease is still this relay's
        self.publish_limit_s = ttl_s / 2 if publish_limit_s is None else publish_limit_s
        self.holder = uuid.uuid4().hex
        # while held: when to renew (well before it expires); while not: when to ask again
        self._renew_at: datetime | None = None
        self._next_try = datetime.min

    @property
    def held(self) -> bool:
        return self._renew_at is not None

    async def hold(self) -> bool:
        """True while this relay may publish: claim the lease, or renew it when due."""
        now = utcnow()
        if self._renew_at is not None and now < self._renew_at:
            return True
        if self._renew_at is None and now < self._next_try:
            return False
        claimed = await self._claim(now)
        if claimed and self._renew_at is None:
            logger.info("outbox relay %s now publishes for this service", self.holder[:8])
        elif not claimed and self._renew_at is not None:
            logger.warning("outbox relay %s lost its lease to another relay", self.holder[:8])
        self._renew_at = now + self._ttl / 3 if claimed else None
        self._next_try = now + timedelta(seconds=STANDBY_RETRY_S)
        return claimed

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        """Renew the lease while the body (a publish) runs; TimeoutError once it has run for
        `publish_limit_s`, before the lease it started on could run out."""
        renewing = asyncio.create_task(self._keep_renewing())
        try:
            async with asyncio.timeout(self.publish_limit_s):
                yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def confirm(self, conn: AsyncConnection) -> bool:
        """In the caller's transaction: renew the lease if it is still this relay's, and hold
        its row until the commit; False (and the lease let go) when another relay has it."""
        table = self._store.tables.relay_lease
        if await leases.renew(conn, table, LEASE_NAME, self.holder, utcnow(), self._ttl):
            return True
        if self._renew_at is not None:
            logger.warning("outbox relay %s lost its lease during a publish", self.holder[:8])
        self._renew_at = None
        self._next_try = utcnow() + timedelta(seconds=STANDBY_RETRY_S)
        return False

    async def release(self) -> None:
        """Give the lease up at once, so a standby relay takes over without waiting it out."""
        if self._renew_at is None:
            return
        async with self._store.transaction() as conn:
            await leases.release(conn, self._store.tables.relay_lease, LEASE_NAME, self.holder)
        self._renew_at = None

    async def _keep_renewing(self) -> None:
        while self._renew_at is not None:
            await asyncio.sleep(max(0.0, (self._renew_at - utcnow()).total_seconds()))
            try:
                await self.hold()
            except Exception as exc:
                # the database is away: the publish limit ends the publish before the lease
                logger.warning("outbox relay: could not renew its lease (%r)", exc)
                await asyncio.sleep(STANDBY_RETRY_S)

    async def _claim(self, now: datetime) -> bool:
        table = self._store.tables.relay_lease
        if self._store.engine.dialect.name != "postgresql":
            async with self._store.transaction() as conn:
                return await leases.claim(conn, table, LEASE_NAME, self.holder, now, self._ttl)
        # one statement, committed on its own: a relay paused (or cut off) between its claim and
        # a COMMIT would leave the lease row locked, and every standby's claim waiting on it
        autocommit = self._store.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as conn:
            return await leases.claim(conn, table, LEASE_NAME, self.holder, now, self._ttl)
