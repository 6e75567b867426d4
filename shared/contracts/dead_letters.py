"""The dead letters' JSON (GET/POST /api/v1/ops/dead-letters...), and what
`python -m scripts.replay dead-letters show` prints. Datetimes are naive UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# messages a second a redrive may be asked for (StartMessageMoveTask's limit)
MAX_RATE_PER_S = 500
MAX_DISCARD_REASON_CHARS = 500
MAX_CHOSEN_MESSAGES = 1000


class DeadLetterGroup(BaseModel):
    group_id: str
    event_type: str
    failure: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    message_ids: list[str]


class DeadLetterQueueReport(BaseModel):
    queue: str
    source_queue: str
    count: int
    groups: list[DeadLetterGroup]
    # when the DLQ could not be read: why, in a few words
    error: str | None = None


class DiscardRecord(BaseModel):
    """A discard as the operations log keeps it (the body left out)."""

    queue: str
    message_id: str
    event_type: str
    failure: str
    reason: str
    actor: str
    discarded_at: datetime


class DeadLettersReport(BaseModel):
    queues: list[DeadLetterQueueReport]
    recent_discards: list[DiscardRecord]


class DeadLetterDetail(BaseModel):
    """One message: its envelope (a claim-checked snapshot by its blob key only), receives and
    attributes; `body` only when no envelope can be read from it (at most 4 KiB of it)."""

    queue: str
    message_id: str
    group_id: str
    event_type: str
    failure: str
    failed_at: datetime | None
    receive_count: int
    attributes: dict[str, str]
    event_id: str | None
    task_id: str | None
    snapshot_key: str | None
    envelope: dict[str, Any] | None
    body: str | None


class Choice(BaseModel):
    """A group of one DLQ, or some of its messages by id."""

    model_config = ConfigDict(extra="forbid")

    queue: str = Field(min_length=1, max_length=200)
    group_id: str | None = Field(default=None, min_length=1, max_length=64)
    message_ids: list[str] = Field(default_factory=list, max_length=MAX_CHOSEN_MESSAGES)


class RedriveRequest(Choice):
    rate: float = Field(gt=0, le=MAX_RATE_PER_S)


class DiscardRequest(Choice):
    reason: str = Field(min_length=1, max_length=MAX_DISCARD_REASON_CHARS)


class RedriveState(BaseModel):
    redrive_id: str
    queue: str
    group_id: str | None
    rate: float
    total: int
    moved: int
    refused: int
    missing: int
    # DLQ messages out of sight when it began (a look, or a redrive stopped half-way: they show
    # again within a minute, for the next redrive)
    out_of_sight: int
    state: Literal["running", "finished", "failed"]
    error: str | None
    started_at: datetime


class Redrives(BaseModel):
    redrives: list[RedriveState]


class Discarded(BaseModel):
    queue: str
    discarded: int
