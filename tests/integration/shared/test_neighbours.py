"""Neighbours (shared/neighbours.py): names told by another process over loopback reach the
listening process on its event loop, with no thread between; a listener whose loop has closed
moves to the next loop that listens; a closed one stops reading and leaves the folder."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

from shared.neighbours import Neighbours

ROOT = Path(__file__).resolve().parents[3]
# another process: it tells every listener of the folder the names it is given, then exits
TELL = (
    "import sys; from pathlib import Path; from shared.neighbours import Neighbours; "
    "Neighbours(Path(sys.argv[1]), lambda names: None).tell(sys.argv[2:])"
)
HEARD_WITHIN_S = 30.0


async def tell_from_another_process(folder: Path, *names: str) -> None:
    teller = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        TELL,
        str(folder),
        *names,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert await asyncio.wait_for(teller.wait(), HEARD_WITHIN_S) == 0


class Heard:
    """What the listener was told, and on which thread and loop."""

    def __init__(self) -> None:
        self.names: list[list[str]] = []
        self.threads: list[int] = []
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.event = asyncio.Event()

    def __call__(self, names: list[str]) -> None:
        self.names.append(names)
        self.threads.append(threading.get_ident())
        self.loops.append(asyncio.get_running_loop())
        self.event.set()


async def test_names_told_reach_the_listener_on_its_loop(tmp_path: Path) -> None:
    heard = Heard()
    neighbours = Neighbours(tmp_path / "wake", heard)
    neighbours.listen()
    try:
        await tell_from_another_process(tmp_path / "wake", "calendar-worker", "job-tracker")
        await asyncio.wait_for(heard.event.wait(), HEARD_WITHIN_S)
    finally:
        neighbours.close()

    assert heard.names == [["calendar-worker", "job-tracker"]]
    assert heard.threads == [threading.get_ident()]
    assert heard.loops == [asyncio.get_running_loop()]


async def test_a_listener_whose_loop_closed_moves_to_the_next_loop(tmp_path: Path) -> None:
    heard = Heard()
    neighbours = Neighbours(tmp_path / "wake", heard)

    async def listen_and_leave() -> None:
        neighbours.listen()

    # a loop of its own in another thread listens first, then ends (a tool's, a test's)
    await asyncio.to_thread(asyncio.run, listen_and_leave())
    neighbours.listen()
    try:
        await tell_from_another_process(tmp_path / "wake", "moved")
        await asyncio.wait_for(heard.event.wait(), HEARD_WITHIN_S)
    finally:
        neighbours.close()

    assert heard.names == [["moved"]]
    assert heard.loops == [asyncio.get_running_loop()]


async def test_a_closed_listener_leaves_the_folder_and_hears_nothing(tmp_path: Path) -> None:
    heard = Heard()
    neighbours = Neighbours(tmp_path / "wake", heard)
    neighbours.listen()
    listed = tmp_path / "wake" / str(os.getpid())
    assert listed.is_file()

    neighbours.close()
    # listening again after the close starts nothing
    neighbours.listen()
    await tell_from_another_process(tmp_path / "wake", "too late")
    # a tell that found a port would have been read by the loop within these turns
    for _ in range(100):
        await asyncio.sleep(0)

    assert not listed.exists()
    assert heard.names == []
