"""The todo routes of the HTTP contract (DESIGN.md section 2), on a real socket and database."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from services.todo_api import todo
from services.todo_api.app import create_app
from services.todo_api.keys import store_key
from shared.clock import utcnow
from shared.http import MAX_BODY_BYTES
from shared.settings import Settings

Client = TestClient[web.Request, web.Application]
TODOS = "/api/v1/todos"
NOT_FOUND = {"error": "Todo not found"}
FIELDS = {"id", "title", "description", "completed", "deadline_at", "created_at", "updated_at"}


@pytest.fixture
async def client(service_settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(service_settings))) as client:
        yield client


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    response = await client.post(TODOS, json={"title": "a todo", **fields})
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def listed(client: Client, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"{TODOS}{query}")
    assert response.status == 200, await response.text()
    body: list[dict[str, Any]] = await response.json()
    return body


async def titles(client: Client, query: str = "") -> list[str]:
    return [todo["title"] for todo in await listed(client, query)]


async def error_of(response: ClientResponse, status: int) -> str:
    """Assert the shape every error shares and return its message."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert list(body) == ["error"]
    assert isinstance(body["error"], str)
    assert body["error"]
    message: str = body["error"]
    return message


def iso(moment: datetime) -> str:
    return moment.isoformat()


def assert_naive_iso(text: str, earliest: datetime, latest: datetime) -> None:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is None
    assert moment.isoformat() == text
    assert earliest <= moment <= latest


class TestHealth:
    async def test_answers_ok_with_exactly_the_status_field(self, client: Client) -> None:
        response = await client.get("/api/v1/health")

        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {"status": "ok"}


class TestListTodos:
    async def test_an_empty_list_is_an_empty_json_array(self, client: Client) -> None:
        response = await client.get(TODOS)

        assert response.content_type == "application/json"
        assert await response.json() == []

    async def test_lists_todos_in_creation_order(self, client: Client) -> None:
        for title in ("b", "c", "a"):
            await create(client, title=title)

        todos = await listed(client)

        assert [t["title"] for t in todos] == ["b", "c", "a"]
        assert [t["id"] for t in todos] == [1, 2, 3]
        assert all(set(t) == FIELDS for t in todos)

    async def test_filters_by_completion(self, client: Client) -> None:
        await create(client, title="open", completed=False)
        await create(client, title="done", completed=True)
        await create(client, title="also open")

        assert await titles(client, "?completed=true") == ["done"]
        assert await titles(client, "?completed=false") == ["open", "also open"]

    async def test_a_window_keeps_past_and_near_deadlines_and_drops_far_and_missing(
        self, client: Client
    ) -> None:
        now = utcnow()
        await create(client, title="overdue", deadline_at=iso(now - timedelta(days=3)))
        await create(client, title="no deadline")
        await create(client, title="in two days", deadline_at=iso(now + timedelta(days=2)))
        edge = now + timedelta(days=3) - timedelta(minutes=1)
        await create(client, title="just inside", deadline_at=iso(edge))
        beyond = now + timedelta(days=3, hours=1)
        await create(client, title="beyond", deadline_at=iso(beyond))

        assert await titles(client, "?window=3") == ["overdue", "in two days", "just inside"]
        assert await titles(client, "?window=0") == ["overdue"]
        assert await titles(client, "?window=4") == [
            "overdue",
            "in two days",
            "just inside",
            "beyond",
        ]

    async def test_completion_and_window_filters_combine(self, client: Client) -> None:
        soon = iso(utcnow() + timedelta(days=1))
        later = iso(utcnow() + timedelta(days=10))
        await create(client, title="done soon", completed=True, deadline_at=soon)
        await create(client, title="open soon", deadline_at=soon)
        await create(client, title="done later", completed=True, deadline_at=later)
        await create(client, title="done undated", completed=True)

        assert await titles(client, "?completed=true&window=2") == ["done soon"]
        assert await titles(client, "?window=2&completed=false") == ["open soon"]

    @pytest.mark.parametrize(
        "query",
        [
            "completed=yes",
            "completed=True",
            "completed=1",
            "completed=",
            "window=-1",
            "window=1.5",
            "window=soon",
            "window=",
            "window=%EF%BC%91",
            "window=1000001",
            "window=99999999999999999999999",
            "completed=true&window=x",
        ],
    )
    async def test_refuses_other_filter_values(self, client: Client, query: str) -> None:
        await create(client)

        await error_of(await client.get(f"{TODOS}?{query}"), 400)


class TestGetTodo:
    async def test_returns_the_todo(self, client: Client) -> None:
        created = await create(client, title="one", description="first")

        response = await client.get(f"{TODOS}/1")

        assert response.status == 200
        assert await response.json() == created

    @pytest.mark.parametrize(
        "todo_id", ["2", "0", "-1", "abc", "1.0", "9223372036854775807", "9223372036854775808"]
    )
    async def test_an_unknown_or_impossible_id_is_not_found(
        self, client: Client, todo_id: str
    ) -> None:
        await create(client)

        response = await client.get(f"{TODOS}/{todo_id}")

        await error_of(response, 404)
        assert await response.json() == NOT_FOUND

    async def test_a_huge_id_is_not_found(self, client: Client) -> None:
        response = await client.get(f"{TODOS}/{'9' * 400}")

        assert await error_of(response, 404) == NOT_FOUND["error"]


class TestCreateTodo:
    async def test_answers_201_with_every_field_and_server_set_ones(self, client: Client) -> None:
        before = utcnow()
        response = await client.post(
            TODOS,
            json={
                "title": "Buy milk",
                "description": "two litres",
                "completed": True,
                "deadline_at": "2023-02-27T00:00:00",
            },
        )
        after = utcnow()

        assert response.status == 201
        assert response.content_type == "application/json"
        body = await response.json()
        assert set(body) == FIELDS
        assert {k: body[k] for k in FIELDS - {"created_at", "updated_at"}} == {
            "id": 1,
            "title": "Buy milk",
            "description": "two litres",
            "completed": True,
            "deadline_at": "2023-02-27T00:00:00",
        }
        assert_naive_iso(body["created_at"], before, after)
        assert body["updated_at"] == body["created_at"]

    async def test_defaults_description_to_null_completed_to_false_and_deadline_to_null(
        self, client: Client
    ) -> None:
        body = await create(client, title="minimal")

        assert (body["description"], body["completed"], body["deadline_at"]) == (None, False, None)

    async def test_ids_count_up_from_one(self, client: Client) -> None:
        assert [(await create(client))["id"] for _ in range(3)] == [1, 2, 3]

    async def test_the_created_todo_is_what_get_and_list_return(self, client: Client) -> None:
        created = await create(client, deadline_at="2024-04-17T14:00:00.123456")

        assert await (await client.get(f"{TODOS}/1")).json() == created
        assert await listed(client) == [created]

    @pytest.mark.parametrize(
        ("sent", "stored"),
        [
            ("2023-02-27T00:00:00", "2023-02-27T00:00:00"),
            ("2024-04-17 14:00:00.000", "2024-04-17T14:00:00"),
            ("2024-04-17T14:00:00.5", "2024-04-17T14:00:00.500000"),
            ("2024-04-17T14:00:00Z", "2024-04-17T14:00:00"),
            ("2024-04-17T14:00:00+10:00", "2024-04-17T04:00:00"),
            ("2024-04-17T14:00:00.250-02:00", "2024-04-17T16:00:00.250000"),
        ],
    )
    async def test_normalises_the_deadline_to_naive_utc(
        self, client: Client, sent: str, stored: str
    ) -> None:
        created = await create(client, deadline_at=sent)

        assert created["deadline_at"] == stored
        assert (await listed(client))[0]["deadline_at"] == stored

    async def test_keeps_unicode_text_as_sent(self, client: Client) -> None:
        created = await create(client, title="café ✓ 𝄞", description='quote " and \\')

        assert (await listed(client))[0]["title"] == created["title"] == "café ✓ 𝄞"
        assert created["description"] == 'quote " and \\'


class TestCreateFieldRules:
    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"description": "no title"},
            {"title": ""},
            {"title": "   "},
            {"title": "t" * 81},
            {"title": 5},
            {"title": None},
            {"title": True},
            {"title": ["t"]},
            {"title": "nul \u0000 inside"},
            {"title": "t", "description": "d" * 121},
            {"title": "t", "description": 7},
            {"title": "t", "description": "nul \u0000 inside"},
            {"title": "t", "completed": "true"},
            {"title": "t", "completed": 1},
            {"title": "t", "completed": None},
            {"title": "t", "deadline_at": "next week"},
            {"title": "t", "deadline_at": 1713362400},
            {"title": "t", "deadline_at": "0001-01-01T00:00:00+10:00"},
            {"title": "t", "deadline_at": "9999-12-31T23:59:59-10:00"},
            {"title": "t", "id": 1},
            {"title": "t", "created_at": "2023-02-27T00:00:00"},
            {"title": "t", "updated_at": "2023-02-27T00:00:00"},
            {"title": "t", "colour": "red"},
        ],
    )
    async def test_refuses_a_bad_body_and_creates_nothing(
        self, client: Client, body: dict[str, Any]
    ) -> None:
        await error_of(await client.post(TODOS, json=body), 400)

        assert await listed(client) == []

    async def test_accepts_the_longest_title_and_description(self, client: Client) -> None:
        created = await create(client, title="t" * 80, description="d" * 120)

        assert (len(created["title"]), len(created["description"])) == (80, 120)

    async def test_a_refused_body_does_not_use_up_an_id(self, client: Client) -> None:
        await error_of(await client.post(TODOS, json={"title": ""}), 400)

        assert (await create(client))["id"] == 1

    async def test_names_the_offending_field(self, client: Client) -> None:
        response = await client.post(TODOS, json={"title": "t", "id": 9})

        assert "id" in await error_of(response, 400)


class TestUpdateTodo:
    async def test_changes_only_the_fields_sent(self, client: Client) -> None:
        created = await create(
            client, title="old", description="keep", deadline_at="2024-04-17T14:00:00"
        )

        response = await client.put(f"{TODOS}/1", json={"title": "new", "completed": True})

        assert response.status == 200
        body = await response.json()
        assert body == {
            **created,
            "title": "new",
            "completed": True,
            "updated_at": body["updated_at"],
        }
        assert await (await client.get(f"{TODOS}/1")).json() == body

    async def test_moves_updated_at_forward_and_keeps_created_at(self, client: Client) -> None:
        created = await create(client)

        body = await (await client.put(f"{TODOS}/1", json={"completed": True})).json()

        assert body["created_at"] == created["created_at"]
        assert_naive_iso(
            body["updated_at"], datetime.fromisoformat(created["updated_at"]), utcnow()
        )
        assert body["updated_at"] != created["updated_at"]

    async def test_a_change_to_nothing_new_leaves_updated_at_alone(self, client: Client) -> None:
        created = await create(client, title="same")

        response = await client.put(f"{TODOS}/1", json={"title": "same"})

        assert response.status == 200
        assert await response.json() == created

    async def test_null_clears_the_description_and_deadline(self, client: Client) -> None:
        await create(client, description="d", deadline_at="2024-04-17T14:00:00")

        response = await client.put(f"{TODOS}/1", json={"description": None, "deadline_at": None})

        body = await response.json()
        assert (body["description"], body["deadline_at"]) == (None, None)

    async def test_normalises_a_new_deadline(self, client: Client) -> None:
        await create(client)

        response = await client.put(f"{TODOS}/1", json={"deadline_at": "2024-04-17 14:00:00Z"})

        assert (await response.json())["deadline_at"] == "2024-04-17T14:00:00"

    @pytest.mark.parametrize(
        "body",
        [
            {"id": 2},
            {"title": None},
            {"title": ""},
            {"title": "t" * 81},
            {"completed": None},
            {"completed": "true"},
            {"description": "d" * 121},
            {"deadline_at": "later"},
            {"created_at": "2023-02-27T00:00:00"},
            {"updated_at": "2023-02-27T00:00:00"},
            {"title": "fine", "unknown": 1},
        ],
    )
    async def test_refuses_a_bad_body_and_leaves_the_todo_unchanged(
        self, client: Client, body: dict[str, Any]
    ) -> None:
        created = await create(client, title="untouched")

        await error_of(await client.put(f"{TODOS}/1", json=body), 400)

        assert await listed(client) == [created]

    @pytest.mark.parametrize("todo_id", ["2", "0", "abc", "9" * 30])
    async def test_a_missing_todo_is_not_found(self, client: Client, todo_id: str) -> None:
        await create(client)

        response = await client.put(f"{TODOS}/{todo_id}", json={"title": "x"})

        assert await error_of(response, 404) == NOT_FOUND["error"]

    async def test_a_deleted_todo_cannot_be_updated(self, client: Client) -> None:
        await create(client)
        await client.delete(f"{TODOS}/1")

        response = await client.put(f"{TODOS}/1", json={"title": "back"})

        assert await error_of(response, 404) == NOT_FOUND["error"]
        assert await listed(client) == []


class TestDeleteTodo:
    async def test_answers_with_the_deleted_todo_which_is_then_gone(self, client: Client) -> None:
        created = await create(client, title="doomed")
        kept = await create(client, title="kept")

        response = await client.delete(f"{TODOS}/1")

        assert response.status == 200
        assert await response.json() == created
        await error_of(await client.get(f"{TODOS}/1"), 404)
        assert await listed(client) == [kept]

    @pytest.mark.parametrize("todo_id", ["5", "0", "abc", "9" * 30])
    async def test_a_missing_todo_answers_200_with_an_empty_object(
        self, client: Client, todo_id: str
    ) -> None:
        await create(client)

        response = await client.delete(f"{TODOS}/{todo_id}")

        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {}
        assert len(await listed(client)) == 1

    async def test_deleting_twice_answers_an_empty_object_the_second_time(
        self, client: Client
    ) -> None:
        await create(client)
        await client.delete(f"{TODOS}/1")

        assert await (await client.delete(f"{TODOS}/1")).json() == {}


class TestIds:
    async def test_ids_of_deleted_todos_are_never_handed_out_again(self, client: Client) -> None:
        await create(client)
        await create(client)
        await client.delete(f"{TODOS}/2")
        await client.delete(f"{TODOS}/1")

        assert (await create(client))["id"] == 3

    async def test_ids_keep_counting_after_a_restart(self, service_settings: Settings) -> None:
        async with TestClient(TestServer(create_app(service_settings))) as first:
            await create(first)
            await first.delete(f"{TODOS}/1")

        async with TestClient(TestServer(create_app(service_settings))) as second:
            assert (await create(second))["id"] == 2


class TestRequestBodies:
    async def test_refuses_a_body_that_is_not_declared_json(self, client: Client) -> None:
        response = await client.post(
            TODOS, data='{"title": "t"}', headers={"Content-Type": "text/plain"}
        )

        await error_of(response, 415)
        assert await listed(client) == []

    async def test_refuses_a_body_without_a_content_type(self, client: Client) -> None:
        await create(client)

        response = await client.put(f"{TODOS}/1", data=b'{"title": "t"}')

        await error_of(response, 415)

    async def test_accepts_json_with_a_charset_parameter(self, client: Client) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8"}

        response = await client.post(TODOS, data=b'{"title": "t"}', headers=headers)

        assert response.status == 201

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"{",
            b'{"title": "t",}',
            b"{'title': 't'}",
            b"\xff\xfe",
            b'{"title": "t"} x',
            b'{"title": "\\ud800"}',
        ],
    )
    async def test_refuses_malformed_json(self, client: Client, raw: bytes) -> None:
        response = await client.post(TODOS, data=raw, headers={"Content-Type": "application/json"})

        await error_of(response, 400)
        assert await listed(client) == []

    @pytest.mark.parametrize(
        "raw", [b"[]", b'[{"title": "t"}]', b'"title"', b"42", b"null", b"true"]
    )
    async def test_refuses_json_that_is_not_an_object(self, client: Client, raw: bytes) -> None:
        await create(client)
        headers = {"Content-Type": "application/json"}

        await error_of(await client.post(TODOS, data=raw, headers=headers), 400)
        await error_of(await client.put(f"{TODOS}/1", data=raw, headers=headers), 400)

    async def test_refuses_a_body_over_one_mebibyte(self, client: Client) -> None:
        raw = f'{{"title": "t", "description": "{"d" * MAX_BODY_BYTES}"}}'.encode()
        headers = {"Content-Type": "application/json"}

        response = await client.post(TODOS, data=io.BytesIO(raw), headers=headers)

        await error_of(response, 413)
        assert await listed(client) == []

    async def test_accepts_a_body_just_under_the_limit_and_judges_its_fields(
        self, client: Client
    ) -> None:
        padding = " " * (MAX_BODY_BYTES - 100)
        raw = f'{{"title": "t",{padding}"description": "d"}}'.encode()

        headers = {"Content-Type": "application/json"}

        response = await client.post(TODOS, data=io.BytesIO(raw), headers=headers)

        assert response.status == 201


class TestUnknownRoutesAndMethods:
    @pytest.mark.parametrize(
        "path", ["/nowhere", "/api/v1/todo", f"{TODOS}/1/extra", "/api/v2/todos"]
    )
    async def test_an_unknown_route_is_a_json_404(self, client: Client, path: str) -> None:
        await error_of(await client.get(path), 404)

    @pytest.mark.parametrize(
        ("method", "path"),
        [("DELETE", TODOS), ("PUT", TODOS), ("PATCH", f"{TODOS}/1"), ("POST", f"{TODOS}/1")],
    )
    async def test_a_wrong_method_is_a_json_405_that_says_what_is_allowed(
        self, client: Client, method: str, path: str
    ) -> None:
        response = await client.request(method, path)

        await error_of(response, 405)
        assert "GET" in response.headers.get("Allow", "")


class TestOpenApi:
    async def test_describes_every_todo_route(self, client: Client) -> None:
        document = await (await client.get("/api/v1/openapi.json")).json()

        assert document["openapi"].startswith("3.1")
        assert {"title", "version"} <= set(document["info"])
        operations = {
            (method.upper(), path) for path, item in document["paths"].items() for method in item
        }
        assert operations >= {
            ("GET", "/api/v1/health"),
            ("GET", TODOS),
            ("POST", TODOS),
            ("GET", f"{TODOS}/{{id}}"),
            ("PUT", f"{TODOS}/{{id}}"),
            ("DELETE", f"{TODOS}/{{id}}"),
        }
        assert operations >= _served_api_operations(client.app)

    async def test_documents_the_request_bodies_with_their_rules(self, client: Client) -> None:
        document = await (await client.get("/api/v1/openapi.json")).json()
        schemas = document["components"]["schemas"]

        create_body = document["paths"][TODOS]["post"]["requestBody"]
        update_body = document["paths"][f"{TODOS}/{{id}}"]["put"]["requestBody"]
        assert _schema_name(create_body) == "TodoIn"
        assert _schema_name(update_body) == "TodoPatch"
        todo_in = schemas["TodoIn"]
        assert todo_in["required"] == ["title"]
        assert todo_in["additionalProperties"] is False
        assert set(todo_in["properties"]) == {"title", "description", "completed", "deadline_at"}
        assert todo_in["properties"]["title"]["maxLength"] == 80
        assert "required" not in schemas["TodoPatch"]

    async def test_every_reference_resolves(self, client: Client) -> None:
        document = await (await client.get("/api/v1/openapi.json")).json()

        refs = _refs(document)

        assert refs
        assert {ref.rsplit("/", 1)[-1] for ref in refs} <= set(document["components"]["schemas"])


class TestIndexPage:
    async def test_serves_the_web_page(self, client: Client) -> None:
        response = await client.get("/")

        assert response.status == 200
        assert response.content_type == "text/html"
        assert "TaskOverflow" in await response.text()


class TestConcurrentUpdates:
    async def test_concurrent_changes_answer_200_or_409_and_agree_with_the_events(
        self, client: Client
    ) -> None:
        await create(client)

        responses = await asyncio.gather(*(_change_one_field(client, n) for n in range(50)))

        statuses = [response.status for response in responses]
        assert set(statuses) <= {200, 409}, statuses
        for response in responses:
            if response.status == 409:
                await error_of(response, 409)
        store = client.app[store_key]
        history = [envelope.data for envelope in await store.load(todo.stream_id(1))]
        # every accepted change sets a value never sent before, so each one is exactly one event
        assert len(history) == 1 + statuses.count(200)
        folded = todo.fold(history)
        assert folded is not None
        assert (await (await client.get(f"{TODOS}/1")).json()) == folded.model_dump(mode="json")


async def _change_one_field(client: Client, n: int) -> ClientResponse:
    field = ("title", "description", "deadline_at")[n % 3]
    value = iso(datetime(2030, 1, 1) + timedelta(hours=n)) if field == "deadline_at" else f"v{n}"
    response = await client.put(f"{TODOS}/1", json={field: value})
    await response.read()
    return response


def _served_api_operations(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.resource.canonical != "/api/v1/openapi.json"
        and route.method != "HEAD"
    }


def _schema_name(request_body: dict[str, Any]) -> str:
    ref: str = request_body["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
