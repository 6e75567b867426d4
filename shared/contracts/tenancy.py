"""Whose data an event is and who made it: the tenant and the actor every envelope carries.

The tenant is the one whose todos and jobs an event is about; the actor is who acted: a
principal's subject (`api-key:<id>`, an OIDC subject, `anonymous`) or a service doing its own
part of a job (`service:<name>`). Together they are the audit trail: export and replay keep them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# AUTH_MODE=none's one tenant, and the tenant of every event stored before events carried one
ANONYMOUS_TENANT = "anonymous"
ANONYMOUS_ACTOR = "anonymous"
# the longest tenant or actor an envelope holds
MAX_NAME_CHARS = 255


@dataclass(frozen=True)
class Origin:
    tenant: str
    actor: str


ANONYMOUS_ORIGIN = Origin(tenant=ANONYMOUS_TENANT, actor=ANONYMOUS_ACTOR)


def service_actor(service: str) -> str:
    """The actor of what a service records on its own, in a tenant's job."""
    return f"service:{service}"


def tenant_folder(tenant: str) -> str:
    """A tenant's folder name in the blob store: a digest, since a tenant's name may hold any
    character, a slash included."""
    return hashlib.sha256(tenant.encode()).hexdigest()[:32]
