"""The blob store port: calendar files and claim-checked payloads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)
CHUNK_BYTES = 64 * 1024
# S3 takes parts of 5 MiB or more (but the last); larger files go up part by part, so a file is
# never held whole in memory
PART_BYTES = 8 * 1024 * 1024
# S3 says "no such key" with a 404 only to a caller that may list the bucket (s3:ListBucket);
# to any other it answers 403 AccessDenied, so as not to tell which keys exist
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
HIDDEN_CODES = frozenset({"AccessDenied", "403"})


class BlobNotFoundError(LookupError):
    """No blob under that blob key."""


class BlobStore(Protocol):
    async def put(self, blob_key: str, data: bytes, content_type: str) -> None: ...

    async def put_file(self, blob_key: str, file: IO[bytes], content_type: str) -> None:
        """Store a file from its current position, reading it a part at a time."""
        ...

    async def get(self, blob_key: str) -> bytes: ...

    def stream(self, blob_key: str) -> AsyncIterator[bytes]:
        """Yield the blob in chunks, without holding it whole."""
        ...


class S3BlobStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    async def put(self, blob_key: str, data: bytes, content_type: str) -> None:
        await self._s3.put_object(
            Bucket=self.bucket, Key=blob_key, Body=data, ContentType=content_type
        )

    async def put_file(self, blob_key: str, file: IO[bytes], content_type: str) -> None:
        first = await asyncio.to_thread(file.read, PART_BYTES)
        if len(first) < PART_BYTES:
            await self.put(blob_key, first, content_type)
            return
        upload = await self._s3.create_multipart_upload(
            Bucket=self.bucket, Key=blob_key, ContentType=content_type
        )
        try:
            parts = await self._upload_parts(blob_key, upload["UploadId"], first, file)
        except BaseException:
            await self._s3.abort_multipart_upload(
                Bucket=self.bucket, Key=blob_key, UploadId=upload["UploadId"]
            )
            raise
        await self._s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=blob_key,
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts},
        )

    async def _upload_parts(
        self, blob_key: str, upload_id: str, first: bytes, file: IO[bytes]
    ) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        data = first
        while data:
            number = len(parts) + 1
            answer = await self._s3.upload_part(
                Bucket=self.bucket, Key=blob_key, UploadId=upload_id, PartNumber=number, Body=data
            )
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            data = await asyncio.to_thread(file.read, PART_BYTES)
        return parts

    async def get(self, blob_key: str) -> bytes:
        chunks = [chunk async for chunk in self.stream(blob_key)]
        return b"".join(chunks)

    async def stream(self, blob_key: str) -> AsyncIterator[bytes]:
        try:
            response = await self._s3.get_object(Bucket=self.bucket, Key=blob_key)
        except ClientError as exc:
            if _is_missing(exc, blob_key):
                raise BlobNotFoundError(blob_key) from None
            raise
        async with response["Body"] as body:
            while chunk := await body.read(CHUNK_BYTES):
                yield chunk


def _is_missing(exc: ClientError, blob_key: str) -> bool:
    """Whether a failed read (GetObject, HeadObject) means that no blob is under `blob_key`.

    The task roles may list the bucket (terraform/iam.tf), so S3 answers 404; a 403 means a role
    without s3:ListBucket, to which S3 hides a missing key behind AccessDenied. It is read as
    missing too (a 410, a job failed at once), never retried as if it could heal; the warning
    shows a policy that lost s3:GetObject, which would look the same.
    """
    code = exc.response.get("Error", {}).get("Code")
    if code in MISSING_CODES:
        return True
    if code in HIDDEN_CODES:
        logger.warning("S3 refused to read %s; taken as missing (no s3:ListBucket?)", blob_key)
        return True
    return False


@dataclass
class InMemoryBlobStore:
    """A BlobStore for unit tests."""

    blobs: dict[str, bytes] = field(default_factory=dict)

    async def put(self, blob_key: str, data: bytes, content_type: str) -> None:
        self.blobs[blob_key] = data

    async def put_file(self, blob_key: str, file: IO[bytes], content_type: str) -> None:
        await self.put(blob_key, file.read(), content_type)

    async def get(self, blob_key: str) -> bytes:
        if blob_key not in self.blobs:
            raise BlobNotFoundError(blob_key)
        return self.blobs[blob_key]

    async def stream(self, blob_key: str) -> AsyncIterator[bytes]:
        data = await self.get(blob_key)
        for start in range(0, len(data), CHUNK_BYTES):
            yield data[start : start + CHUNK_BYTES]
