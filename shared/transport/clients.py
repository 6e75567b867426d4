"""Clients for the configured transport: aiobotocore's for AWS, or the embedded ones.

Everything that talks SNS, SQS or S3 opens its clients here, so the same code runs on both.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from shared.aws import aws_client
from shared.blobs import BlobStore, S3BlobStore
from shared.keys import AwsClients
from shared.metrics import Metrics, instrument_aws
from shared.settings import Settings
from shared.topology import Names
from shared.transport import transport as transports
from shared.transport.file_blobs import FileBlobStore
from shared.transport.provision import provision
from shared.transport.sns_client import EmbeddedSns
from shared.transport.sqs_client import EmbeddedSqs

TRANSPORT_FILE = "transport.db"
EMBEDDED_CLIENTS: dict[str, Any] = {"sns": EmbeddedSns, "sqs": EmbeddedSqs}
BLOBS_FOLDER = "blobs"


def transport_path(settings: Settings) -> Path:
    return settings.var_dir / TRANSPORT_FILE


@contextlib.asynccontextmanager
async def open_clients(
    settings: Settings, *, metrics: Metrics | None = None
) -> AsyncIterator[tuple[AwsClients, BlobStore]]:
    """SNS, SQS and S3 clients (S3 is None when embedded) and the blob store; AWS clients count
    their requests in `metrics` (the embedded ones make none)."""
    if settings.transport == "embedded":
        async with _embedded(settings) as transport:
            clients = AwsClients(EmbeddedSns(transport), EmbeddedSqs(transport), None)
            yield clients, FileBlobStore(settings.var_dir / BLOBS_FOLDER)
        return
    async with contextlib.AsyncExitStack() as stack:
        sns = await stack.enter_async_context(aws_client(settings, "sns"))
        sqs = await stack.enter_async_context(aws_client(settings, "sqs"))
        s3 = await stack.enter_async_context(aws_client(settings, "s3"))
        if metrics is not None:
            for client in (sns, sqs, s3):
                instrument_aws(client, metrics)
        yield AwsClients(sns, sqs, s3), S3BlobStore(s3, Names(settings.resource_prefix).bucket)


@contextlib.asynccontextmanager
async def transport_client(settings: Settings, service: str) -> AsyncIterator[Any]:
    """One client, "sns" or "sqs", for the operator tools."""
    if service not in EMBEDDED_CLIENTS:
        raise ValueError(f"no {service!r} client here: blobs go through open_clients")
    if settings.transport == "aws":
        async with aws_client(settings, service) as client:
            yield client
        return
    async with _embedded(settings) as transport:
        yield EMBEDDED_CLIENTS[service](transport)


async def provision_embedded(settings: Settings) -> None:
    """Create the topology in the transport's file (the embedded shared/bootstrap.py)."""
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
