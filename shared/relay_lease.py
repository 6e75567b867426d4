"""One relay at a time per outbox: a lease row in the database, renewed while it publishes.

Several instances of a service share one outbox. Without a claim each relay would publish every
event once per instance, and their interleaving would break the order of a stream's events. The
lease holder publishes; the others stand by and take over when its lease runs out (a crash) or
is released (a graceful stop).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from shared import leases
from shared.clock import utcnow
from shared.store import EventStore

logger = logging.getLogger(__name__)
LEASE_NAME = "outbox-relay"
LEASE_TTL_S = 10.0
# how often a standby asks whether the lease is free
STANDBY_RETRY_S = 1.0


class RelayLease:
    """Claimed and renewed (a third into its time, so a slow publish does not let it lapse)."""

    def __init__(self, store: EventStore, *, ttl_s: float = LEASE_TTL_S) -> None:
        self._store = store
        self._ttl = timedelta(seconds=ttl_s)
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
        self._renew_at = now + self._ttl / 3 if claimed else None
        self._next_try = now + timedelta(seconds=STANDBY_RETRY_S)
        return claimed

    async def release(self) -> None:
        """Give the lease up at once, so a standby relay takes over without waiting it out."""
        if self._renew_at is None:
            return
        async with self._store.transaction() as conn:
            await leases.release(conn, self._store.tables.relay_lease, LEASE_NAME, self.holder)
        self._renew_at = None

    async def _claim(self, now: datetime) -> bool:
        table = self._store.tables.relay_lease
        async with self._store.transaction() as conn:
            return await leases.claim(conn, table, LEASE_NAME, self.holder, now, self._ttl)
