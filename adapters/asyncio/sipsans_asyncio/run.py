"""Running a coroutine on asyncio, or on uvloop when it is installed and asked for.

:func:`tune_gc` (also ``run(..., tune_gc=True)``) is for long-running SIP servers: it
freezes what start-up made and makes the youngest-generation collection rarer. Under
``sipp -sn uac`` at 1,000 calls/s against ``sipsans uas`` on the stdlib loop, the time
spent in the garbage collector fell from about 220 to 100 µs per call (measured with
``gc.callbacks``). It changes process-wide settings, so it is never done unasked.

``run(..., tune_gc=True)`` also runs :func:`keep_frozen`: a server's live objects are
mostly the transactions lingering for 32 s after each call (Timers J and L), some ten
objects a call that the collector scans again and again without ever finding garbage.
At 3,000 calls/s that is about a million: the middle generation's collections took 70 to
200 ms every two seconds and a full one 870 ms (longer than T1, so peers retransmit).
Freezing once a second takes whatever survived the last second out of the collector's
reach (an O(1) list splice); reference counting still frees every one of them when it
ends. The trade-off: a reference cycle among frozen objects that becomes garbage later is
never collected. A call through the UAS path makes none (tests/adapters/test_adapter_gc.py).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["FREEZE_INTERVAL", "YOUNG_THRESHOLD", "keep_frozen", "run", "tune_gc"]

T = TypeVar("T")

#: Allocations between two youngest-generation collections under :func:`tune_gc`
#: (CPython's default is 700). A SIP server makes many short-lived containers per message.
YOUNG_THRESHOLD = 10_000
#: Seconds between two ``gc.freeze()`` of :func:`keep_frozen`.
FREEZE_INTERVAL = 1.0


def tune_gc() -> None:
    """Call once start-up is done: ``gc.freeze()`` moves every object alive now (modules,
    classes, the parser's tables: none ever becomes garbage) out of the collector's
    reach, and the youngest generation is collected every :data:`YOUNG_THRESHOLD`
    allocations. Memory held by reference cycles is freed a little later."""
    gc.collect()  # freeze no garbage
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


async def keep_frozen(interval: float = FREEZE_INTERVAL) -> None:
    """Run forever (as a task), freezing what survived every ``interval`` seconds (see
    the module docstring: for servers, after :func:`tune_gc`)."""
    while True:
        await asyncio.sleep(interval)
        gc.freeze()


async def _frozen_while(main: Coroutine[Any, Any, T]) -> T:
    freezer = asyncio.ensure_future(keep_frozen())
    try:
        return await main
    finally:
        freezer.cancel()


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = False, tune_gc: bool = False) -> T:
    """``asyncio.run(main)``; with ``use_uvloop=True`` on uvloop if it is installed
    (``pip install sipsans[fast]``), falling back to the stdlib loop otherwise; with
    ``tune_gc=True`` after :func:`tune_gc` and with :func:`keep_frozen` running (for
    servers)."""
    if tune_gc:
        _tune_gc()
        main = _frozen_while(main)
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
