"""The API keys in todo_api's store: issued and revoked as events on `api-key-<id>` streams, read
from their projection (key_projection.py), which every request with a key consults.

Operators issue, list and revoke keys through the tool face; the authentication middleware finds
keys and notes their use here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum

from services.todo_api.key_projection import project_keys
from services.todo_api.tables import api_keys
from shared.auth.api_keys import ApiKey, is_key_id, known_roles, matches, new_key, secret_hash
from shared.auth.key_directory import SqlKeyDirectory
from shared.auth.principal import ROLES, Role
from shared.clock import utcnow
from shared.contracts.events import ApiKeyIssued, ApiKeyRevoked
from shared.contracts.streams import api_key_stream_id
from shared.contracts.tenancy import ANONYMOUS_TENANT, Origin
from shared.eventstore.store import ConcurrencyError, EventStore

MAX_TEXT_CHARS = 255
# a new key's id is drawn again if it was taken (1 in 36^8 per key issued before)
ISSUE_ATTEMPTS = 5


class Revocation(Enum):
    REVOKED = "revoked"
    ALREADY_REVOKED = "already revoked"
    UNKNOWN = "unknown"


class KeyBook(SqlKeyDirectory):
    """The keys on the service's event store: issued and revoked here, found and listed as in
    any service's key directory."""

    def __init__(self, store: EventStore, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(store, api_keys)
        self._clock = clock

    async def issue(
        self, *, tenant: str, roles: Iterable[str], label: str, issued_by: str
    ) -> ApiKey:
        """Make a key for `tenant` with `roles`; the one time its secret is known. ValueError
        for an empty or over-long tenant or label, the anonymous tenant, or roles that are none
        or unknown."""
        chosen = _roles(roles)
        if tenant == ANONYMOUS_TENANT:
            # AUTH_MODE=none's tenant: a key for it would reach the data of everyone without one
            raise ValueError(f"the tenant {ANONYMOUS_TENANT!r} is reserved for AUTH_MODE=none")
        for text, what in ((tenant, "tenant"), (label, "label"), (issued_by, "issuer")):
            if not text.strip() or len(text) > MAX_TEXT_CHARS:
                raise ValueError(f"the {what} must be 1 to {MAX_TEXT_CHARS} characters")
        for _ in range(ISSUE_ATTEMPTS - 1):
            with contextlib.suppress(ConcurrencyError):
                return await self._record_new_key(tenant, chosen, label, issued_by)
        return await self._record_new_key(tenant, chosen, label, issued_by)

    async def still_serves(self, key: ApiKey, *, tenant: str, roles: Iterable[str]) -> bool:
        """Whether `key` is issued, not revoked, and acts for `tenant` with exactly `roles`: what
        a key kept by automation must still be to be kept rather than replaced."""
        stored = await self.find(key.key_id)
        return (
            stored is not None
            and stored.revoked_at is None
            and matches(key, stored.secret_sha256)
            and stored.tenant == tenant
            and stored.roles == known_roles(roles)
        )

    async def _record_new_key(
        self, tenant: str, roles: frozenset[Role], label: str, issued_by: str
    ) -> ApiKey:
        """Append a new key's ApiKeyIssued as its stream's first event; ConcurrencyError when
        its random id was taken."""
        key = new_key()
        event = ApiKeyIssued(
            key_id=key.key_id,
            tenant=tenant,
            roles=tuple(sorted(roles)),
            label=label,
            secret_sha256=secret_hash(key.secret),
            issued_by=issued_by,
            issued_at=self._clock(),
        )
        async with self._store.transaction() as conn:
            stream = api_key_stream_id(key.key_id)
            origin = Origin(tenant=tenant, actor=issued_by)
            appended = await self._store.append(conn, stream, 0, [event], origin=origin)
            await project_keys(conn, appended)
        return key

    async def revoke(self, key_id: str, *, revoked_by: str) -> Revocation:
        """Refuse the key from now on, on every instance (they read the table per request)."""
        if not is_key_id(key_id):
            return Revocation.UNKNOWN
        async with self._store.transaction() as conn:
            stream = api_key_stream_id(key_id)
            stored = await self._store.load(stream, conn)
            history = [envelope.data for envelope in stored]
            if not history:
                return Revocation.UNKNOWN
            if any(isinstance(event, ApiKeyRevoked) for event in history):
                return Revocation.ALREADY_REVOKED
            revoked = ApiKeyRevoked(key_id=key_id, revoked_by=revoked_by, revoked_at=self._clock())
            origin = Origin(tenant=stored[0].tenant, actor=revoked_by)
            appended = await self._store.append(
                conn, stream, len(history), [revoked], origin=origin
            )
            await project_keys(conn, appended)
        return Revocation.REVOKED


def _roles(names: Iterable[str]) -> frozenset[Role]:
    given = set(names)
    unknown = sorted(given - set(ROLES))
    if unknown or not given:
        choices = ", ".join(sorted(ROLES))
        said = f"unknown role {unknown[0]!r}" if unknown else "no role given"
        raise ValueError(f"{said}: a key has one or more of {choices}")
    return known_roles(given)
