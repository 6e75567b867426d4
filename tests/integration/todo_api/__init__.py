import pytest

# the helpers assert on answers; let pytest explain their failures as it does the tests'
pytest.register_assert_rewrite("tests.integration.todo_api.todo_http")
