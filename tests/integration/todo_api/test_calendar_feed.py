"""The subscribable calendar: the current todos, tagged by the list's version."""

from __future__ import annotations

from tests.support.todo_http import FEED, TODOS, Client, create, summaries


class TestCalendarFeed:
    async def test_answers_the_current_todos_as_a_calendar(self, client: Client) -> None:
        await create(client, title="Project Proposal", deadline_at="2030-04-03T14:00:00")
        await create(client, title="Buy milk")

        response = await client.get(FEED)

        assert response.status == 200
        assert response.content_type == "text/calendar"
        assert response.headers["Cache-Control"] == "no-cache"
        assert summaries(await response.read()) == ["Project Proposal", "Buy milk"]

    async def test_an_unchanged_list_answers_304_to_its_tag(self, client: Client) -> None:
        await create(client, title="Water the plants")
        first = await client.get(FEED)
        etag = first.headers["ETag"]

        again = await client.get(FEED, headers={"If-None-Match": etag})
        # a calendar request is no change to the todos
        await client.post(f"{TODOS}/ical")
        weak = await client.get(FEED, headers={"If-None-Match": f'"other", W/{etag}'})

        assert (again.status, again.headers["ETag"], await again.read()) == (304, etag, b"")
        assert weak.status == 304

    async def test_every_change_gives_a_new_tag_and_the_new_list(self, client: Client) -> None:
        todo = await create(client, title="Water")
        tags = [(await client.get(FEED)).headers["ETag"]]
        await client.put(f"{TODOS}/{todo['id']}", json={"title": "Water twice"})
        changed = await client.get(FEED, headers={"If-None-Match": tags[0]})
        tags.append(changed.headers["ETag"])
        await client.delete(f"{TODOS}/{todo['id']}")
        emptied = await client.get(FEED, headers={"If-None-Match": tags[1]})
        tags.append(emptied.headers["ETag"])

        assert (changed.status, emptied.status) == (200, 200)
        assert summaries(await changed.read()) == ["Water twice"]
        assert summaries(await emptied.read()) == []
        assert len(set(tags)) == 3

    async def test_an_empty_log_is_an_empty_calendar_with_a_tag_of_its_own(
        self, client: Client
    ) -> None:
        response = await client.get(FEED)
        again = await client.get(FEED, headers={"If-None-Match": response.headers["ETag"]})

        assert response.status == 200
        assert summaries(await response.read()) == []
        assert again.status == 304
