"""The only definition of the messaging topology: topic, queues, DLQs, filters, bucket."""

from __future__ import annotations

import json
from dataclasses import dataclass

from shared.contracts.events import API_KEY_EVENT_TYPES, CALENDAR_EVENT_TYPES

TOPIC = "taskoverflow-events"
BUCKET = "taskoverflow-calendars"
DLQ_SUFFIX = "-dlq"
# dead letters are kept for the longest time SQS allows, so operators can inspect and redrive
DLQ_RETENTION_S = 14 * 24 * 3600
QUEUE_RETENTION_S = 4 * 24 * 3600
# slack for a redrive after a dead letter's last moment: moving a DLQ back takes minutes (SQS
# moves hundreds of messages a second), and hosts' clocks differ by far less than a day
REDRIVE_WINDOW_S = 24 * 3600
# how long after its first delivery a copy of a message can still arrive: it may wait out its
# queue's retention, then the DLQ's, then be redriven. A consumer's inbox row is kept this long
DUPLICATE_WINDOW_S = QUEUE_RETENTION_S + DLQ_RETENTION_S + REDRIVE_WINDOW_S


@dataclass(frozen=True)
class QueueSpec:
    name: str
    event_types: tuple[str, ...]

    @property
    def dlq_name(self) -> str:
        return self.name + DLQ_SUFFIX

    def filter_policy(self) -> str:
        return json.dumps({"type": list(self.event_types)})


# the worker renders requests and stops the renders of cancelled jobs; progress and outcomes
# are for the tracker only
CALENDAR_WORKER = QueueSpec("calendar-worker", ("CalendarRequested", "CalendarCancelled"))
# the tracker keeps jobs, and a copy of the API keys todo_api issues, to authenticate its routes:
# a revocation waits behind the calendar events queued before it
JOB_TRACKER = QueueSpec("job-tracker", (*CALENDAR_EVENT_TYPES, *API_KEY_EVENT_TYPES))
QUEUES = (CALENDAR_WORKER, JOB_TRACKER)
# the event types some queue receives: only these are worth publishing
ROUTED_TYPES = frozenset(event_type for spec in QUEUES for event_type in spec.event_types)


@dataclass(frozen=True)
class Names:
    """Topology names with a deployment's prefix applied."""

    prefix: str

    @property
    def topic(self) -> str:
        return self.prefix + TOPIC

    @property
    def bucket(self) -> str:
        return self.prefix + BUCKET

    def queue(self, spec: QueueSpec) -> str:
        return self.prefix + spec.name

    def dlq(self, spec: QueueSpec) -> str:
        return self.prefix + spec.dlq_name


def as_terraform_vars() -> dict[str, object]:
    """The topology as Terraform variables (terraform/topology.auto.tfvars.json)."""
    return {
        "topic_name": TOPIC,
        "bucket_name": BUCKET,
        "dlq_retention_s": DLQ_RETENTION_S,
        "queue_retention_s": QUEUE_RETENTION_S,
        "redrive_window_s": REDRIVE_WINDOW_S,
        "queues": {
            spec.name: {"dlq_name": spec.dlq_name, "event_types": list(spec.event_types)}
            for spec in QUEUES
        },
    }
