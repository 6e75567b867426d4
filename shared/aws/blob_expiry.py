"""Keeping a blob folder bounded: blobs older than their prefix's window are deleted in batches.

Only a store that keeps every blob until it is deleted needs this (`KeptBlobs`: the embedded
mode's folder). On S3 the bucket's lifecycle rules delete calendars and snapshots
(terraform/storage.tf), and no service deletes any.

A pass walks a prefix's blobs and deletes those last written more than the window ago, a batch
at a time in a thread, so the loop keeps serving; a pass stopped halfway finds what is left at
the next. A temporary file (a write in progress) is deleted only after TEMPORARY_WINDOW without a
write: its writer is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

logger = logging.getLogger(__name__)
# a write in progress touches its file at every chunk; an hour without one is a writer that died
TEMPORARY_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class StoredBlob:
    """A file in the store: its key, when it was last written (naive UTC), and whether it is a
    temporary file, a write not yet renamed into place."""

    key: str
    modified_at: datetime
    temporary: bool = False


@runtime_checkable
class KeptBlobs(Protocol):
    """A blob store that keeps blobs until they are deleted. Both calls block: run them in a
    thread."""

    def listing(self, prefix: str) -> Iterator[StoredBlob]:
        """Every file under `prefix`, temporary ones too, in no particular order."""
        ...

    def remove(self, key: str, modified_before: datetime) -> bool:
        """Delete the file if it was last written before `modified_before`; False when it is
        gone already or was written again since it was listed."""
        ...


@dataclass(frozen=True)
class ExpiringBlobs:
    """The blobs under `prefix`, deleted once last written `window` ago; `label` names them in
    the expiry metrics (`blobs/calendars`, say)."""

    prefix: str
    window: timedelta
    label: str


OnDeleted = Callable[[str, int], None]


@dataclass
class _Sweep:
    """One pass over a prefix: what it deleted, and the oldest blob it kept."""

    deleted: int = 0
    oldest_kept: datetime | None = None
    finished: bool = False

    def keep(self, blob: StoredBlob) -> None:
        if not blob.temporary and (self.oldest_kept is None or blob.modified_at < self.oldest_kept):
            self.oldest_kept = blob.modified_at


class BlobExpiry:
    """Deletes the expired blobs of a folder's prefixes, a batch at a time."""

    def __init__(
        self,
        store: KeptBlobs,
        expiring: Sequence[ExpiringBlobs],
        *,
        batch_blobs: int,
        on_deleted: OnDeleted,
    ) -> None:
        self._store = store
        self._expiring = tuple(expiring)
        self._batch_blobs = batch_blobs
        self._on_deleted = on_deleted
        self._stop = asyncio.Event()
        # per label, the oldest blob the last whole pass kept, or that pass's time when it kept
        # none (anything written later is newer): what the lag is measured from between passes
        self._oldest: dict[str, datetime] = {}

    async def run_once(self, now: datetime) -> int:
        """Delete every blob expired by `now`, batch by batch; how many this pass deleted."""
        total = 0
        for blobs in self._expiring:
            listing = self._store.listing(blobs.prefix)
            sweep = _Sweep()
            while not self._stop.is_set() and not sweep.finished:
                before = sweep.deleted
                await asyncio.to_thread(self._batch, listing, blobs, now, sweep)
                if sweep.deleted > before:
                    self._on_deleted(blobs.label, sweep.deleted - before)
            total += sweep.deleted
            if sweep.finished:
                self._oldest[blobs.label] = min(sweep.oldest_kept or now, now)
        return total

    async def lag(self, now: datetime) -> dict[str, float]:
        """Per prefix, how long its oldest blob has been past its window (0: none is), as the
        last whole pass left it; before the first, as the folder holds it now."""
        found: dict[str, float] = {}
        for blobs in self._expiring:
            oldest = self._oldest.get(blobs.label)
            if oldest is None:
                oldest = await asyncio.to_thread(self._oldest_now, blobs.prefix)
            past = 0.0 if oldest is None else (now - blobs.window - oldest).total_seconds()
            found[blobs.label] = max(0.0, past)
        return found

    async def run(self, interval_s: float, clock: Callable[[], datetime]) -> None:
        """A pass every `interval_s` until stopped; a failed pass is tried at the next."""
        while not self._stop.is_set():
            try:
                await self.run_once(clock())
            except Exception as exc:  # a folder not writable, say: the blobs wait
                logger.warning("blob expiry failed, tried again in %.0f s: %r", interval_s, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)

    def stop(self) -> None:
        self._stop.set()

    def _batch(
        self, listing: Iterator[StoredBlob], blobs: ExpiringBlobs, now: datetime, sweep: _Sweep
    ) -> None:
        """Walk on until `batch_blobs` more are deleted or the listing ends (in a thread)."""
        cutoff, temporary_cutoff = now - blobs.window, now - TEMPORARY_WINDOW
        deleted = 0
        for blob in listing:
            limit = temporary_cutoff if blob.temporary else cutoff
            if blob.modified_at >= limit:
                sweep.keep(blob)
            elif self._store.remove(blob.key, limit):
                deleted += 1
                sweep.deleted += 1
                if deleted >= self._batch_blobs:
                    return
        sweep.finished = True

    def _oldest_now(self, prefix: str) -> datetime | None:
        times = (blob.modified_at for blob in self._store.listing(prefix) if not blob.temporary)
        return min(times, default=None)
