"""Fixtures of the calendar worker's handler tests: its render records and ports on the in-memory
twins. A module that needs other ports (or the todo service's book) defines its own."""

from __future__ import annotations

import pytest

from services.calendar_worker.handlers import WorkerPorts
from shared.aws.blobs import InMemoryBlobStore
from tests.support.fakes import MemoryRenderBook


@pytest.fixture
def book() -> MemoryRenderBook:
    return MemoryRenderBook()


@pytest.fixture
def ports(book: MemoryRenderBook) -> WorkerPorts:
    return WorkerPorts(book, InMemoryBlobStore())
