"""Clients for the configured transport: aiobotocore's for AWS, or the development emulator's.

Everything that talks SNS, SQS or S3 opens its clients here, so one code path runs on both. The
emulator (the top-level `embedded` package) is development tooling that the production image
does not hold: it is looked up by module name only when TRANSPORT=embedded asks for it, so no
module of `shared` imports it.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, cast

from shared.aws.blobs import BlobStore, S3BlobStore
from shared.aws.clients import AwsClients, aws_client
from shared.contracts.topology import Names
from shared.observability.metrics import Metrics, instrument_aws
from shared.settings import Settings

EMULATOR_MODULE = "embedded.transport.clients"
MESSAGING_CLIENTS = ("sns", "sqs")


class Emulator(Protocol):
    """What the emulator's clients module offers: the same clients, on its own file."""

    def open_clients(
        self, settings: Settings
    ) -> AbstractAsyncContextManager[tuple[AwsClients, BlobStore]]: ...

    def open_client(self, settings: Settings, service: str) -> AbstractAsyncContextManager[Any]: ...


def emulator() -> Emulator:
    """The emulator's clients module, or a clear error where it is not installed."""
    try:
        module = importlib.import_module(EMULATOR_MODULE)
    except ModuleNotFoundError as error:
        if not _names_a_part_of(EMULATOR_MODULE, error.name):
            raise  # the emulator is there but broken: show that, not an absence
        raise RuntimeError(
            "TRANSPORT=embedded needs the development emulator (the `embedded` package, "
            "installed with the project's `embedded` extra), which this installation lacks; "
            "production runs with TRANSPORT=aws"
        ) from error
    return cast(Emulator, module)


def _names_a_part_of(module: str, missing: str | None) -> bool:
    return missing is not None and (module == missing or module.startswith(missing + "."))


@contextlib.asynccontextmanager
async def open_clients(
    settings: Settings, *, metrics: Metrics | None = None
) -> AsyncIterator[tuple[AwsClients, BlobStore]]:
    """SNS, SQS and S3 clients (S3 is None when embedded) and the blob store; AWS clients count
    their requests in `metrics` (the emulator's make none)."""
    if settings.transport == "embedded":
        async with emulator().open_clients(settings) as opened:
            yield opened
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
    if service not in MESSAGING_CLIENTS:
        raise ValueError(f"no {service!r} client here: blobs go through open_clients")
    opened = (
        aws_client(settings, service)
        if settings.transport == "aws"
        else emulator().open_client(settings, service)
    )
    async with opened as client:
        yield client
