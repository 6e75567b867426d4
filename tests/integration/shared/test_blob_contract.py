"""One blob store contract, three stores: the in-memory fake the unit tests use, the embedded
mode's folder, and S3 (moto; LocalStack under TEST_AWS_ENDPOINT_URL)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from embedded.file_blobs import FileBlobStore
from shared.aws.blobs import (
    CHUNK_BYTES,
    PART_BYTES,
    BlobNotFoundError,
    BlobStore,
    InMemoryBlobStore,
)
from shared.messaging.provisioning import bootstrap
from shared.messaging.transports import open_clients
from shared.settings import Settings

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack


@pytest.fixture(params=["memory", "file", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "memory":
        yield InMemoryBlobStore()
    elif request.param == "file":
        yield FileBlobStore(tmp_path / "blobs")
    else:
        settings: Settings = request.getfixturevalue("aws_settings")
        await bootstrap(settings)
        async with open_clients(settings) as (_clients, s3_blobs):
            yield s3_blobs


async def streamed(blobs: BlobStore, key: str) -> list[bytes]:
    return [chunk async for chunk in blobs.stream(key)]


class TestBlobStore:
    async def test_what_is_put_is_got_and_streamed_back_in_chunks(self, blobs: BlobStore) -> None:
        data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 1)

        await blobs.put("calendars/a.ics", data, "text/calendar")

        assert await blobs.get("calendars/a.ics") == data
        chunks = await streamed(blobs, "calendars/a.ics")
        assert b"".join(chunks) == data
        assert all(len(chunk) <= CHUNK_BYTES for chunk in chunks)

    async def test_a_put_replaces_the_blob_under_the_same_key(self, blobs: BlobStore) -> None:
        await blobs.put("snapshots/b.json", b"first", "application/json")
        await blobs.put("snapshots/b.json", b"second", "application/json")

        assert await blobs.get("snapshots/b.json") == b"second"

    async def test_a_file_is_stored_from_its_current_position(self, blobs: BlobStore) -> None:
        file = io.BytesIO(b"skipped|kept")
        file.seek(len(b"skipped|"))

        await blobs.put_file("calendars/c.ics", file, "text/calendar")

        assert await blobs.get("calendars/c.ics") == b"kept"

    async def test_a_file_larger_than_a_part_arrives_whole(self, blobs: BlobStore) -> None:
        # S3 takes it as a multipart upload; the other stores in one piece
        data = b"0123456789abcdef" * ((PART_BYTES + PART_BYTES // 2) // 16)

        await blobs.put_file("calendars/large.ics", io.BytesIO(data), "text/calendar")

        assert await blobs.get("calendars/large.ics") == data

    async def test_a_missing_key_is_not_found_when_got_or_streamed(self, blobs: BlobStore) -> None:
        with pytest.raises(BlobNotFoundError):
            await blobs.get("calendars/none.ics")
        with pytest.raises(BlobNotFoundError):
            await streamed(blobs, "calendars/none.ics")
