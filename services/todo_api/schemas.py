"""Request and response bodies of the todo API; they validate and they document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, RootModel

from shared.clock import parse_datetime
from shared.contracts.events import TodoSnapshot


def _to_datetime(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date-time string such as 2023-04-03T14:00:00")
    try:
        return parse_datetime(value)
    except ValueError:
        raise ValueError("must be a date-time string such as 2023-04-03T14:00:00") from None


def _not_blank(title: str) -> str:
    if not title.strip():
        raise ValueError("must not be blank")
    return title


def _no_nul(text: str) -> str:
    # PostgreSQL text cannot hold U+0000; refusing it here keeps both databases alike
    if "\x00" in text:
        raise ValueError("must not contain the NUL character")
    return text


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


Title = Annotated[
    str, Field(min_length=1, max_length=80), AfterValidator(_not_blank), AfterValidator(_no_nul)
]
Description = Annotated[str, Field(max_length=120), AfterValidator(_no_nul)]
Deadline = Annotated[datetime | None, BeforeValidator(_to_datetime)]


class TodoIn(BaseModel):
    """A new todo."""

    model_config = ConfigDict(extra="forbid", strict=True)

    title: Title
    description: Description | None = None
    completed: bool = False
    deadline_at: Deadline = None


class TodoPatch(BaseModel):
    """Fields to change on a todo; absent fields keep their values."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # absent means unchanged (see changes()); an explicit null title or completed is rejected,
    # so the documented schema shows no null default for them
    title: Title = Field(None, json_schema_extra=_no_default)  # type: ignore[assignment]
    description: Description | None = None
    completed: bool = Field(None, json_schema_extra=_no_default)  # type: ignore[assignment]
    deadline_at: Deadline = None

    def changes(self) -> dict[str, Any]:
        # declaration order, so an event's `changed` names do not depend on set ordering
        sent = self.model_fields_set
        return {name: getattr(self, name) for name in type(self).model_fields if name in sent}


class Todo(RootModel[TodoSnapshot]):
    """A todo."""


class TodoList(RootModel[list[TodoSnapshot]]):
    """Todos in creation order."""


class Deleted(RootModel[dict[str, Any]]):
    """The deleted todo, or {} when there was none."""


class FeedUrlIssued(BaseModel):
    """The tenant's new calendar feed URL: the only answer that shows its secret."""

    feed_url: str
    issued_at: datetime


class FeedUrlState(BaseModel):
    """Whether the tenant has a calendar feed URL, and since when (never the URL itself)."""

    issued: bool
    issued_at: datetime | None


class OidcSignIn(BaseModel):
    """Where a web page sends the user to sign in: authorization code with PKCE (S256)."""

    issuer: str
    client_id: str
    authorization_endpoint: str
    token_endpoint: str
    scope: str


class AuthConfig(BaseModel):
    """Whether the API needs credentials, and how a web page gets them: an API key pasted in
    always, OIDC when the issuer and client are configured (null otherwise)."""

    mode: Literal["none", "required"]
    oidc: OidcSignIn | None
