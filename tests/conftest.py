"""Fixtures shared by every test layer: settings per database, PostgreSQL schemas, moto, spans."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL, STALLED_HOST_DATABASE_TIMEOUTS, fresh_schema
from tests.support.spans import recorded_spans

# tests never talk to real AWS: no instance metadata lookups, and an endpoint that refuses at once
# unless a test points the settings at moto or LocalStack
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
# see STALLED_HOST_DATABASE_TIMEOUTS; the tests of database outages set the default back
for _name, _value in STALLED_HOST_DATABASE_TIMEOUTS.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture
async def postgres_schema() -> AsyncIterator[str]:
    """A fresh, empty schema for one test, dropped afterwards."""
    async with fresh_schema() as name:
        yield name


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for each supported database: the same test body runs on both."""
    if request.param == "sqlite":
        yield Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/test.db")
        return
    schema = request.getfixturevalue("postgres_schema")
    yield Settings(database_url=POSTGRES_URL, database_schema=schema)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """The AWS endpoint under test: moto in server mode on a loopback port, for the session.

    TEST_AWS_ENDPOINT_URL runs the same tests against another emulator (LocalStack) instead.
    """
    external = os.environ.get("TEST_AWS_ENDPOINT_URL")
    if external:
        yield external
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_settings(moto_url: str) -> Settings:
    """Settings pointing at moto, with names unique to this test."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    return Settings(aws_endpoint_url=moto_url, resource_prefix=prefix)


@pytest.fixture(scope="module")
def module_topology(moto_url: str) -> Settings:
    """The topology made once per module on moto, so outbox relays publish somewhere real."""
    aws = Settings(aws_endpoint_url=moto_url, resource_prefix=f"t{uuid.uuid4().hex[:8]}-")
    asyncio.run(bootstrap(aws))
    return aws


@pytest.fixture
def service_settings(database: Settings, module_topology: Settings) -> Settings:
    """A service's settings: each database in turn, with the module's AWS topology."""
    aws = module_topology.model_dump(include={"aws_endpoint_url", "resource_prefix"})
    return database.model_copy(update=aws)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process ends while the test runs (the unit and e2e tracing tests)."""
    with recorded_spans() as exporter:
        yield exporter
