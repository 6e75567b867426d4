"""A render is counted once its file is stored: one render, its todos and its bytes."""

from __future__ import annotations

from typing import IO
from uuid import uuid4

import pytest

from services.calendar_worker.rendering import render_and_store
from shared.aws.blobs import InMemoryBlobStore
from shared.observability.metrics import Metrics
from tests.support.factories import NOW, todo_snapshots
from tests.support.scrapes import Scrape


@pytest.mark.parametrize("todo_count", [3, 500])
async def test_counts_the_render_its_todos_and_its_bytes(todo_count: int) -> None:
    metrics, blobs = Metrics(), InMemoryBlobStore()

    ready = await render_and_store(
        uuid4(), "acme", todo_snapshots(todo_count), NOW, blobs, metrics.renders
    )

    found = Scrape.of(metrics)
    assert found.value("calendar_renders_total") == 1
    assert found.value("calendar_rendered_todos_total") == todo_count
    assert (
        found.value("calendar_rendered_bytes_total")
        == ready.size_bytes
        == len(await blobs.get(ready.blob_key))
    )
    assert found.value("calendar_render_duration_seconds_count") == 1


async def test_a_render_whose_file_is_not_stored_is_not_counted() -> None:
    metrics = Metrics()

    class Unreachable(InMemoryBlobStore):
        async def put_file(self, key: str, file: IO[bytes], content_type: str) -> None:
            raise ConnectionResetError("bucket away")

    with pytest.raises(ConnectionResetError):
        await render_and_store(
            uuid4(), "acme", todo_snapshots(2), NOW, Unreachable(), metrics.renders
        )

    assert Scrape.of(metrics).value("calendar_renders_total") == 0
