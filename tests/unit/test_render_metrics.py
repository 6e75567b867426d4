"""A render is counted once its file is stored: one render, its todos and its bytes."""

from __future__ import annotations

from typing import IO
from uuid import uuid4

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.calendar_worker.rendering import render_and_store
from shared.blobs import InMemoryBlobStore
from shared.metrics import Metrics
from tests.factories import NOW, todo_snapshots


def counters(metrics: Metrics) -> dict[str, float]:
    text = generate_latest(metrics.registry).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("calendar_render")
    }


@pytest.mark.parametrize("todo_count", [3, 500])
async def test_counts_the_render_its_todos_and_its_bytes(todo_count: int) -> None:
    metrics, blobs = Metrics(), InMemoryBlobStore()

    ready = await render_and_store(uuid4(), todo_snapshots(todo_count), NOW, blobs, metrics.renders)

    found = counters(metrics)
    assert found["calendar_renders_total"] == 1
    assert found["calendar_rendered_todos_total"] == todo_count
    assert (
        found["calendar_rendered_bytes_total"]
        == ready.size_bytes
        == len(await blobs.get(ready.blob_key))
    )
    assert found["calendar_render_duration_seconds_count"] == 1


async def test_a_render_whose_file_is_not_stored_is_not_counted() -> None:
    metrics = Metrics()

    class Unreachable(InMemoryBlobStore):
        async def put_file(self, key: str, file: IO[bytes], content_type: str) -> None:
            raise ConnectionResetError("bucket away")

    with pytest.raises(ConnectionResetError):
        await render_and_store(uuid4(), todo_snapshots(2), NOW, Unreachable(), metrics.renders)

    assert counters(metrics)["calendar_renders_total"] == 0
