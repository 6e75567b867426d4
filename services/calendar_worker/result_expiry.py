"""Calendar files in a blob store that keeps them (the embedded mode's folder) are deleted by the
worker, which writes them, once the tracker no longer serves them. On S3 the bucket's lifecycle
rule (terraform's result_expiry_days) deletes them instead."""

from __future__ import annotations

from datetime import timedelta

from services.calendar_worker.rendering import CALENDARS_PREFIX
from shared.aws.blob_expiry import ExpiringBlobs
from shared.settings import Settings

# a file is written moments before its job's finished_at, from which the tracker counts the same
# Settings.result_ttl: a minute more, and the tracker answers 410 for the file's age before it
# could find the file gone (which it would report as lost)
RESULT_SLACK = timedelta(minutes=1)
LABEL = "blobs/calendars"


def expiring_results(settings: Settings) -> ExpiringBlobs:
    return ExpiringBlobs(CALENDARS_PREFIX, settings.result_ttl + RESULT_SLACK, LABEL)
