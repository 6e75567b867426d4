"""A change asked by another site's page is refused over real HTTP, before it starts anything;
the same requests from the page itself, or from curl (no Origin, no Sec-Fetch-Site), pass."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from services.todo_api.app_keys import store_key
from tests.support.todo_http import TODOS, Client, create, error_of

ICAL = f"{TODOS}/ical"
EVIL = "http://evil.example"
# what a browser sends for a form on another site (a <form method=post> or fetch no-cors)
CROSS_SITE_HEADERS = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": EVIL},
    {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
    # another port of the same host is same-site to the browser, but not this origin
    {"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-site"},
    # a sandboxed frame or a local file
    {"Origin": "null"},
]


async def calendar_requests(client: Client) -> int:
    store = client.app[store_key]
    events = store.tables.events
    count = select(func.count()).where(events.c.type == "CalendarRequested")
    async with store.reading() as conn:
        return int((await conn.execute(count)).scalar_one())


def own_origin(client: Client) -> str:
    return str(client.make_url("")).rstrip("/")


@pytest.mark.parametrize("headers", CROSS_SITE_HEADERS)
async def test_a_cross_site_form_starts_no_calendar_job(
    client: Client, headers: dict[str, str]
) -> None:
    # a form posts urlencoded fields, or nothing at all
    response = await client.post(ICAL, data="a=1", headers=headers)

    assert await error_of(response, 403) == "Cross-site requests may not change anything here"
    assert await calendar_requests(client) == 0


@pytest.mark.parametrize("headers", CROSS_SITE_HEADERS)
async def test_a_cross_site_page_changes_no_todo(client: Client, headers: dict[str, str]) -> None:
    todo = await create(client, title="mine")
    # text/plain is the one body type a form can send that holds JSON
    plain = {"Content-Type": "text/plain", **headers}

    created = await client.post(TODOS, data='{"title": "theirs"}', headers=plain)
    updated = await client.put(f"{TODOS}/{todo['id']}", data='{"completed": true}', headers=plain)
    deleted = await client.delete(f"{TODOS}/{todo['id']}", headers=headers)

    for response in (created, updated, deleted):
        await error_of(response, 403)
    assert await (await client.get(f"{TODOS}/{todo['id']}")).json() == todo


async def test_a_form_s_text_plain_body_is_no_todo_even_from_no_site(client: Client) -> None:
    # what keeps a cross-site form away even from a browser that sends no Origin: JSON only
    response = await client.post(
        TODOS, data='{"title": "theirs"}', headers={"Content-Type": "text/plain"}
    )

    await error_of(response, 415)


@pytest.mark.parametrize(
    "headers",
    [
        # curl, the practical's session
        {},
        # the web page itself
        {"Sec-Fetch-Site": "same-origin", "Origin": "<own>"},
        # typed into the address bar or a bookmark
        {"Sec-Fetch-Site": "none"},
    ],
)
async def test_the_page_itself_and_curl_start_calendar_jobs(
    client: Client, headers: dict[str, str]
) -> None:
    sent = {
        name: own_origin(client) if value == "<own>" else value for name, value in headers.items()
    }

    response = await client.post(ICAL, headers=sent)

    assert response.status == 202, await response.text()
    assert await calendar_requests(client) == 1


async def test_the_page_itself_changes_todos(client: Client) -> None:
    same: dict[str, Any] = {"Origin": own_origin(client), "Sec-Fetch-Site": "same-origin"}

    created = await client.post(TODOS, json={"title": "mine"}, headers=same)
    todo_id = (await created.json())["id"]
    updated = await client.put(f"{TODOS}/{todo_id}", json={"completed": True}, headers=same)
    deleted = await client.delete(f"{TODOS}/{todo_id}", headers=same)

    assert [created.status, updated.status, deleted.status] == [201, 200, 200]


async def test_reading_is_never_refused(client: Client) -> None:
    response = await client.get(TODOS, headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})

    assert response.status == 200
