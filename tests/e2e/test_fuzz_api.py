"""Requests generated from the OpenAPI document, valid and invalid: never a 5xx, errors in JSON."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from services.todo_api.routes import ROUTES
from shared.web.openapi import openapi_document
from tests.support.processes import EmbeddedStack

schema = schemathesis.openapi.from_dict(openapi_document("TaskOverflow Events", "1.0.0", ROUTES))
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(
    case: schemathesis.Case[Any], embedded_stack: EmbeddedStack
) -> None:
    response = case.call(base_url=embedded_stack.url, timeout=15)

    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    if response.status_code >= 400:
        content_types = {name.lower(): values for name, values in response.headers.items()}
        assert content_types["content-type"][0].startswith("application/json")
        body = response.json()
        assert list(body) == ["error"]
        assert isinstance(body["error"], str)
