"""The emulator's clients: SNS and SQS on the transport's file, blobs in a folder.

shared/messaging/transports.py opens these when TRANSPORT=embedded; they answer as aiobotocore's
clients do, so the services cannot tell the two apart.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from embedded.file_blobs import FileBlobStore
from embedded.transport import transport as transports
from embedded.transport.provision import provision
from embedded.transport.sns_client import EmbeddedSns
from embedded.transport.sqs_client import EmbeddedSqs
from shared.aws.blobs import BlobStore
from shared.aws.clients import AwsClients
from shared.settings import Settings

TRANSPORT_FILE = "transport.db"
EMBEDDED_CLIENTS: dict[str, Any] = {"sns": EmbeddedSns, "sqs": EmbeddedSqs}
BLOBS_FOLDER = "blobs"


def transport_path(settings: Settings) -> Path:
    return settings.var_dir / TRANSPORT_FILE


@contextlib.asynccontextmanager
async def open_clients(settings: Settings) -> AsyncIterator[tuple[AwsClients, BlobStore]]:
    """SNS and SQS on the transport's file (no S3: blobs live in a folder) and the blob store."""
    async with _embedded(settings) as transport:
        clients = AwsClients(EmbeddedSns(transport), EmbeddedSqs(transport), None)
        yield clients, FileBlobStore(settings.var_dir / BLOBS_FOLDER)


@contextlib.asynccontextmanager
async def open_client(settings: Settings, service: str) -> AsyncIterator[Any]:
    """One client, "sns" or "sqs", on the transport's file."""
    async with _embedded(settings) as transport:
        yield EMBEDDED_CLIENTS[service](transport)


async def provision_embedded(settings: Settings) -> None:
    """Create the topology in the transport's file (the emulator's messaging/provisioning.py)."""
    async with _embedded(settings) as transport:
        await transport.database.run(provision, settings)


@contextlib.asynccontextmanager
async def _embedded(settings: Settings) -> AsyncIterator[transports.Transport]:
    transport = transports.acquire(
        transport_path(settings), settings.aws_region, settings.sqlite_synchronous
    )
    try:
        yield transport
    finally:
        transports.release(transport)
