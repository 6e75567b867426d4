"""Each tenant's calendar feed URL, for calendar apps, which cannot send credentials: a secret
in the path stands for them. Issued (replacing any earlier one: a rotation) and revoked as events
on the tenant's `feed-secret-` stream, and found through their projection
(feed_secret_projection.py) by the secret's SHA-256: the secret is shown once, when issued, and
stored nowhere."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.todo_api.feed_secret_projection import project_feed_secrets
from services.todo_api.tables import feed_secrets
from shared.auth.api_keys import secret_hash
from shared.clock import utcnow
from shared.contracts.events import FeedSecretIssued, FeedSecretRevoked
from shared.contracts.streams import feed_secret_stream_id
from shared.contracts.tenancy import Origin
from shared.eventstore.store import ConcurrencyError, EventStore

SECRET_BYTES = 32
# what secrets.token_urlsafe(SECRET_BYTES) makes: 43 characters of URL-safe base64, unpadded
SECRET_FORM = re.compile(r"[A-Za-z0-9_-]{43}")
# two writes to one tenant's stream at once: the later one reads the stream again
WRITE_ATTEMPTS = 3

Event = FeedSecretIssued | FeedSecretRevoked


@dataclass(frozen=True)
class IssuedSecret:
    secret: str
    issued_at: datetime


class FeedSecrets:
    """The tenants' calendar feed secrets on the service's event store."""

    def __init__(self, store: EventStore, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock

    async def issue(self, origin: Origin) -> IssuedSecret:
        """A new secret for `origin`'s tenant; the one it had before is found no more."""
        issued = IssuedSecret(secrets.token_urlsafe(SECRET_BYTES), self._clock())
        event = FeedSecretIssued(
            secret_sha256=secret_hash(issued.secret), issued_at=issued.issued_at
        )
        await self._record(origin, lambda _current: event)
        return issued

    async def revoke(self, origin: Origin) -> None:
        """`origin`'s tenant has no feed URL from now on; nothing to do if it had none."""
        revoked = FeedSecretRevoked(revoked_at=self._clock())
        await self._record(origin, lambda current: revoked if current is not None else None)

    async def issued_at(self, tenant: str) -> datetime | None:
        """When the tenant's current secret was issued; None: it has none."""
        async with self._store.reading() as conn:
            return await _issued_at(conn, tenant)

    async def tenant_of(self, secret: str) -> str | None:
        """The tenant whose current secret this is; None for any other text."""
        if not SECRET_FORM.fullmatch(secret):
            return None
        query = select(feed_secrets.c.tenant).where(
            feed_secrets.c.secret_sha256 == secret_hash(secret)
        )
        async with self._store.reading() as conn:
            found: str | None = (await conn.execute(query)).scalar_one_or_none()
        return found

    async def _record(
        self, origin: Origin, decide: Callable[[datetime | None], Event | None]
    ) -> None:
        """Append what `decide` makes of the tenant's current issue time, if anything, and
        project it, in one transaction."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await self._append(origin, decide)
                return
            except ConcurrencyError:
                if attempt == WRITE_ATTEMPTS:
                    raise

    async def _append(
        self, origin: Origin, decide: Callable[[datetime | None], Event | None]
    ) -> None:
        stream = feed_secret_stream_id(origin.tenant)
        async with self._store.transaction() as conn:
            event = decide(await _issued_at(conn, origin.tenant))
            if event is None:
                return
            version = await _stream_version(conn, self._store, stream)
            appended = await self._store.append(conn, stream, version, [event], origin=origin)
            await project_feed_secrets(conn, appended)


async def _issued_at(conn: AsyncConnection, tenant: str) -> datetime | None:
    query = select(feed_secrets.c.issued_at).where(feed_secrets.c.tenant == tenant)
    found: datetime | None = (await conn.execute(query)).scalar_one_or_none()
    return found


async def _stream_version(conn: AsyncConnection, store: EventStore, stream: str) -> int:
    """The stream's last version (0: none yet), without reading every rotation before it."""
    events = store.tables.events
    query = select(func.coalesce(func.max(events.c.stream_version), 0)).where(
        events.c.stream_id == stream
    )
    return int((await conn.execute(query)).scalar_one())
