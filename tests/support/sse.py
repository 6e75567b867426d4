"""Server-Sent Events as a client reads them off the wire: each event (id and data) or comment,
one at a time, from an aiohttp response."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

# a bound on how long a test waits for what must come: reaching it fails the test
READ_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Message:
    """An event (`id`, `data`) or, when `comment` is set, a comment line."""

    id: str | None = None
    data: str = ""
    comment: str | None = None

    @property
    def body(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.data)
        return loaded

    @property
    def status(self) -> str:
        return str(self.body["task_status"])


class EndOfStream(Exception):
    """The server closed the stream."""


async def next_message(response: aiohttp.ClientResponse) -> Message:
    """The next event or comment; EndOfStream once the server closed the stream."""
    event_id: str | None = None
    data: list[str] = []
    async with asyncio.timeout(READ_TIMEOUT_S):
        while True:
            raw = await response.content.readline()
            if not raw:
                raise EndOfStream
            line = raw.decode().rstrip("\r\n")
            if line.startswith(":") and not data and event_id is None:
                # a comment, with the blank line that follows it
                await response.content.readline()
                return Message(comment=line[1:].strip())
            if not line:
                return Message(id=event_id, data="\n".join(data))
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "id":
                event_id = value
            elif field == "data":
                data.append(value)


async def next_event(response: aiohttp.ClientResponse) -> Message:
    """The next event, past any comments."""
    while True:
        message = await next_message(response)
        if message.comment is None:
            return message


async def rest_of(response: aiohttp.ClientResponse) -> list[Message]:
    """Every event until the server closes the stream."""
    events: list[Message] = []
    while True:
        try:
            events.append(await next_event(response))
        except EndOfStream:
            return events
