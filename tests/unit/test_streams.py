"""Stream names are stored with every event: each one must stay exactly as it was written."""

from __future__ import annotations

import hashlib
from uuid import UUID

from shared.contracts.streams import (
    calendar_stream_id,
    feed_secret_stream_id,
    idempotency_stream_id,
    progress_stream_id,
    render_stream_id,
    todo_stream_id,
)
from shared.contracts.tenancy import ANONYMOUS_TENANT

TASK_ID = UUID("0b9e4e43-4a36-4f53-8d1c-3b8b3e0f1a2c")


class TestStreamNames:
    def test_a_todo_stream_is_named_after_the_todo_id(self) -> None:
        assert todo_stream_id(42) == "todo-42"

    def test_a_calendar_job_has_a_stream_on_each_side(self) -> None:
        assert calendar_stream_id(TASK_ID) == "calendar-0b9e4e43-4a36-4f53-8d1c-3b8b3e0f1a2c"
        assert render_stream_id(TASK_ID) == "render-0b9e4e43-4a36-4f53-8d1c-3b8b3e0f1a2c"
        assert progress_stream_id(TASK_ID) == "progress-0b9e4e43-4a36-4f53-8d1c-3b8b3e0f1a2c"

    def test_an_anonymous_idempotency_key_stream_keeps_its_name_the_key_s_hash(self) -> None:
        digest = hashlib.sha256(b"order 7 \xc3\xa9").hexdigest()

        assert idempotency_stream_id("order 7 é", ANONYMOUS_TENANT) == f"idempotency-{digest}"
        assert len(idempotency_stream_id("x" * 255, ANONYMOUS_TENANT)) == len("idempotency-") + 64

    def test_a_tenant_s_idempotency_key_stream_is_named_by_the_tenant_s_and_the_key_s_hash(
        self,
    ) -> None:
        tenant, key = hashlib.sha256(b"acme").hexdigest(), hashlib.sha256(b"k").hexdigest()

        assert idempotency_stream_id("k", "acme") == f"idempotency-{tenant}-{key}"
        # the longest tenant and key still fit a stream id
        assert len(idempotency_stream_id("x" * 255, "t" * 255)) <= 200

    def test_one_key_names_another_stream_for_each_tenant(self) -> None:
        names = {idempotency_stream_id("k", tenant) for tenant in ("acme", "globex", "anonymous")}

        assert len(names) == 3

    def test_a_tenant_s_feed_url_stream_is_named_by_the_tenant_s_hash(self) -> None:
        tenant = hashlib.sha256(b"acme").hexdigest()

        assert feed_secret_stream_id("acme") == f"feed-secret-{tenant}"
        assert len(feed_secret_stream_id("t" * 255)) <= 200
