"""The `keys` subcommands: issue a key (shown once), list keys (never their hashes), revoke one,
and ensure one (automation's key: kept while it works, else replaced where it is held).

They reach todo_api's database (DATABASE_URL, else `<VAR_DIR>/todo_api.db`, as `make replay`
finds it) through its tool face only; every failure becomes one line and an exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from rich.console import Console

from scripts.admin.key_holders import KeyHolder, SecretsManagerSecret, StandardStreams
from scripts.operator_name import operator_name
from scripts.replay.errors import OperatorError, one_line
from scripts.replay.options import USAGE_STATUS, Parser, UsageError, settings_with
from scripts.replay.targets import find_service, open_store, service_settings
from services.todo_api import tool_face as todo_api
from shared.auth.api_keys import parse_key
from shared.auth.principal import ROLES
from shared.settings import Settings

SERVICE = "todo_api"


@dataclass(frozen=True)
class Context:
    base: Settings
    out: Console
    err: Console
    given: TextIO = field(default_factory=lambda: sys.stdin)

    def settings_for(self, args: argparse.Namespace) -> Settings:
        settings = settings_with(
            self.base,
            {"database_url": args.database_url, "database_schema": args.database_schema},
        )
        return service_settings(settings, find_service(SERVICE), settings.var_dir)


async def execute(argv: list[str], context: Context) -> int:
    """Run the command line `argv`; return the process's exit status."""
    try:
        args = parse(argv)
        return await COMMANDS[args.action](args, context)
    except UsageError as exc:
        context.err.print(str(exc), markup=False, highlight=False)
        return USAGE_STATUS
    except Exception as exc:
        name = " ".join(argv[:2]) if argv else "admin"
        context.err.print(f"{name} failed: {one_line(exc)}", markup=False, highlight=False)
        return 1


async def _issue(args: argparse.Namespace, context: Context) -> int:
    service = find_service(SERVICE)
    # a key may be issued before the service first ran: its tables are made then
    async with open_store(context.settings_for(args), service, create=True) as store:
        try:
            key = await todo_api.KeyBook(store).issue(
                tenant=args.tenant, roles=args.roles, label=args.label, issued_by=args.by
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    context.out.print(str(key), markup=False, highlight=False)
    context.err.print(
        f"issued API key {key.key_id} for tenant {args.tenant} ({', '.join(sorted(args.roles))}). "
        "Store it now: it is not shown again.",
        markup=False,
        highlight=False,
    )
    return 0


async def _ensure(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings_for(args)
    holder: KeyHolder = (
        StandardStreams(context.given, context.out)
        if args.secret_id is None
        else SecretsManagerSecret(settings, args.secret_id)
    )
    held = parse_key(await holder.held())
    async with open_store(settings, find_service(SERVICE), create=True) as store:
        book = todo_api.KeyBook(store)
        if held is not None and await book.still_serves(held, tenant=args.tenant, roles=args.roles):
            await holder.hold(str(held), replaced=False)
            _say(context, f"kept API key {held.key_id} in {holder.where}: it still works")
            return 0
        try:
            key = await book.issue(
                tenant=args.tenant, roles=args.roles, label=args.label, issued_by=args.by
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    # issued before it is held: a crash in between leaves an unused key, never a held one that
    # does not work (the next run issues again)
    await holder.hold(str(key), replaced=True)
    roles = ", ".join(sorted(args.roles))
    _say(
        context,
        f"issued API key {key.key_id} for tenant {args.tenant} ({roles}) into {holder.where}",
    )
    return 0


def _say(context: Context, line: str) -> None:
    context.err.print(line, markup=False, highlight=False)


async def _list(args: argparse.Namespace, context: Context) -> int:
    async with open_store(context.settings_for(args), find_service(SERVICE)) as store:
        keys = await todo_api.KeyBook(store).keys()
    columns = ("id", "tenant", "roles", "label", "created", "last used", "revoked")
    # tab-separated, one key a line, for `cut` and `column -t` alike (rich would expand the tabs)
    lines = ["\t".join(columns)]
    for key in keys:
        cells = (
            key.key_id,
            key.tenant,
            ",".join(sorted(key.roles)),
            key.label,
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at),
        )
        lines.append("\t".join(cell.replace("\t", " ") for cell in cells))
    context.out.file.write("".join(f"{line}\n" for line in lines))
    return 0


async def _revoke(args: argparse.Namespace, context: Context) -> int:
    async with open_store(context.settings_for(args), find_service(SERVICE)) as store:
        outcome = await todo_api.KeyBook(store).revoke(args.key_id, revoked_by=args.by)
    if outcome is todo_api.Revocation.UNKNOWN:
        raise OperatorError(f"no API key {args.key_id!r}")
    said = "was already revoked" if outcome is todo_api.Revocation.ALREADY_REVOKED else "revoked"
    context.out.print(f"API key {args.key_id} {said}", markup=False, highlight=False)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Context], Awaitable[int]]] = {
    "issue": _issue,
    "ensure": _ensure,
    "list": _list,
    "revoke": _revoke,
}


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="seconds")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    return _parser().parse_args(argv)


def _parser() -> Parser:
    parser = Parser(prog="python -m scripts.admin", description="Manage todo_api's API keys.")
    areas = parser.add_subparsers(dest="area", required=True, metavar="AREA")
    keys = areas.add_parser("keys", help="API keys for programs")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    where, by, what = _where(), _by(), _what()
    actions.add_parser("issue", parents=[where, by, what], help="make a key, shown once")
    ensure = actions.add_parser(
        "ensure",
        parents=[where, by, what],
        help="keep the key held (stdin, or --secret-id) while it works, else issue and hold one",
    )
    ensure.add_argument(
        "--secret-id",
        metavar="ARN",
        help="hold the key in this AWS Secrets Manager secret instead of stdin and stdout",
    )
    actions.add_parser("list", parents=[where], help="every key, never its secret or hash")
    revoke = actions.add_parser("revoke", parents=[where, by], help="refuse a key from now on")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the 8 characters after tok_")
    return parser


def _where() -> Parser:
    parent = Parser(add_help=False)
    parent.add_argument(
        "--database-url",
        metavar="URL",
        help="todo_api's database (default: $DATABASE_URL, else <VAR_DIR>/todo_api.db)",
    )
    parent.add_argument("--database-schema", metavar="NAME", help="PostgreSQL schema")
    return parent


def _what() -> Parser:
    parent = Parser(add_help=False)
    parent.add_argument("--tenant", required=True, help="the tenant the key acts for")
    parent.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=sorted(ROLES),
        help="repeatable",
    )
    parent.add_argument("--label", required=True, help="what the key is for, to tell keys apart")
    return parent


def _by() -> Parser:
    parent = Parser(add_help=False)
    parent.add_argument(
        "--by", default=operator_name(), help="who does it, kept in the event (default: your login)"
    )
    return parent
