"""Signed task ids: any service holding the secret can tell an issued id from a made-up one.

A task id is a UUID (version 8, RFC 9562's custom layout) whose 122 free bits hold a
58-bit random nonce and a 64-bit HMAC-SHA256 of that nonce and the tenant it was issued to. The
job tracker answers PENDING for an id issued to the asking tenant that it has not seen yet, and
404 for any other (another tenant's included), without asking todo_api.

The anonymous tenant's ids sign the nonce alone, as every id did before tenants: the ids handed
out then stay valid.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from uuid import UUID

from shared.contracts.tenancy import ANONYMOUS_TENANT

NONCE_BITS = 58
MAC_BITS = 64


def issue_task_id(secret: str, tenant: str) -> UUID:
    nonce = secrets.randbits(NONCE_BITS)
    return _pack((nonce << MAC_BITS) | _mac(secret, nonce, tenant))


def is_issued(secret: str, task_id: UUID, tenant: str) -> bool:
    """Whether `task_id` was issued to `tenant` with `secret`."""
    if task_id.version != 8:
        return False
    payload = _unpack(task_id)
    nonce, mac = payload >> MAC_BITS, payload & ((1 << MAC_BITS) - 1)
    expected = _mac(secret, nonce, tenant).to_bytes(8, "big")
    return hmac.compare_digest(mac.to_bytes(8, "big"), expected)


def parse_task_id(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def _mac(secret: str, nonce: int, tenant: str) -> int:
    signed = nonce.to_bytes(8, "big")
    if tenant != ANONYMOUS_TENANT:
        signed += tenant.encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def _pack(payload: int) -> UUID:
    # 128 bits: 48 payload | 4 version | 12 payload | 2 variant | 62 payload
    high, middle, low = payload >> 74, (payload >> 62) & 0xFFF, payload & ((1 << 62) - 1)
    return UUID(int=(high << 80) | (0x8 << 76) | (middle << 64) | (0b10 << 62) | low)


def _unpack(task_id: UUID) -> int:
    value = task_id.int
    high, middle, low = value >> 80, (value >> 64) & 0xFFF, value & ((1 << 62) - 1)
    return (high << 74) | (middle << 62) | low
