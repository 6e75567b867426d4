"""Request parsing: which bodies and date-times the todo API accepts, and which it refuses."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from services.todo_api.schemas import TodoIn, TodoPatch
from shared.clock import parse_datetime


def todo_in(body: str) -> TodoIn:
    return TodoIn.model_validate_json(body)


def patch(body: str) -> TodoPatch:
    return TodoPatch.model_validate_json(body)


class TestParseDatetime:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2023-02-27T00:00:00", datetime(2023, 2, 27)),
            ("2024-04-17 14:00:00.000", datetime(2024, 4, 17, 14)),
            ("2024-04-17T14:00:00.5", datetime(2024, 4, 17, 14, 0, 0, 500000)),
            ("2024-04-17T14:00:00.123456", datetime(2024, 4, 17, 14, 0, 0, 123456)),
            ("2024-04-17T14:00:00Z", datetime(2024, 4, 17, 14)),
            ("2024-04-17T14:00:00+10:00", datetime(2024, 4, 17, 4)),
            ("2024-04-17T02:00:00-03:30", datetime(2024, 4, 17, 5, 30)),
            ("2024-04-17T14:00:00.250+00:00", datetime(2024, 4, 17, 14, 0, 0, 250000)),
            ("  2024-04-17T14:00:00  ", datetime(2024, 4, 17, 14)),
        ],
    )
    def test_accepts_the_formats_clients_send_as_naive_utc(
        self, text: str, expected: datetime
    ) -> None:
        parsed = parse_datetime(text)

        assert parsed == expected
        assert parsed.tzinfo is None

    def test_an_offset_that_crosses_midnight_moves_the_date(self) -> None:
        assert parse_datetime("2024-01-01T05:00:00+10:00") == datetime(2023, 12, 31, 19)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "tomorrow",
            "2024-13-01T00:00:00",
            "2024-02-30T00:00:00",
            "2024-04-17T24:00:00",
            "17/04/2024 14:00",
            "2024-04-17T14:00:00+25:00",
        ],
    )
    def test_refuses_text_that_is_not_a_date_time(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"."):
            parse_datetime(text)

    @pytest.mark.parametrize("text", ["0001-01-01T00:00:00+10:00", "9999-12-31T23:59:59-10:00"])
    def test_refuses_an_offset_that_leaves_the_representable_range(self, text: str) -> None:
        with pytest.raises(ValueError, match="out of range"):
            parse_datetime(text)


class TestTodoIn:
    def test_applies_the_defaults_to_a_title_only_body(self) -> None:
        body = todo_in('{"title": "Buy milk"}')

        assert body == TodoIn(title="Buy milk", description=None, completed=False, deadline_at=None)

    def test_parses_every_field(self) -> None:
        body = todo_in(
            '{"title": "t", "description": "d", "completed": true,'
            ' "deadline_at": "2024-04-17 14:00:00.000"}'
        )

        assert (body.description, body.completed, body.deadline_at) == (
            "d",
            True,
            datetime(2024, 4, 17, 14),
        )

    def test_accepts_the_longest_title_and_description(self) -> None:
        body = todo_in(f'{{"title": "{"t" * 80}", "description": "{"d" * 120}"}}')

        assert (len(body.title), len(body.description or "")) == (80, 120)

    def test_accepts_an_explicit_null_description_and_deadline(self) -> None:
        body = todo_in('{"title": "t", "description": null, "deadline_at": null}')

        assert (body.description, body.deadline_at) == (None, None)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ("{}", "title"),
            ('{"title": ""}', "title"),
            ('{"title": "   "}', "title"),
            ('{"title": "\\t\\n"}', "title"),
            (f'{{"title": "{"t" * 81}"}}', "title"),
            ('{"title": 5}', "title"),
            ('{"title": null}', "title"),
            ('{"title": ["t"]}', "title"),
            ('{"title": "t\\u0000"}', "title"),
            (f'{{"title": "t", "description": "{"d" * 121}"}}', "description"),
            ('{"title": "t", "description": 5}', "description"),
            ('{"title": "t", "description": "a\\u0000b"}', "description"),
            ('{"title": "t", "completed": "true"}', "completed"),
            ('{"title": "t", "completed": 1}', "completed"),
            ('{"title": "t", "completed": null}', "completed"),
            ('{"title": "t", "deadline_at": "soon"}', "deadline_at"),
            ('{"title": "t", "deadline_at": 1713362400}', "deadline_at"),
            ('{"title": "t", "deadline_at": true}', "deadline_at"),
            ('{"title": "t", "deadline_at": "0001-01-01T00:00:00+10:00"}', "deadline_at"),
        ],
    )
    def test_refuses_a_bad_field_value_naming_the_field(self, body: str, field: str) -> None:
        with pytest.raises(ValidationError) as caught:
            todo_in(body)

        assert caught.value.errors()[0]["loc"] == (field,)

    @pytest.mark.parametrize("field", ["id", "created_at", "updated_at", "colour"])
    def test_refuses_fields_the_client_may_not_set(self, field: str) -> None:
        with pytest.raises(ValidationError) as caught:
            todo_in(f'{{"title": "t", "{field}": 1}}')

        assert caught.value.errors()[0]["type"] == "extra_forbidden"

    @pytest.mark.parametrize("body", ["[]", '"title"', "3", "null", "", "{", "{'title': 't'}"])
    def test_refuses_a_body_that_is_not_a_json_object(self, body: str) -> None:
        with pytest.raises(ValidationError):
            todo_in(body)


class TestTodoPatch:
    def test_an_empty_patch_changes_nothing(self) -> None:
        assert patch("{}").changes() == {}

    def test_changes_name_only_the_fields_sent(self) -> None:
        assert patch('{"completed": true}').changes() == {"completed": True}

    def test_an_explicit_null_clears_description_and_deadline(self) -> None:
        changes = patch('{"description": null, "deadline_at": null}').changes()

        assert changes == {"description": None, "deadline_at": None}

    def test_changes_list_the_fields_in_declaration_order(self) -> None:
        body = '{"deadline_at": "2024-04-17T14:00:00Z", "completed": false, "title": "t"}'

        assert list(patch(body).changes()) == ["title", "completed", "deadline_at"]

    def test_parses_the_deadline_to_naive_utc(self) -> None:
        changes = patch('{"deadline_at": "2024-04-17T14:00:00+10:00"}').changes()

        assert changes == {"deadline_at": datetime(2024, 4, 17, 4)}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ('{"title": null}', "title"),
            ('{"title": ""}', "title"),
            ('{"title": " "}', "title"),
            (f'{{"title": "{"t" * 81}"}}', "title"),
            ('{"completed": null}', "completed"),
            ('{"completed": "false"}', "completed"),
            ('{"completed": 0}', "completed"),
            (f'{{"description": "{"d" * 121}"}}', "description"),
            ('{"deadline_at": "2024-04-17T99:00:00"}', "deadline_at"),
        ],
    )
    def test_refuses_a_bad_field_value_naming_the_field(self, body: str, field: str) -> None:
        with pytest.raises(ValidationError) as caught:
            patch(body)

        assert caught.value.errors()[0]["loc"] == (field,)

    @pytest.mark.parametrize("field", ["id", "created_at", "updated_at", "owner"])
    def test_refuses_fields_the_client_may_not_set(self, field: str) -> None:
        with pytest.raises(ValidationError) as caught:
            patch(f'{{"{field}": 2}}')

        assert caught.value.errors()[0]["type"] == "extra_forbidden"
