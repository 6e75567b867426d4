"""Application keys every service's app carries."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from shared.aws.blobs import BlobStore
from shared.aws.clients import AwsClients
from shared.eventstore.store import EventStore
from shared.messaging.relay import OutboxRelay
from shared.observability.metrics import Metrics
from shared.settings import Settings


@dataclass(frozen=True)
class Adapters:
    """What a composition root may be handed instead of building it from the settings (tests,
    an embedding process); whoever hands it over also closes it."""

    store: EventStore | None = None
    clients: AwsClients | None = None
    blobs: BlobStore | None = None


settings_key = web.AppKey("settings", Settings)
adapters_key = web.AppKey("adapters", Adapters)
store_key = web.AppKey("store", EventStore)
aws_key = web.AppKey("aws", AwsClients)
blobs_key = web.AppKey("blobs", BlobStore)
relay_key = web.AppKey("relay", OutboxRelay)
metrics_key = web.AppKey("metrics", Metrics)
# the base URL of the service's metrics listener, once it listens
metrics_url_key = web.AppKey("metrics_url", str)
