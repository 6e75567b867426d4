"""What operators' tools (scripts/, bench/) may use of todo_api; everything else is internal.

The import rules (pyproject.toml, `lint-imports`) let tools import this module only: it is
the service's tool face.
"""

from __future__ import annotations

# the API keys, which `python -m scripts.admin keys` issues, lists and revokes
from services.todo_api.key_book import KeyBook, Revocation
from services.todo_api.projection import TodoFold, after_rebuild
from services.todo_api.snapshots import SnapshotGoneError, published_form
from services.todo_api.tables import SCHEMA, todos
from shared.contracts.topology import QueueSpec
from shared.eventstore.store import PublishedForm

__all__ = [
    "INBOX_CONSUMER",
    "PROJECTION_ID_COLUMN",
    "PROJECTION_TABLE",
    "PUBLISHED_FORM",
    "QUEUE",
    "SCHEMA",
    "KeyBook",
    "Revocation",
    "SnapshotGoneError",
    "TodoFold",
    "after_rebuild",
]

# todo_api consumes no queue, so it keeps no inbox either
QUEUE: QueueSpec | None = None
INBOX_CONSUMER: str | None = None
# its log keeps a calendar request's snapshot by reference: republish makes it whole first
PUBLISHED_FORM: PublishedForm | None = published_form

# the todo list, rebuilt by folding the log into a TodoFold; `after_rebuild` runs in the swap so
# that no id of the log is handed out again and the calendar feed's tag changes, and refolds the
# API keys and the calendar feed URLs (their tables are small: rewritten whole in the swap)
PROJECTION_TABLE = todos
PROJECTION_ID_COLUMN = "id"
