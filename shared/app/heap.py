"""The garbage collector after start-up.

Importing and starting a service leaves a few hundred thousand objects (modules, SQLAlchemy's
compiled statements, pydantic's validators) that live as long as the process. Every full
collection would walk them all again, and a burst of allocations (a 20,000-todo snapshot) sets
off several; frozen, they are left out of every collection from then on.
"""

from __future__ import annotations

import gc

from aiohttp import web


def freeze_long_lived() -> None:
    """Collect once, then exempt everything alive now from future collections."""
    gc.collect()
    gc.freeze()


async def freeze_on_startup(_app: web.Application) -> None:
    """An on_startup hook: runs after the app's cleanup contexts have opened its resources."""
    freeze_long_lived()
