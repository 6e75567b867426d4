"""The names of the event streams: which stream of the log each kind of event is appended to.

Stored events carry these names, and a stream is loaded by its name: a name changed here would
leave every stream already written behind. The services, the replay tools and the tests all
name streams through this module only.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

from shared.contracts.tenancy import ANONYMOUS_TENANT

# one todo's life: created, updated, deleted
TODO_PREFIX = "todo-"
# one calendar job as the API saw it: requested, cancelled
CALENDAR_PREFIX = "calendar-"
# one calendar job as the worker ran it; its versions order the job's start, outcome and cancel
RENDER_PREFIX = "render-"
# one calendar job's progress reports, apart from its render stream
PROGRESS_PREFIX = "progress-"
# the uses of one tenant's idempotency key, named by hashes of the tenant and the key (either may
# be any text)
IDEMPOTENCY_PREFIX = "idempotency-"
# one API key's life: issued, revoked (named by its public id, never its secret)
API_KEY_PREFIX = "api-key-"
# one tenant's calendar feed URLs: issued, revoked (named by a hash of the tenant, any text)
FEED_SECRET_PREFIX = "feed-secret-"
# one dead letter's discard, named by its DLQ and message id: a second discard finds it taken
DEAD_LETTER_PREFIX = "dead-letter-"


def todo_stream_id(todo_id: int) -> str:
    return f"{TODO_PREFIX}{todo_id}"


def calendar_stream_id(task_id: UUID) -> str:
    return f"{CALENDAR_PREFIX}{task_id}"


def render_stream_id(task_id: UUID) -> str:
    return f"{RENDER_PREFIX}{task_id}"


def progress_stream_id(task_id: UUID) -> str:
    return f"{PROGRESS_PREFIX}{task_id}"


def idempotency_stream_id(key: str, tenant: str) -> str:
    """Each tenant's keys apart, so two tenants' requests with one key are two requests."""
    key_digest = _digest(key)
    # the name the anonymous tenant's keys had before keys were per tenant: keys stored then
    # still answer their retries
    if tenant == ANONYMOUS_TENANT:
        return f"{IDEMPOTENCY_PREFIX}{key_digest}"
    return f"{IDEMPOTENCY_PREFIX}{_digest(tenant)}-{key_digest}"


def api_key_stream_id(key_id: str) -> str:
    return f"{API_KEY_PREFIX}{key_id}"


def feed_secret_stream_id(tenant: str) -> str:
    return f"{FEED_SECRET_PREFIX}{_digest(tenant)}"


def dead_letter_stream_id(queue: str, message_id: str) -> str:
    return f"{DEAD_LETTER_PREFIX}{queue}-{message_id}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
