"""Run one subcommand against one service; every failure becomes one line and an exit status."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from scripts.replay import archive, dead_letters
from scripts.replay.errors import OperatorError, one_line
from scripts.replay.options import USAGE_STATUS, UsageError, parse, selection, settings_with
from scripts.replay.projections import find_projection
from scripts.replay.rebuild import rebuild
from scripts.replay.redrive import redrive
from scripts.replay.republish import RepublishOptions, republish
from scripts.replay.status import print_status, service_status
from scripts.replay.targets import SERVICES, Service, find_service, open_store, service_settings
from shared.contracts.topology import QueueSpec
from shared.messaging.dead_letters.dead_letter_queue import Selection
from shared.settings import Settings


@dataclass(frozen=True)
class Context:
    base: Settings
    var_dir: Path
    out: Console
    err: Console

    def settings_for(self, args: argparse.Namespace, service: Service) -> Settings:
        """The base settings with the command line's overrides, for this service's database."""
        settings = settings_with(
            self.base,
            {
                "database_url": args.database_url,
                "database_schema": args.database_schema,
                "aws_endpoint_url": args.endpoint_url,
            },
        )
        return service_settings(settings, service, self.var_dir)


async def execute(argv: list[str], context: Context) -> int:
    """Run the command line `argv`; return the process's exit status."""
    try:
        args = parse(argv)
        return await COMMANDS[args.command](args, context)
    except UsageError as exc:
        context.err.print(str(exc), markup=False, highlight=False)
        return USAGE_STATUS
    except Exception as exc:
        name = argv[0] if argv else "replay"
        context.err.print(f"{name} failed: {one_line(exc)}", markup=False, highlight=False)
        return 1


async def _republish(args: argparse.Namespace, context: Context) -> int:
    service = find_service(args.service)
    options = RepublishOptions(
        selection(args),
        dry_run=args.dry_run,
        rate_per_s=args.rate,
        published_form=service.published_form,
    )
    settings = context.settings_for(args, service)
    async with open_store(settings, service) as store:
        await republish(store, settings, options, context.out)
    return 0


async def _rebuild(args: argparse.Namespace, context: Context) -> int:
    service = find_service(args.service)
    projection = find_projection(service.name)
    async with open_store(context.settings_for(args, service), service) as store:
        await rebuild(store, projection, context.out, dry_run=args.dry_run)
    return 0


async def _redrive(args: argparse.Namespace, context: Context) -> int:
    service, spec = _consumer(args)
    settings = context.settings_for(args, service)
    await redrive(
        settings, spec, context.out, dry_run=args.dry_run, method=args.method, rate=args.rate
    )
    return 0


def _consumer(args: argparse.Namespace) -> tuple[Service, QueueSpec]:
    service = find_service(args.service)
    if service.queue is None:
        consumers = ", ".join(name for name, found in SERVICES.items() if found.queue)
        raise OperatorError(f"{service.name} consumes no queue (these do: {consumers})")
    return service, service.queue


async def _dead_letters(args: argparse.Namespace, context: Context) -> int:
    service, spec = _consumer(args)
    settings, out = context.settings_for(args, service), context.out
    if args.action == "list":
        await dead_letters.list_groups(settings, spec, out)
    elif args.action == "show":
        await dead_letters.show(settings, spec, args.message, out)
    elif args.action == "redrive":
        await dead_letters.redrive_chosen(settings, spec, _selection(args), out, rate=args.rate)
    else:
        dead_letters.refuse_discarding_everything(_selection(args))
        # the discards are recorded in todo_api's log: its database, not the consumer's
        todo_api = find_service("todo_api")
        async with open_store(context.settings_for(args, todo_api), todo_api) as store:
            await dead_letters.discard_chosen(
                settings, spec, _selection(args), store, out, reason=args.reason, actor=args.by
            )
    return 0


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(group_id=args.group, message_ids=tuple(args.messages or ()))


async def _export(args: argparse.Namespace, context: Context) -> int:
    service = find_service(args.service)
    chosen = selection(args)
    async with open_store(context.settings_for(args, service), service) as store:
        with _output(args.output, context.out.file) as out:
            written = await archive.export_events(store, chosen, out)
    context.err.print(f"exported {written} events from {service.name}", markup=False)
    return 0


async def _import(args: argparse.Namespace, context: Context) -> int:
    service = find_service(args.service)
    settings = context.settings_for(args, service)
    async with open_store(settings, service, create=not args.dry_run) as store:
        with _input(args.input) as lines:
            found = await archive.import_events(
                store, service, lines, context.out, dry_run=args.dry_run
            )
        if found.added and not args.dry_run and service.name in PROJECTED:
            # the imported events must show in the service's read model
            await rebuild(store, find_projection(service.name), context.out)
    return 0


async def _status(args: argparse.Namespace, context: Context) -> int:
    services = [find_service(args.service)] if args.service else list(SERVICES.values())
    statuses = [
        await service_status(context.settings_for(args, service), service) for service in services
    ]
    print_status(context.out, statuses)
    return 1 if any(found.problems for found in statuses) else 0


PROJECTED = ("todo_api", "job_tracker")
COMMANDS: dict[str, Callable[[argparse.Namespace, Context], Awaitable[int]]] = {
    "republish": _republish,
    "rebuild": _rebuild,
    "redrive": _redrive,
    "dead-letters": _dead_letters,
    "export": _export,
    "import": _import,
    "status": _status,
}


@contextlib.contextmanager
def _output(path: str, stdout: Any) -> Iterator[TextIO]:
    if path == "-":
        yield stdout if stdout is not None else sys.stdout
        return
    with _open(path, writing=True) as out:
        yield out


@contextlib.contextmanager
def _input(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdin
        return
    with _open(path, writing=False) as lines:
        yield lines


def _open(path: str, *, writing: bool) -> TextIO:
    try:
        return Path(path).open("w" if writing else "r", encoding="utf-8")
    except OSError as exc:
        verb = "write" if writing else "read"
        raise OperatorError(f"cannot {verb} {path}: {exc.strerror}") from None
