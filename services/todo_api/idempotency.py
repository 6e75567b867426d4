"""Idempotency-Key: a client retrying a POST with the same key gets the first answer again.

A key is its tenant's own: another tenant's request with the same key is another request. The
key's uses are events in the service's own log, on the stream
`idempotency-<sha256 of the tenant>-<sha256 of the key>` (the anonymous tenant's keep their older
`idempotency-<sha256 of the key>`: shared/contracts/streams.py), appended in the transaction of
the effect they answer, so replay and export keep them and two concurrent requests with one key
conflict on the stream's version: one effect, one answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.contracts.events import IdempotencyKeyUsed

HEADER = "Idempotency-Key"
# how long a key answers with its first answer; after that it starts afresh
KEY_WINDOW = timedelta(hours=24)
MAX_KEY_CHARS = 255


class KeyReusedError(Exception):
    """The key answered another request (another body) within the window."""


@dataclass(frozen=True)
class KeyedRequest:
    """A request sent with an Idempotency-Key: the key, and a digest of what was asked."""

    key: str
    request_sha256: str

    @classmethod
    def of(cls, key: str, method: str, path: str, body: str = "") -> KeyedRequest:
        """`body` canonical (the validated model as JSON), so spacing never tells retries apart."""
        digest = hashlib.sha256("\n".join((method, path, body)).encode()).hexdigest()
        return cls(key, digest)


def parse_key(raw: str | None) -> str | None:
    """The header's key (None: not sent); ValueError unless 1 to 255 printable ASCII characters."""
    if raw is None:
        return None
    if not 0 < len(raw) <= MAX_KEY_CHARS or not all(" " <= char <= "~" for char in raw):
        raise ValueError(f"{HEADER} must be 1 to {MAX_KEY_CHARS} printable ASCII characters")
    return raw


def earlier_answer(
    uses: Sequence[IdempotencyKeyUsed], request: KeyedRequest, now: datetime
) -> IdempotencyKeyUsed | None:
    """The answer the key gave within the window (None: none, answer afresh).

    KeyReusedError when it answered another request.
    """
    if not uses or now - uses[-1].used_at >= KEY_WINDOW:
        return None
    if uses[-1].request_sha256 != request.request_sha256:
        raise KeyReusedError(f"{HEADER} was used for another request in the last 24 hours")
    return uses[-1]
