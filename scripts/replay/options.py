"""The command line: one parser, a subcommand per operation, errors as one line."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn, TypeVar, get_args
from uuid import UUID

from pydantic import ValidationError

from scripts.operator_name import operator_name
from scripts.replay.errors import OperatorError
from scripts.replay.redrive import Method
from shared.clock import parse_datetime
from shared.contracts.dead_letters import MAX_DISCARD_REASON_CHARS, MAX_RATE_PER_S
from shared.contracts.events import AnyEvent
from shared.contracts.streams import todo_stream_id
from shared.eventstore.queries import EventFilter
from shared.settings import Settings

N = TypeVar("N", int, float)
EVENT_TYPES = tuple(model.model_fields["type"].default for model in get_args(get_args(AnyEvent)[0]))


# the exit status of a wrong command line, as argparse uses
USAGE_STATUS = 2


class UsageError(OperatorError):
    """The command line itself is wrong (exit status USAGE_STATUS)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def settings_with(base: Settings, overrides: Mapping[str, object | None]) -> Settings:
    """`base` with the command line's values that were given; a bad one is a UsageError naming
    its option."""
    given = {name: value for name, value in overrides.items() if value is not None}
    try:
        return Settings(**{**base.model_dump(), **given})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise UsageError(f"bad --{'-'.join(map(str, first['loc']))}: {first['msg']}") from None


def parse(argv: Sequence[str]) -> argparse.Namespace:
    return _parser().parse_args(argv)


def selection(args: argparse.Namespace) -> EventFilter:
    """The events the options select; a range that selects nothing by construction is refused."""
    if args.to_position is not None and args.to_position < args.from_position:
        raise UsageError(
            f"bad range: --to-position {args.to_position} is before "
            f"--from-position {args.from_position}"
        )
    if args.since and args.until and args.until <= args.since:
        raise UsageError(f"bad range: --until {args.until} is not after --since {args.since}")
    unknown = sorted(set(args.types) - set(EVENT_TYPES))
    if unknown:
        raise UsageError(f"unknown event type {unknown[0]!r}: choose from {', '.join(EVENT_TYPES)}")
    return EventFilter(
        from_position=args.from_position,
        to_position=args.to_position,
        since=args.since,
        until=args.until,
        types=tuple(args.types),
        stream_id=args.stream,
        correlation_id=args.task,
    )


def _parser() -> Parser:
    parser = Parser(
        prog="python -m scripts.replay",
        description=(
            "Replay events safely: republish, rebuild, redrive, dead-letters, export, import, "
            "status."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    where, select = _where(), _selection()
    service = _service()
    republish = commands.add_parser(
        "republish", parents=[where, service, select], help="publish stored events again"
    )
    _dry_run(republish, "list what would be sent")
    republish.add_argument(
        "--rate", type=_positive(float), metavar="N", help="at most N events a second"
    )
    _dry_run(
        commands.add_parser("rebuild", parents=[where, service], help="rebuild a projection"),
        "show the difference, change nothing",
    )
    redrive = commands.add_parser(
        "redrive", parents=[where, service], help="move DLQ messages back to their queue"
    )
    _dry_run(redrive, "list the dead letters, move nothing")
    redrive.add_argument(
        "--method", type=Method, choices=list(Method), default=Method.AUTO, help="how to move"
    )
    redrive.add_argument(
        "--rate", type=_rate, metavar="N", help="at most N messages a second (default: no limit)"
    )
    _dead_letters(commands, where, service)
    export = commands.add_parser(
        "export", parents=[where, service, select], help="write events as JSON Lines"
    )
    export.add_argument("--output", default="-", metavar="PATH", help="file (default: stdout)")
    imported = commands.add_parser(
        "import", parents=[where, service], help="store events from JSON Lines, skipping known ids"
    )
    imported.add_argument("--input", default="-", metavar="PATH", help="file (default: stdin)")
    _dry_run(imported, "count what would be imported, change nothing")
    status = commands.add_parser("status", parents=[where], help="events, backlogs, queue depths")
    status.add_argument("--service", metavar="NAME", help="one service (default: all three)")
    return parser


def _dead_letters(commands: Any, where: Parser, service: Parser) -> None:
    found = commands.add_parser(
        "dead-letters", help="DLQ messages by failure: list, show, redrive or discard them"
    )
    actions = found.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", parents=[where, service], help="groups by event type and failure")
    show = actions.add_parser("show", parents=[where, service], help="one message in full")
    show.add_argument("--message", required=True, metavar="ID", help="its message id")
    redrive = actions.add_parser(
        "redrive", parents=[where, service, _chosen()], help="move a group or messages back"
    )
    redrive.add_argument(
        "--rate", type=_rate, metavar="N", help="at most N messages a second (default: no limit)"
    )
    discard = actions.add_parser(
        "discard",
        parents=[where, service, _chosen()],
        help="delete a group or messages, each recorded in todo_api's log with the reason "
        "(--database-url names todo_api's database)",
    )
    discard.add_argument(
        "--reason", required=True, type=_reason, metavar="TEXT", help="why, kept in the event"
    )
    discard.add_argument(
        "--by", default=operator_name(), help="who does it, kept in the event (default: your login)"
    )


def _chosen() -> Parser:
    parent = Parser(add_help=False)
    one_of = parent.add_mutually_exclusive_group(required=True)
    one_of.add_argument("--group", metavar="ID", help="a group id from `dead-letters list`")
    one_of.add_argument(
        "--message", dest="messages", action="append", metavar="ID", help="repeatable"
    )
    one_of.add_argument("--all", action="store_true", help="every message (redrive only)")
    return parent


def _rate(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_RATE_PER_S:
        raise argparse.ArgumentTypeError(
            f"must be above 0 and at most {MAX_RATE_PER_S}, not {text}"
        )
    return value


def _reason(text: str) -> str:
    if not text.strip() or len(text) > MAX_DISCARD_REASON_CHARS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_DISCARD_REASON_CHARS} characters")
    return text


def _where() -> Parser:
    parent = Parser(add_help=False)
    parent.add_argument(
        "--database-url",
        metavar="URL",
        help="the service's database (default: $DATABASE_URL, else <VAR_DIR>/<service>.db)",
    )
    parent.add_argument("--database-schema", metavar="NAME", help="PostgreSQL schema")
    parent.add_argument(
        "--endpoint-url", metavar="URL", help="AWS endpoint (default: $AWS_ENDPOINT_URL)"
    )
    return parent


def _service() -> Parser:
    parent = Parser(add_help=False)
    parent.add_argument(
        "--service", required=True, metavar="NAME", help="todo_api, calendar_worker or job_tracker"
    )
    return parent


def _selection() -> Parser:
    parent = Parser(add_help=False)
    parent.add_argument("--from-position", type=_positive(int), default=1, metavar="N")
    parent.add_argument("--to-position", type=_positive(int), metavar="N", help="inclusive")
    parent.add_argument("--since", type=_moment, metavar="TIME", help="occurred at or after")
    parent.add_argument("--until", type=_moment, metavar="TIME", help="occurred before")
    parent.add_argument(
        "--type", dest="types", action="append", default=[], metavar="TYPE", help="repeatable"
    )
    parent.add_argument("--stream", metavar="ID", help=f"one stream, e.g. {todo_stream_id(1)}")
    parent.add_argument("--task", type=UUID, metavar="TASK_ID", help="one calendar job's events")
    return parent


def _dry_run(parser: argparse.ArgumentParser, meaning: str) -> None:
    parser.add_argument("--dry-run", action="store_true", help=meaning)


def _positive(kind: Callable[[str], N]) -> Callable[[str], N]:
    def positive(text: str) -> N:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value

    # argparse names the type in its "invalid int value" message
    positive.__name__ = getattr(kind, "__name__", "number")
    return positive


def _moment(text: str) -> datetime:
    return parse_datetime(text)
