import pytest

# the API client asserts on answers; let pytest explain its failures too
pytest.register_assert_rewrite("tests.e2e.api_client")
