"""One request as the access table sends it, and its answer read in full. No answer is a 5xx,
whoever asks and whatever for."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    headers: Mapping[str, str]
    text: str

    def error(self) -> str:
        """The message of an error answer, which is JSON {"error": "..."} and nothing else."""
        assert self.content_type == "application/json", self
        body = json.loads(self.text)
        assert isinstance(body, dict), self
        assert set(body) == {"error"}, self
        return str(body["error"])


async def call(
    session: aiohttp.ClientSession, method: str, url: str, body: dict[str, Any] | None = None
) -> Answer:
    async with session.request(method, url, json=body) as response:
        answer = Answer(
            response.status, response.content_type, response.headers, await response.text()
        )
    assert answer.status < 500, f"{method} {url} answered {answer}"
    return answer
