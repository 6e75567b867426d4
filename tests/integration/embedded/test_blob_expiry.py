"""The embedded folder's blobs expire: calendars and snapshots past their windows go, newer ones
and writes in progress stay, a pass stopped halfway resumes, two cleaners delete each blob once,
and the lag metric shows what waits. The calendar worker deletes the calendars, todo_api the
snapshots; on S3 neither deletes any (the bucket's lifecycle rules do)."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from embedded.file_blobs import FileBlobStore
from services.calendar_worker.app import create_app as create_worker
from services.calendar_worker.result_expiry import RESULT_SLACK, expiring_results
from services.todo_api.app import create_app as create_todo_api
from shared.app.app_keys import Adapters, metrics_key
from shared.aws.blob_expiry import TEMPORARY_WINDOW, BlobExpiry, ExpiringBlobs
from shared.clock import utcnow
from shared.messaging.claim_check import expiring_snapshots
from shared.observability.metrics import Metrics
from shared.settings import Settings
from tests.support.polling import eventually
from tests.support.scrapes import Scrape

WINDOW = timedelta(seconds=30)
CALENDARS = ExpiringBlobs("calendars/", WINDOW, "blobs/calendars")
SNAPSHOTS = ExpiringBlobs("snapshots/", WINDOW * 2, "blobs/snapshots")
# how long a deletion may take to show: returned from as soon as it shows, so generous (a
# clean-clone run once missed 5 s while the host stalled)
WAIT_S = 30


@pytest.fixture
def folder(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


def cleaner(folder: FileBlobStore, metrics: Metrics, batch: int = 100) -> BlobExpiry:
    return BlobExpiry(
        folder,
        [CALENDARS, SNAPSHOTS],
        batch_blobs=batch,
        on_deleted=metrics.expiry.count_deleted,
    )


async def put(folder: FileBlobStore, key: str, age: timedelta) -> None:
    """A blob last written `age` ago."""
    await folder.put(key, b"data", "application/octet-stream")
    backdate(folder.path_of(key), age)


def backdate(path: Path, age: timedelta) -> None:
    stamp = (datetime.now() - age).timestamp()
    os.utime(path, (stamp, stamp))


def kept(folder: FileBlobStore) -> set[str]:
    return {
        path.relative_to(folder.root).as_posix()
        for path in folder.root.rglob("*")
        if path.is_file()
    }


async def scrape(metrics: Metrics) -> Scrape:
    return Scrape.parse((await metrics.exposition()).decode())


async def test_blobs_past_their_prefix_s_window_go_and_newer_ones_stay(
    folder: FileBlobStore,
) -> None:
    await put(folder, "calendars/acme/old.ics", WINDOW * 2)
    await put(folder, "calendars/globex/old.ics", WINDOW + timedelta(seconds=5))
    await put(folder, "calendars/acme/new.ics", WINDOW / 2)
    # older than the calendars' window, not the snapshots'
    await put(folder, "snapshots/young.json", WINDOW * 1.5)
    await put(folder, "snapshots/old.json", WINDOW * 3)
    await put(folder, "elsewhere/old.bin", WINDOW * 10)
    metrics = Metrics()

    deleted = await cleaner(folder, metrics).run_once(utcnow())

    assert deleted == 3
    assert kept(folder) == {
        "calendars/acme/new.ics",
        "snapshots/young.json",
        "elsewhere/old.bin",
    }
    found = await scrape(metrics)
    assert found.value("expired_rows_deleted_total", table="blobs/calendars") == 2
    assert found.value("expired_rows_deleted_total", table="blobs/snapshots") == 1
    # the folders stay: a writer may be about to put a file in one
    assert (folder.root / "calendars" / "globex").is_dir()


async def test_a_temporary_file_goes_only_after_an_hour_without_a_write(
    folder: FileBlobStore,
) -> None:
    await put(folder, "calendars/acme/new.ics", timedelta(0))
    writing, abandoned = (
        folder.root / "calendars" / "acme" / ".tmp-writing",
        folder.root / "calendars" / "acme" / ".tmp-abandoned",
    )
    for path, age in ((writing, TEMPORARY_WINDOW / 2), (abandoned, TEMPORARY_WINDOW * 2)):
        path.write_bytes(b"part")
        backdate(path, age)

    await cleaner(folder, Metrics()).run_once(utcnow())

    # past the calendars' window of seconds, but still being written
    assert kept(folder) == {"calendars/acme/new.ics", "calendars/acme/.tmp-writing"}


async def test_a_pass_stopped_halfway_leaves_the_rest_to_the_next(folder: FileBlobStore) -> None:
    for number in range(5):
        await put(folder, f"calendars/acme/{number}.ics", WINDOW * 2)
    batches: list[int] = []
    stopping: BlobExpiry

    def first_batch_then_stop(_label: str, count: int) -> None:
        batches.append(count)
        stopping.stop()

    stopping = BlobExpiry(folder, [CALENDARS], batch_blobs=2, on_deleted=first_batch_then_stop)

    first = await stopping.run_once(utcnow())
    left = len(kept(folder))
    second = await cleaner(folder, Metrics(), batch=2).run_once(utcnow())

    assert (first, batches, left) == (2, [2], 3)
    assert second == 3
    assert kept(folder) == set()


async def test_two_cleaners_at_once_delete_each_blob_once(folder: FileBlobStore) -> None:
    for number in range(40):
        await put(folder, f"calendars/t{number % 4}/{number}.ics", WINDOW * 2)
    metrics = Metrics()
    jobs = [cleaner(folder, metrics, batch=3), cleaner(folder, metrics, batch=3)]
    barrier = asyncio.Barrier(len(jobs))

    async def clean(job: BlobExpiry) -> int:
        await barrier.wait()
        return await job.run_once(utcnow())

    counts = await asyncio.gather(*(clean(job) for job in jobs))

    assert sum(counts) == 40
    assert (await scrape(metrics)).value(
        "expired_rows_deleted_total", table="blobs/calendars"
    ) == 40
    assert kept(folder) == set()


async def test_a_blob_written_again_since_it_was_listed_is_kept(folder: FileBlobStore) -> None:
    await put(folder, "snapshots/again.json", WINDOW * 3)
    listed = next(iter(folder.listing("snapshots/")))
    await put(folder, "snapshots/again.json", timedelta(0))

    assert not folder.remove(listed.key, utcnow() - WINDOW)
    assert kept(folder) == {"snapshots/again.json"}


async def test_the_lag_shows_blobs_past_their_window_then_zero_and_a_stalled_expiry(
    folder: FileBlobStore,
) -> None:
    await put(folder, "calendars/acme/old.ics", WINDOW * 3)
    await put(folder, "calendars/acme/new.ics", timedelta(0))
    metrics = Metrics()
    job = cleaner(folder, metrics)
    now = utcnow()

    before = await job.lag(now)
    await job.run_once(now)
    after = await job.lag(now)
    # no pass for a window and a minute: the blob kept last time is past it
    stalled = await job.lag(now + WINDOW + timedelta(minutes=1))

    assert before["blobs/calendars"] >= (WINDOW * 2).total_seconds() - 1
    assert (after["blobs/calendars"], after["blobs/snapshots"]) == (0, 0)
    assert stalled["blobs/calendars"] >= 59
    # none kept: anything written since the pass is past the window once that long has gone by
    assert stalled["blobs/snapshots"] == 30


def test_the_windows_follow_the_settings_the_tracker_and_the_topology_use() -> None:
    defaults, short = Settings(), Settings(result_expiry_s=5, snapshot_expiry_s=7)

    assert defaults.result_ttl == timedelta(days=7)
    assert expiring_results(defaults).window == defaults.result_ttl + RESULT_SLACK
    assert short.result_ttl == timedelta(seconds=5)
    assert expiring_results(short).window == timedelta(seconds=5) + RESULT_SLACK
    assert expiring_snapshots(defaults).window == timedelta(days=19)
    assert expiring_snapshots(short).window == timedelta(seconds=7)


async def test_the_worker_deletes_old_calendars_and_todo_api_old_snapshots(
    service_settings: Settings, folder: FileBlobStore
) -> None:
    # windows far longer than both waits, so the new blobs stay new however long the host stalls
    # (with 1 s windows a clean-clone run saw the new snapshot expire before todo_api started)
    window = timedelta(minutes=5)
    settings = service_settings.model_copy(
        update={
            "result_expiry_s": int(window.total_seconds()),
            "snapshot_expiry_s": int(window.total_seconds()),
            "expiry_interval_ms": 20,
        }
    )
    adapters = Adapters(blobs=folder)
    old = window + RESULT_SLACK + timedelta(minutes=5)
    await put(folder, "calendars/acme/old.ics", old)
    await put(folder, "calendars/acme/new.ics", timedelta(0))
    await put(folder, "snapshots/old.json", old)
    await put(folder, "snapshots/new.json", timedelta(0))

    async def only(*keys: str) -> bool:
        return kept(folder) == set(keys)

    async with TestClient(TestServer(create_worker(settings, adapters=adapters))) as worker:
        await eventually(
            lambda: only("calendars/acme/new.ics", "snapshots/old.json", "snapshots/new.json"),
            timeout_s=WAIT_S,
        )
        worker_s = await scrape(worker.app[metrics_key])
    async with TestClient(TestServer(create_todo_api(settings, adapters=adapters))) as todo_api:
        await eventually(
            lambda: only("calendars/acme/new.ics", "snapshots/new.json"), timeout_s=WAIT_S
        )
        todo_api_s = await scrape(todo_api.app[metrics_key])

    assert worker_s.value("expired_rows_deleted_total", table="blobs/calendars") == 1
    assert worker_s.value("expiry_lag_seconds", table="blobs/snapshots") is None
    assert todo_api_s.value("expired_rows_deleted_total", table="blobs/snapshots") == 1
    assert todo_api_s.value("expiry_lag_seconds", table="blobs/calendars") is None


async def test_on_s3_no_service_deletes_blobs(service_settings: Settings) -> None:
    async with TestClient(TestServer(create_todo_api(service_settings))) as todo_api:
        found = await scrape(todo_api.app[metrics_key])

    # the bucket's lifecycle rules delete them
    assert found.value("expiry_lag_seconds", table="blobs/snapshots") is None
    assert found.value("expiry_lag_seconds", table="todo_api_key_uses") == 0
