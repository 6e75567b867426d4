"""The queue the consumer tests read: the job tracker's, with the tests' visibility timeout and
few receives before the DLQ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.aws.clients import aws_client
from shared.messaging.provisioning import Deployed, bootstrap
from shared.settings import Settings
from tests.support.consumer import MAX_RECEIVES, VISIBILITY_S


@pytest.fixture
async def deployed(aws_settings: Settings) -> Deployed:
    settings = aws_settings.model_copy(
        update={"sqs_visibility_timeout_s": VISIBILITY_S, "sqs_max_receive_count": MAX_RECEIVES}
    )
    return await bootstrap(settings)


@pytest.fixture
async def sqs(aws_settings: Settings) -> AsyncIterator[Any]:
    async with aws_client(aws_settings, "sqs") as client:
        yield client
