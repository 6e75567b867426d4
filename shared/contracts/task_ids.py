"""Signed task ids: any service holding the secret can tell an issued id from a made-up one.

A task id is a UUID (version 8, RFC 9562's custom layout) whose 122 free bits hold a
58-bit random nonce and a 64-bit HMAC-SHA256 of that nonce. The job tracker answers PENDING
for a well-signed id it has not seen yet and 404 for any other, without asking todo_api.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from uuid import UUID

NONCE_BITS = 58
MAC_BITS = 64


def issue_task_id(secret: str) -> UUID:
    nonce = secrets.randbits(NONCE_BITS)
    return _pack((nonce << MAC_BITS) | _mac(secret, nonce))


def is_issued(secret: str, task_id: UUID) -> bool:
    if task_id.version != 8:
        return False
    payload = _unpack(task_id)
    nonce, mac = payload >> MAC_BITS, payload & ((1 << MAC_BITS) - 1)
    return hmac.compare_digest(mac.to_bytes(8, "big"), _mac(secret, nonce).to_bytes(8, "big"))


def parse_task_id(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def _mac(secret: str, nonce: int) -> int:
    digest = hmac.new(secret.encode(), nonce.to_bytes(8, "big"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def _pack(payload: int) -> UUID:
    # 128 bits: 48 payload | 4 version | 12 payload | 2 variant | 62 payload
    high, middle, low = payload >> 74, (payload >> 62) & 0xFFF, payload & ((1 << 62) - 1)
    return UUID(int=(high << 80) | (0x8 << 76) | (middle << 64) | (0b10 << 62) | low)


def _unpack(task_id: UUID) -> int:
    value = task_id.int
    high, middle, low = value >> 80, (value >> 64) & 0xFFF, value & ((1 << 62) - 1)
    return (high << 74) | (middle << 62) | low
