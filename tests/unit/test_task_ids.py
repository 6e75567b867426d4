"""Signed task ids: an id is issued to one tenant, and only that tenant's requests find it issued;
the anonymous tenant's ids are signed as every id was before tenants, so those stay valid."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from uuid import uuid4

from shared.contracts.task_ids import MAC_BITS, NONCE_BITS, _pack, is_issued, issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT

SECRET = "task-secret"


def test_an_id_is_issued_to_its_tenant_only() -> None:
    task_id = issue_task_id(SECRET, "acme")

    assert is_issued(SECRET, task_id, "acme")
    assert not is_issued(SECRET, task_id, "globex")
    assert not is_issued(SECRET, task_id, ANONYMOUS_TENANT)
    assert not is_issued("another-secret", task_id, "acme")


def test_a_made_up_id_is_issued_to_nobody() -> None:
    assert not is_issued(SECRET, uuid4(), ANONYMOUS_TENANT)


def test_an_id_signed_before_tenants_is_the_anonymous_tenants() -> None:
    # the nonce alone under the secret: how every id was signed before ids had a tenant
    nonce = secrets.randbits(NONCE_BITS)
    digest = hmac.new(SECRET.encode(), nonce.to_bytes(8, "big"), hashlib.sha256).digest()
    before = _pack((nonce << MAC_BITS) | int.from_bytes(digest[:8], "big"))

    assert is_issued(SECRET, before, ANONYMOUS_TENANT)
    assert not is_issued(SECRET, before, "acme")
    assert is_issued(SECRET, issue_task_id(SECRET, ANONYMOUS_TENANT), ANONYMOUS_TENANT)
