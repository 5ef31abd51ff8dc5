"""Running a coroutine on asyncio, or on uvloop when it is installed and asked for.

:func:`tune_gc` (also ``run(..., tune_gc=True)``) is for long-running SIP servers: it
freezes what start-up made and makes the youngest-generation collection rarer. Under
``sipp -sn uac`` at 1,000 calls/s against ``sipsans uas`` on the stdlib loop, the time
spent in the garbage collector fell from about 220 to 100 µs per call (measured with
``gc.callbacks``; full collections, each scanning every live transaction, stopped
happening under load). It changes process-wide settings, so it is never done unasked.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["YOUNG_THRESHOLD", "run", "tune_gc"]

T = TypeVar("T")

#: Allocations between two youngest-generation collections under :func:`tune_gc`
#: (CPython's default is 700). A SIP server makes many short-lived containers per message.
YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Call once start-up is done: ``gc.freeze()`` moves every object alive now (modules,
    classes, the parser's tables: none ever becomes garbage) out of the collector's
    reach, and the youngest generation is collected every :data:`YOUNG_THRESHOLD`
    allocations. Memory held by reference cycles is freed a little later."""
    gc.collect()  # freeze no garbage
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = False, tune_gc: bool = False) -> T:
    """``asyncio.run(main)``; with ``use_uvloop=True`` on uvloop if it is installed
    (``pip install sipsans[fast]``), falling back to the stdlib loop otherwise; with
    ``tune_gc=True`` after :func:`tune_gc` (for servers)."""
    if tune_gc:
        _tune_gc()
    if use_uvloop:
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)


_tune_gc = tune_gc  # (the keyword argument of run() shadows the name)
