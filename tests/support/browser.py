"""The web page at / as its browser tests drive it: a fresh page on an empty todo list, and the
steps and API calls those tests share."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import icalendar

from tests.support.chromium import watched_page

# without Playwright, chromium() reports it: a failure in CI, a skip elsewhere
with contextlib.suppress(ImportError):
    from playwright.sync_api import Browser, Locator, Page, Request, expect

# UTC+10 all year: a deadline converted to UTC anywhere would be ten hours off
BROWSER_TIMEZONE = "Australia/Brisbane"
CALENDAR_TIMEOUT_MS = 30_000
JOB_EVENTS = re.compile(r"/api/v1/todos/ical/[^/]+/events$")


@contextlib.contextmanager
def browser_page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A page in a new context on an empty todo list; no request may leave loopback, no script
    may fail."""
    context = browser.new_context(
        base_url=base_url,
        timezone_id=BROWSER_TIMEZONE,
        locale="en-AU",
        viewport={"width": 1000, "height": 900},
        accept_downloads=True,
    )
    for todo in context.request.get("/api/v1/todos").json():
        context.request.delete(f"/api/v1/todos/{todo['id']}")
    with watched_page(context, base_url) as opened:
        yield opened


def open_page(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#todo-list")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#count")).not_to_be_empty()


def add_todo(page: Page, title: str, description: str = "", deadline: str = "") -> None:
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Description").fill(description)
    page.get_by_label("Deadline").fill(deadline)
    page.get_by_role("button", name="Add todo").click()
    expect(page.get_by_role("status").first).to_have_text(f"Added “{title}”.")


def expect_titles(page: Page, expected: list[str]) -> None:
    expect(page.locator("#todo-list .todo-title")).to_have_text(expected)


def item(page: Page, title: str) -> Locator:
    return page.locator("#todo-list > li").filter(has=page.get_by_text(title, exact=True))


def api_todos(page: Page) -> list[dict[str, Any]]:
    answer = page.request.get("/api/v1/todos")
    assert answer.ok, answer.text()
    todos: list[dict[str, Any]] = answer.json()
    return todos


def api_create(page: Page, **fields: Any) -> dict[str, Any]:
    answer = page.request.post("/api/v1/todos", data=fields)
    assert answer.status == 201, answer.text()
    todo: dict[str, Any] = answer.json()
    return todo


def vevents(body: bytes) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return [event for event in calendar.walk("VEVENT") if isinstance(event, icalendar.Event)]


def is_event_stream(request: Request) -> bool:
    return request.method == "GET" and bool(JOB_EVENTS.search(request.url))


def is_status_request(request: Request) -> bool:
    return request.method == "GET" and request.url.endswith("/status")


def requests_seen(page: Page, which: Callable[[Request], bool]) -> list[str]:
    """The URLs of the page's requests `which` picks, from now on, as they are sent."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if which(request) else None)
    return seen


def refuse_event_streams(page: Page) -> None:
    """Refuse the page's job event streams, as a proxy that cannot stream would: the page then
    follows its jobs by polling the status route, which a test may answer itself."""
    page.route(
        JOB_EVENTS,
        lambda route: route.fulfill(status=503, json={"error": "no event streams here"}),
    )


def is_calendar_post(request: Request) -> bool:
    return request.method == "POST" and request.url.endswith("/api/v1/todos/ical")


def is_todo_post(request: Request) -> bool:
    return request.method == "POST" and request.url.endswith("/api/v1/todos")
