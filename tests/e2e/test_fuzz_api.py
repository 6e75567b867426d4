"""Requests generated from the OpenAPI document, valid and invalid: never a 5xx, errors in JSON;
without credentials under AUTH_MODE=none, and with a member's key under AUTH_MODE=required."""

from __future__ import annotations

from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, settings

from services.todo_api.routes import ROUTES
from shared.auth.api_keys import ApiKey
from shared.web.openapi import openapi_document
from tests.support.auth import bearer
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
    check(case, case.call(base_url=embedded_stack.url, timeout=15))


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_with_credentials_gets_a_server_error(
    case: schemathesis.Case[Any],
    embedded_stack_requiring_credentials: tuple[EmbeddedStack, ApiKey],
) -> None:
    stack, key = embedded_stack_requiring_credentials
    check(case, case.call(base_url=stack.url, headers=bearer(key), timeout=15))


def check(case: schemathesis.Case[Any], response: Any) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    if response.status_code >= 400:
        content_types = {name.lower(): values for name, values in response.headers.items()}
        assert content_types["content-type"][0].startswith("application/json")
        body = response.json()
        assert list(body) == ["error"]
        assert isinstance(body["error"], str)


def test_the_generated_requests_with_credentials_are_authenticated(
    embedded_stack_requiring_credentials: tuple[EmbeddedStack, ApiKey],
) -> None:
    # the run above means something only if its key is accepted, and the stack asks for one
    stack, key = embedded_stack_requiring_credentials

    assert requests.get(f"{stack.url}/api/v1/todos", headers=bearer(key), timeout=15).ok
    assert requests.get(f"{stack.url}/api/v1/todos", timeout=15).status_code == 401
