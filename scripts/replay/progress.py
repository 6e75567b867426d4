"""How far a long operation is: a rich progress bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

# without a terminal, one line at most this often keeps logs readable
LOG_INTERVAL_S = 2.0


class ProgressReport:
    def __init__(self, console: Console, label: str, total: int) -> None:
        self._console = console
        self._label = label
        self.total = total
        self.done = 0
        self.last_position: int | None = None
        self._started = time.monotonic()
        self._logged = self._started
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressReport:
        if self._console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("position {task.fields[position]}"),
                TimeRemainingColumn(),
                console=self._console,
            )
            self._bar.start()
            self._task = self._bar.add_task(self._label, total=self.total, position="-")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif kind is None:
            self._log()

    def advance(self, count: int, last_position: int) -> None:
        self.done += count
        self.last_position = last_position
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=count, position=last_position)
        elif time.monotonic() - self._logged >= LOG_INTERVAL_S:
            self._log()

    def _log(self) -> None:
        self._logged = time.monotonic()
        elapsed_s = self._logged - self._started
        left = self.total - self.done
        eta = f", about {left * elapsed_s / self.done:.0f} s left" if self.done and left else ""
        self._console.print(
            f"{self._label}: {self.done}/{self.total} done, last position "
            f"{self.last_position if self.last_position is not None else '-'}{eta}",
            markup=False,
            highlight=False,
        )
