"""Application keys every service's app carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from shared.blobs import BlobStore
from shared.relay import OutboxRelay
from shared.settings import Settings
from shared.store import EventStore


@dataclass(frozen=True)
class AwsClients:
    sns: Any
    sqs: Any
    s3: Any


settings_key = web.AppKey("settings", Settings)
store_key = web.AppKey("store", EventStore)
aws_key = web.AppKey("aws", AwsClients)
blobs_key = web.AppKey("blobs", BlobStore)
relay_key = web.AppKey("relay", OutboxRelay)
