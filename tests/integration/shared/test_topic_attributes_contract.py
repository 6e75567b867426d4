"""GetTopicAttributes, the call readiness makes on the topic's ARN, answers alike on the embedded
transport and on moto (LocalStack under TEST_AWS_ENDPOINT_URL): the topic's ARN when it exists,
NotFound when it does not."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded.transport.clients import provision_embedded
from shared.contracts.topology import Names
from shared.messaging.provisioning import bootstrap
from shared.messaging.publisher import resolve_topic_arn
from shared.messaging.transports import transport_client
from shared.settings import Settings


@pytest.fixture(params=["embedded", "moto"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    base = Settings(resource_prefix=f"a{uuid.uuid4().hex[:8]}-", var_dir=tmp_path)
    if request.param == "embedded":
        embedded = base.model_copy(update={"transport": "embedded"})
        await provision_embedded(embedded)
        return embedded
    on_moto = base.model_copy(update={"aws_endpoint_url": request.getfixturevalue("moto_url")})
    await bootstrap(on_moto)
    return on_moto


@pytest.fixture
async def sns(settings: Settings) -> AsyncIterator[Any]:
    async with transport_client(settings, "sns") as client:
        yield client


async def test_an_existing_topic_answers_with_its_arn(settings: Settings, sns: Any) -> None:
    arn = await resolve_topic_arn(sns, Names(settings.resource_prefix).topic)

    found = await sns.get_topic_attributes(TopicArn=arn)

    assert found["Attributes"]["TopicArn"] == arn


async def test_a_missing_topic_is_not_found(settings: Settings, sns: Any) -> None:
    arn = await resolve_topic_arn(sns, Names(settings.resource_prefix).topic)

    with pytest.raises(ClientError) as raised:
        await sns.get_topic_attributes(TopicArn=arn + "-gone")

    assert raised.value.response["Error"]["Code"] == "NotFound"
