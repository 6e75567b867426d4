"""The todo aggregate decides and folds without I/O: plain values in, events out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.todo_api import todo
from services.todo_api.commands import CreateTodo, UpdateTodo
from shared.contracts.events import (
    CalendarRequested,
    TodoCreated,
    TodoDeleted,
    TodoSnapshot,
    TodoUpdated,
)
from tests.support.factories import todo_snapshot

CREATED_AT = datetime(2024, 4, 17, 14, 0)
LATER = CREATED_AT + timedelta(hours=1)
DEADLINE = datetime(2024, 5, 1, 9, 30)


def existing(**overrides: Any) -> TodoSnapshot:
    fields: dict[str, Any] = {
        "id": 3,
        "title": "Write tests",
        "description": "for the aggregate",
        "deadline_at": DEADLINE,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
    }
    return todo_snapshot(**{**fields, **overrides})


class TestCreate:
    def test_records_one_todo_created_with_every_field_and_the_given_time(self) -> None:
        command = CreateTodo("Buy milk", "two litres", True, DEADLINE)

        events = todo.create(command, 7, CREATED_AT)

        assert events == [
            TodoCreated(
                todo=TodoSnapshot(
                    id=7,
                    title="Buy milk",
                    description="two litres",
                    completed=True,
                    deadline_at=DEADLINE,
                    created_at=CREATED_AT,
                    updated_at=CREATED_AT,
                )
            )
        ]

    def test_uses_the_command_defaults_for_absent_fields(self) -> None:
        (event,) = todo.create(CreateTodo("Buy milk"), 1, CREATED_AT)

        assert isinstance(event, TodoCreated)
        assert (event.todo.description, event.todo.completed, event.todo.deadline_at) == (
            None,
            False,
            None,
        )


class TestUpdate:
    def test_records_the_whole_todo_after_the_change(self) -> None:
        command = UpdateTodo(3, {"title": "Write more tests", "completed": True})

        events = todo.update(existing(), command, LATER)

        assert events == [
            TodoUpdated(
                todo=existing(title="Write more tests", completed=True, updated_at=LATER),
                changed=("title", "completed"),
            )
        ]

    def test_names_only_the_fields_whose_value_differs(self) -> None:
        command = UpdateTodo(3, {"title": "Write tests", "description": None})

        (event,) = todo.update(existing(), command, LATER)

        assert isinstance(event, TodoUpdated)
        assert event.changed == ("description",)
        assert event.todo.title == "Write tests"

    def test_keeps_the_fields_the_command_does_not_mention(self) -> None:
        (event,) = todo.update(existing(), UpdateTodo(3, {"completed": True}), LATER)

        assert isinstance(event, TodoUpdated)
        assert event.todo == existing(completed=True, updated_at=LATER)

    def test_clears_the_deadline_when_asked_for_null(self) -> None:
        (event,) = todo.update(existing(), UpdateTodo(3, {"deadline_at": None}), LATER)

        assert isinstance(event, TodoUpdated)
        assert event.todo.deadline_at is None

    def test_records_nothing_when_no_value_changes(self) -> None:
        command = UpdateTodo(3, {"title": "Write tests", "deadline_at": DEADLINE})

        assert todo.update(existing(), command, LATER) == []

    def test_records_nothing_for_an_empty_change_set(self) -> None:
        assert todo.update(existing(), UpdateTodo(3), LATER) == []

    def test_refuses_a_todo_that_does_not_exist(self) -> None:
        with pytest.raises(todo.TodoNotFoundError):
            todo.update(None, UpdateTodo(3, {"title": "x"}), LATER)


class TestDelete:
    def test_records_the_deletion_of_the_todo_at_the_given_time(self) -> None:
        assert todo.delete(existing(), LATER) == [TodoDeleted(id=3, deleted_at=LATER)]

    def test_refuses_a_todo_that_does_not_exist(self) -> None:
        with pytest.raises(todo.TodoNotFoundError):
            todo.delete(None, LATER)


class TestCheckExists:
    def test_returns_an_existing_todo(self) -> None:
        assert todo.check_exists(existing()) == existing()

    def test_raises_todo_not_found_for_none(self) -> None:
        with pytest.raises(todo.TodoNotFoundError):
            todo.check_exists(None)


class TestFold:
    def test_an_empty_history_is_no_todo(self) -> None:
        assert todo.fold([]) is None

    def test_created_then_updated_gives_the_latest_snapshot(self) -> None:
        history = [
            *todo.create(CreateTodo("Write tests"), 3, CREATED_AT),
            *todo.update(existing(description=None, deadline_at=None), _retitle("Ship"), LATER),
        ]

        folded = todo.fold(history)

        assert folded is not None
        assert (folded.title, folded.updated_at, folded.created_at) == ("Ship", LATER, CREATED_AT)

    def test_a_deleted_todo_folds_to_none(self) -> None:
        history = [*todo.create(CreateTodo("x"), 3, CREATED_AT), *todo.delete(existing(), LATER)]

        assert todo.fold(history) is None

    def test_folding_continues_from_a_given_state(self) -> None:
        events = todo.update(existing(), _retitle("Ship"), LATER)

        assert todo.fold(events, start=existing()) == existing(title="Ship", updated_at=LATER)

    def test_no_events_leave_the_start_state_unchanged(self) -> None:
        assert todo.fold([], start=existing()) == existing()


class TestApply:
    def test_events_of_other_aggregates_leave_the_todo_alone(self) -> None:
        requested = CalendarRequested(task_id=uuid4(), requested_at=LATER, todo_count=0)

        assert todo.apply(existing(), requested) == existing()

    def test_a_creation_replaces_whatever_state_came_before(self) -> None:
        (created,) = todo.create(CreateTodo("New"), 3, LATER)

        assert isinstance(created, TodoCreated)
        assert todo.apply(existing(), created) == created.todo


def _retitle(title: str) -> UpdateTodo:
    return UpdateTodo(3, {"title": title})
