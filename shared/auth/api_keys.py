"""API keys for programs: their format, making one, reading one back, checking its secret.

A key reads `tok_<id>_<secret>`: the id (8 characters) names the stored key and is safe to show
and log; the secret (32 random bytes, URL-safe base64) is shown once, when the key is made, and
only its hash is kept. Pure: no I/O, nothing raises on input from a client.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.auth.principal import ROLES, Principal, Role

PREFIX = "tok_"
KEY_ID_LENGTH = 8
# lowercase letters and digits only, so the id never holds the separator and reads aloud well
KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
SECRET_BYTES = 32
# token_urlsafe(32) is 43 characters; a few more are accepted for keys made with more bytes
_KEY = re.compile(r"tok_([a-z0-9]{8})_([A-Za-z0-9_-]{43,128})")
# longer than any key we make: anything longer is refused before a regular expression reads it
MAX_KEY_CHARS = len(PREFIX) + KEY_ID_LENGTH + 1 + 128
_KEY_ID = re.compile(r"[a-z0-9]{8}")


@dataclass(frozen=True)
class ApiKey:
    """A key as a client presents it. `repr` hides the secret, so a logged key leaks nothing."""

    key_id: str
    secret: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.key_id}_{self.secret}"

    def __repr__(self) -> str:
        return f"ApiKey(key_id={self.key_id!r}, secret=<hidden>)"


def new_key() -> ApiKey:
    """A fresh key: a random id and a secret of SECRET_BYTES random bytes."""
    key_id = "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))
    return ApiKey(key_id=key_id, secret=secrets.token_urlsafe(SECRET_BYTES))


def parse_key(text: object) -> ApiKey | None:
    """The key `text` spells, or None for anything else (never raises, whatever it is given)."""
    if not isinstance(text, str) or len(text) > MAX_KEY_CHARS:
        return None
    found = _KEY.fullmatch(text)
    return None if found is None else ApiKey(key_id=found[1], secret=found[2])


def looks_like_key(text: str) -> bool:
    """Whether a credential claims to be an API key (it may still be malformed)."""
    return text.startswith(PREFIX)


def is_key_id(text: object) -> bool:
    return isinstance(text, str) and _KEY_ID.fullmatch(text) is not None


def secret_hash(secret: str) -> str:
    """What is stored in place of the secret.

    A plain SHA-256 is enough here, unlike for passwords: the secret is 256 random bits, so no
    dictionary or brute-force search of the hash can find it, and a slow password hash (bcrypt,
    Argon2) would add its cost to every request without making the key any harder to guess.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(key: ApiKey, stored_hash: str) -> bool:
    """Whether the key's secret is the one whose hash was stored, in constant time."""
    return hmac.compare_digest(secret_hash(key.secret), stored_hash)


@dataclass(frozen=True)
class StoredKey:
    """A key as the database keeps it: whom it acts as, and the hash of its secret."""

    key_id: str
    tenant: str
    roles: frozenset[Role]
    label: str
    secret_sha256: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def principal(self) -> Principal:
        return Principal(tenant=self.tenant, subject=f"api-key:{self.key_id}", roles=self.roles)

    def needs_use_noted(self, now: datetime) -> bool:
        """Whether a use at `now` should be written: at most once a USE_NOTE_INTERVAL, so keys
        cost no write per request."""
        return self.last_used_at is None or now - self.last_used_at >= USE_NOTE_INTERVAL


# how stale a key's last_used_at may get: a use is written at most this often
USE_NOTE_INTERVAL = timedelta(minutes=1)


def known_roles(names: Iterable[str]) -> frozenset[Role]:
    """The roles among `names`; anything else is dropped (a stored key never gains one)."""
    return frozenset(role for role in ROLES if role in set(names))
