"""HTTP views of the todo list: parse, call a handler, shape the answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from aiohttp import web

from services.todo_api import handlers
from services.todo_api.app_keys import book_key, store_key
from services.todo_api.commands import CreateTodo, DeleteTodo, UpdateTodo
from services.todo_api.idempotency import (
    HEADER,
    KeyedRequest,
    KeyReusedError,
    parse_key,
)
from services.todo_api.projection import get_todo, list_todos
from services.todo_api.records import TodoBook
from services.todo_api.schemas import TodoIn, TodoPatch
from services.todo_api.todo import TodoNotFoundError
from shared.auth.middleware import principal_key
from shared.clock import utcnow
from shared.eventstore.store import ConcurrencyError
from shared.web.http import (
    bad_request,
    json_error,
    json_response,
    not_found,
    parse_body,
    public_url,
)

TODO_NOT_FOUND = "Todo not found"
# ids outside this range cannot exist; refusing them early keeps BIGINT overflow away from SQL
MAX_TODO_ID = 2**63 - 1
# the largest page a client may ask for
MAX_PAGE = 1000


async def list_view(request: web.Request) -> web.Response:
    completed = _completed_filter(request.query.get("completed"))
    window = _window_filter(request.query.get("window"))
    deadline_before = None if window is None else utcnow() + timedelta(days=window)
    after_id, limit = _page(request.query)
    async with request.app[store_key].reading() as conn:
        todos = await list_todos(
            conn,
            tenant=request[principal_key].tenant,
            completed=completed,
            deadline_before=deadline_before,
            after_id=after_id,
            limit=limit,
        )
    response = json_response(todos)
    # a full page may have more after it; the body stays the plain list of the original contract
    if limit is not None and len(todos) == limit:
        following = request.rel_url.update_query(after_id=todos[-1].id, limit=limit)
        response.headers["Link"] = f'<{public_url(request, str(following))}>; rel="next"'
    return response


async def get_view(request: web.Request) -> web.Response:
    todo_id = _todo_id(request)
    todo = await get_todo(request.app[store_key], todo_id, tenant=request[principal_key].tenant)
    if todo is None:
        raise not_found(TODO_NOT_FOUND)
    return json_response(todo)


async def create_view(request: web.Request) -> web.Response:
    body = await parse_body(request, TodoIn)
    keyed = keyed_request(request, body.model_dump_json())
    command = CreateTodo(**body.model_dump())
    try:
        todo = await handlers.create_todo(command, acting_book(request), keyed)
    except KeyReusedError as exc:
        return json_error(str(exc), 422)
    return json_response(todo, status=201)


def acting_book(request: web.Request) -> TodoBook:
    """The todos as the request's principal sees and changes them: its tenant's only."""
    return request.app[book_key].acting_as(request[principal_key])


def keyed_request(request: web.Request, body: str = "") -> KeyedRequest | None:
    """The request's Idempotency-Key with a digest of what it asks (None: sent without one)."""
    try:
        key = parse_key(request.headers.get(HEADER))
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return None if key is None else KeyedRequest.of(key, request.method, request.path, body)


async def update_view(request: web.Request) -> web.Response:
    todo_id = _todo_id(request)
    body = await parse_body(request, TodoPatch)
    command = UpdateTodo(todo_id, body.changes())
    try:
        todo = await handlers.update_todo(command, acting_book(request))
    except TodoNotFoundError:
        raise not_found(TODO_NOT_FOUND) from None
    except ConcurrencyError:
        return json_error("The todo is being changed by others; try again", 409)
    return json_response(todo)


async def delete_view(request: web.Request) -> web.Response:
    try:
        todo_id = _todo_id(request)
        todo = await handlers.delete_todo(DeleteTodo(todo_id), acting_book(request))
    except (web.HTTPNotFound, TodoNotFoundError):
        # the original contract answers a missing todo with 200 {}
        return json_response({})
    except ConcurrencyError:
        return json_error("The todo is being changed by others; try again", 409)
    return json_response(todo)


def _todo_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not _is_small_number(raw) or not 0 < int(raw) <= MAX_TODO_ID:
        raise not_found(TODO_NOT_FOUND)
    return int(raw)


def _completed_filter(raw: str | None) -> bool | None:
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise bad_request("completed must be true or false")
    return raw == "true"


def _window_filter(raw: str | None) -> int | None:
    if raw is None:
        return None
    # beyond ~2.7 million days the date leaves datetime's range
    if not _is_small_number(raw) or int(raw) > 1_000_000:
        raise bad_request("window must be a whole number of days between 0 and 1000000")
    return int(raw)


def _page(query: Mapping[str, str]) -> tuple[int, int | None]:
    """`after_id` and `limit`: without them, the whole list."""
    after_id, limit = query.get("after_id"), query.get("limit")
    if after_id is not None and not (_is_small_number(after_id) and int(after_id) <= MAX_TODO_ID):
        raise bad_request(f"after_id must be a whole number between 0 and {MAX_TODO_ID}")
    if limit is not None and not (_is_small_number(limit) and 1 <= int(limit) <= MAX_PAGE):
        raise bad_request(f"limit must be a whole number between 1 and {MAX_PAGE}")
    return int(after_id or 0), None if limit is None else int(limit)


def _is_small_number(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 19
