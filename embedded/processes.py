"""`make run` on several cores: the services in child processes, this one watching them.

EMBEDDED_PROCESSES picks the layout (LAYOUTS). The children share the transport file, which
wakes a receive in one process as soon as another sends (shared/neighbours.py); each
service keeps its own SQLite file, written by its own process (todo_api's process reads the
tracker's too, and the tracker's publishes todo_api's outbox: embedded/hosting.py). Children
start with `spawn` (no copy of this process's threads), report where their services answer
through a pipe, and, once every child has, are told so through it (ALL_UP): then a part that
uses another process's tables starts (todo_api's relay). They run until SIGINT or SIGTERM. A
stop reaches every child; a child that ends on its own stops the others, and this process exits
1 naming it: never half a system.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from embedded.hosting import SERVICES, Address, hosting, todo_api_relay
from shared.app.heap import freeze_long_lived
from shared.observability.logs import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import Settings

logger = logging.getLogger("embedded")
# which services each process hosts, by EMBEDDED_PROCESSES. todo_api answers status polls in its
# own process however they are laid out (embedded/hosting.py: the tracker's reads beside it)
LAYOUTS: Mapping[int, tuple[tuple[str, ...], ...]] = {
    1: (SERVICES,),
    2: (("todo_api",), ("job_tracker", "calendar_worker")),
    3: (("todo_api",), ("job_tracker",), ("calendar_worker",)),
}
# how long a child may take to stop once asked before it is killed
STOP_PATIENCE_S = 20.0
# what this process says to each child once every one has reported
ALL_UP = "all up"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ChildEnded(Exception):
    """A child process stopped without being asked: the whole run stops."""


@dataclass(frozen=True)
class Child:
    services: tuple[str, ...]
    process: BaseProcess
    # this process's end of a pipe to the child: where the child reports, and its EOF
    reports: Connection

    @property
    def name(self) -> str:
        return "+".join(self.services)


class Stop:
    """Why the run stops: asked by a signal, or a child that ended (the first one named)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.asked = False
        self.ended: Child | None = None

    def ask(self) -> None:
        self.asked = True
        self.event.set()

    def end(self, child: Child) -> None:
        if self.ended is None:
            self.ended = child
        self.event.set()


async def run_processes(base: Settings, var_dir: Path, layout: tuple[tuple[str, ...], ...]) -> int:
    """Start the layout's processes, those todo_api needs first; return the exit status."""
    stop = Stop()
    _on_stop_signals(stop.ask)
    children: list[Child] = []
    try:
        addresses: dict[str, Address] = {}
        for wave in _waves(layout):
            started = [_start(base, var_dir, services, addresses) for services in wave]
            children += started
            for child in started:
                addresses |= await _report_of(child)
        for child in children:
            # a child gone meanwhile is seen by its sentinel below
            with contextlib.suppress(OSError):
                child.reports.send(ALL_UP)
        _say_up(addresses, len(children))
        await _until_stopped(stop, children)
        ended = stop.ended
        if ended is not None:
            # its sentinel closes as it exits, a moment before it can be reaped
            await asyncio.to_thread(ended.process.join, STOP_PATIENCE_S)
        # a child stopped by the same Ctrl-C may be seen before this process's own signal
        if ended is not None and not stop.asked and ended.process.exitcode != 0:
            raise ChildEnded(
                f"the {ended.name} process stopped on its own (exit code {ended.process.exitcode})"
            )
        return 0
    except ChildEnded as ended:
        if stop.asked:
            return 0
        logger.error("%s; stopping TaskOverflow", ended)
        return 1
    finally:
        await _stop_all(children)
        logger.info("stopped")


def _waves(layout: tuple[tuple[str, ...], ...]) -> list[list[tuple[str, ...]]]:
    """The processes without todo_api (started together), then the one with it."""
    background = [services for services in layout if "todo_api" not in services]
    front = [services for services in layout if "todo_api" in services]
    return [wave for wave in (background, front) if wave]


def _start(
    base: Settings, var_dir: Path, services: tuple[str, ...], peers: Mapping[str, Address]
) -> Child:
    context = multiprocessing.get_context("spawn")
    # two-way, so the child sees its end turn readable (EOF) when this process is gone
    reports, child_end = context.Pipe(duplex=True)
    process = context.Process(
        target=child_main,
        args=(base, var_dir, services, dict(peers), child_end),
        name="+".join(services),
    )
    process.start()
    # the child holds its own copy now: this one would hide the child's end from us
    child_end.close()
    return Child(services, process, reports)


async def _report_of(child: Child) -> dict[str, Address]:
    """Where the child's services answer, once it has started them."""
    try:
        addresses: dict[str, Address] = await asyncio.to_thread(child.reports.recv)
    except EOFError:
        await asyncio.to_thread(child.process.join, STOP_PATIENCE_S)
        raise ChildEnded(
            f"the {child.name} process failed to start (exit code {child.process.exitcode})"
        ) from None
    return addresses


def _say_up(addresses: Mapping[str, Address], processes: int) -> None:
    metrics = ", ".join(addresses[service].metrics_url for service in SERVICES)
    logger.info("metrics of todo_api, job_tracker, calendar_worker: %s", metrics)
    logger.info(
        "TaskOverflow is up at %s in %d processes  (Ctrl-C stops it)",
        addresses["todo_api"].url,
        processes,
    )


def _on_stop_signals(callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, callback)


async def _until_stopped(stop: Stop, children: list[Child]) -> None:
    """Until a signal asks, or a child ends (its sentinel turns readable)."""
    loop = asyncio.get_running_loop()
    for child in children:
        loop.add_reader(child.process.sentinel, stop.end, child)
    try:
        await stop.event.wait()
    finally:
        for child in children:
            loop.remove_reader(child.process.sentinel)


async def _stop_all(children: list[Child]) -> None:
    """Ask every child still running to stop, then wait for each; kill one that will not."""
    for child in children:
        if child.process.is_alive() and child.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                # a Ctrl-C reached the children too; a stop sent to this process alone did not
                os.kill(child.process.pid, signal.SIGTERM)
    for child in children:
        await asyncio.to_thread(child.process.join, STOP_PATIENCE_S)
        if child.process.is_alive():
            logger.error(
                "the %s process did not stop in %.0f s: killed", child.name, STOP_PATIENCE_S
            )
            child.process.kill()
            await asyncio.to_thread(child.process.join)
        child.reports.close()


def child_main(
    base: Settings,
    var_dir: Path,
    services: tuple[str, ...],
    peers: dict[str, Address],
    reports: Connection,
) -> None:
    """A child process: host `services` until asked to stop (or until the parent is gone)."""
    configure_logging(base)
    # before any thread starts (the span exporter's, the loop's): each inherits the policy
    _take_turns_as_batch()
    configure_tracing(base)
    asyncio.run(_host(base, var_dir, services, peers, reports))


def _take_turns_as_batch() -> None:
    """Run as SCHED_BATCH, a policy any process may take (Linux; elsewhere nothing changes).

    The children hand work to one another by loopback datagrams (the transport's wake-ups, job
    changes, the relay's nudges). Linux places a woken process on its waker's core and lets it
    preempt the waker: each datagram stalled its sender for milliseconds while the receiver ran.
    A SCHED_BATCH process woken preempts no one; it runs on a free core or at the next tick. In
    `make bench ARGS=side-by-side`'s patterns this gave 14-32% more jobs/s and a p50 10-20% lower
    (README, Performance)."""
    if not hasattr(os, "sched_setscheduler"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError as exc:
        logger.info("running with the default scheduling policy (%s)", exc)


async def _host(
    base: Settings,
    var_dir: Path,
    services: tuple[str, ...],
    peers: Mapping[str, Address],
    reports: Connection,
) -> None:
    stop = asyncio.Event()
    all_up = asyncio.Event()
    _on_stop_signals(stop.set)
    asyncio.get_running_loop().add_reader(
        reports.fileno(), _hear_parent, reports, all_up.set, stop.set
    )
    async with hosting(base, var_dir, services, peers) as addresses:
        freeze_long_lived()
        reports.send(addresses)
        if not await _first_of(all_up, stop):
            return
        async with todo_api_relay(base, var_dir, services) as relay_metrics:
            if relay_metrics is not None:
                logger.info("todo_api's outbox is published from here; metrics: %s", relay_metrics)
            await stop.wait()


def _hear_parent(reports: Connection, all_up: Callable[[], None], gone: Callable[[], None]) -> None:
    """The parent said ALL_UP, or it is gone (the pipe's end of file)."""
    try:
        said = reports.recv()
    except (EOFError, OSError):
        # readable for good now: heard once is enough
        asyncio.get_running_loop().remove_reader(reports.fileno())
        gone()
        return
    if said == ALL_UP:
        all_up()


async def _first_of(wanted: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait until `wanted` or `stop` is set; True if `wanted` came first."""
    waits = [asyncio.create_task(event.wait()) for event in (wanted, stop)]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return wanted.is_set() and not stop.is_set()
