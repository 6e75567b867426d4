"""Helpers the tests share (stacks, clients, fakes, factories, faults): never a test module."""

import pytest

# the API clients assert on answers; let pytest explain their failures as it does the tests'
pytest.register_assert_rewrite("tests.support.api_client", "tests.support.todo_http")
