"""A BlobStore on a local folder (`<VAR_DIR>/blobs/`): the embedded mode's stand-in for S3.

Writes go to a temporary file beside the target and are renamed over it, so a reader sees the
old blob or the new one, never half of one; keys cannot leave the folder. No lifecycle rule
clears the folder: the services that write blobs delete the old ones (shared/aws/blob_expiry.py,
through `listing` and `remove`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from shared.aws.blob_expiry import StoredBlob
from shared.aws.blobs import CHUNK_BYTES, BlobNotFoundError

WRITE_ON_LOOP_BYTES = 256 * 1024
# a write in progress: renamed into place when whole, or left behind by a process killed mid-way
TEMPORARY_PREFIX = ".tmp-"


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    async def put(self, blob_key: str, data: bytes, content_type: str) -> None:
        await _run(len(data), self._write, blob_key, lambda out: out.write(data))

    async def put_file(self, blob_key: str, file: IO[bytes], content_type: str) -> None:
        size = _remaining(file)
        await _run(size, self._write, blob_key, lambda out: shutil.copyfileobj(file, out))

    async def get(self, blob_key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path_of(blob_key).read_bytes)
        except FileNotFoundError:
            raise BlobNotFoundError(blob_key) from None

    async def stream(self, blob_key: str) -> AsyncIterator[bytes]:
        try:
            file = await asyncio.to_thread(self.path_of(blob_key).open, "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(blob_key) from None
        with file:
            while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
                yield chunk

    def path_of(self, blob_key: str) -> Path:
        """The blob key's file; a blob key that is empty, absolute or climbs out with `..` is
        refused."""
        parts = PurePosixPath(blob_key).parts
        if not parts or PurePosixPath(blob_key).is_absolute() or ".." in parts or "\\" in blob_key:
            raise ValueError(f"blob key {blob_key!r} is not a relative path inside the store")
        return self.root.joinpath(*parts)

    def listing(self, prefix: str) -> Iterator[StoredBlob]:
        """Every file under `prefix`, temporary ones too, with when it was last written."""
        yield from self._walk(self.path_of(prefix))

    def remove(self, key: str, modified_before: datetime) -> bool:
        path = self.path_of(key)
        try:
            # a blob written again since it was listed is kept: its new content has a new age
            if _modified_at(path.stat()) >= modified_before:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        # its folder stays: a writer may be about to put a file in it
        return True

    def _walk(self, folder: Path) -> Iterator[StoredBlob]:
        try:
            with os.scandir(folder) as found:
                entries = list(found)
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path))
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield StoredBlob(
                key=Path(entry.path).relative_to(self.root).as_posix(),
                modified_at=_modified_at(stat),
                temporary=entry.name.startswith(TEMPORARY_PREFIX),
            )

    def _write(self, blob_key: str, fill: Callable[[IO[bytes]], object]) -> None:
        target = self.path_of(blob_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with _temporary_beside(target) as (out, temporary):
            fill(out)
            # no fsync, like the queue file's synchronous=NORMAL: a killed process loses nothing
            out.close()
            os.replace(temporary, target)


async def _run(size: int, write: Callable[..., None], *args: Any) -> None:
    # a small write lands in the page cache in microseconds (no fsync), less than a hand-off
    # to a thread and back; a large one goes to a thread so the loop keeps serving
    if size <= WRITE_ON_LOOP_BYTES:
        write(*args)
    else:
        await asyncio.to_thread(write, *args)


def _modified_at(stat: os.stat_result) -> datetime:
    """When a file was last written, as naive UTC like every time the services keep."""
    return datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)


def _remaining(file: IO[bytes]) -> int:
    here = file.tell()
    end = file.seek(0, os.SEEK_END)
    file.seek(here)
    return end - here


@contextlib.contextmanager
def _temporary_beside(target: Path) -> Iterator[tuple[IO[bytes], str]]:
    """A temporary file in the target's folder (so the rename stays on one file system)."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=TEMPORARY_PREFIX)
    out = os.fdopen(descriptor, "wb")
    try:
        yield out, temporary
    except BaseException:
        out.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
