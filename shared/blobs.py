"""The blob store port: calendar files and claim-checked payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

CHUNK_BYTES = 64 * 1024


class BlobNotFoundError(LookupError):
    """No blob under that key."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """Yield the blob in chunks, without holding it whole."""
        ...


class S3BlobStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes:
        chunks = [chunk async for chunk in self.stream(key)]
        return b"".join(chunks)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        try:
            response = await self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise BlobNotFoundError(key) from None
            raise
        async with response["Body"] as body:
            while chunk := await body.read(CHUNK_BYTES):
                yield chunk


@dataclass
class InMemoryBlobStore:
    """A BlobStore for unit tests."""

    blobs: dict[str, bytes] = field(default_factory=dict)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self.blobs[key] = data

    async def get(self, key: str) -> bytes:
        if key not in self.blobs:
            raise BlobNotFoundError(key)
        return self.blobs[key]

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        data = await self.get(key)
        for start in range(0, len(data), CHUNK_BYTES):
            yield data[start : start + CHUNK_BYTES]
