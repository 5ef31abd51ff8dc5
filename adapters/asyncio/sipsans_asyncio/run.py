"""Running a coroutine on asyncio, or on uvloop when it is installed and asked for."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = False) -> T:
    """``asyncio.run(main)``; with ``use_uvloop=True`` on uvloop if it is installed
    (``pip install sipsans[fast]``), falling back to the stdlib loop otherwise."""
    if use_uvloop:
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)
