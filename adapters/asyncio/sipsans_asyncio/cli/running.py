"""Running a network subcommand: its coroutine on the loop, stopped the same way by
SIGINT and SIGTERM.

Either signal cancels the subcommand's coroutine; its sessions then close as they do
on any exit: every call is hung up (BYE, or CANCEL while ringing), every registration
removed and every subscription ended, waiting a bounded time for the answers
(``Session.close_timeout``), and the transcript is closed last. The exit status is
then 130 (SIGINT) or 143 (SIGTERM). A second signal cuts that wait short.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Coroutine
from typing import Any

from ..run import run
from .common import CommandError, Exit, need_extra

__all__ = ["run_network"]

_STATUS = {signal.SIGINT: Exit.INTERRUPTED, signal.SIGTERM: Exit.TERMINATED}


async def _stopped_by_signals(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main``; SIGINT or SIGTERM cancels it (see the module docstring)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    caught: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        if not caught:
            print(f"\n{signum.name}: hanging up and unregistering", file=sys.stderr, flush=True)
        caught.append(signum)
        task.cancel()

    installed: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():  # (signals go to it only)
        for signum in _STATUS:
            try:
                loop.add_signal_handler(signum, stop, signum)
            except (NotImplementedError, RuntimeError):  # (Windows' loops)
                continue
            installed.append(signum)
    try:
        return await main
    except asyncio.CancelledError:
        if not caught:
            raise
        return int(_STATUS[caught[0]])
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def run_network(
    main: Coroutine[Any, Any, int], args: argparse.Namespace, *, server: bool = False
) -> int:
    """Run a network subcommand's coroutine (on uvloop with ``--uvloop``); returns the
    exit status. A ``server`` trades later freeing of reference cycles for fewer
    collections under load (:func:`sipsans_asyncio.run.tune_gc`)."""
    use_uvloop = getattr(args, "uvloop", False)
    try:
        if use_uvloop:
            need_extra("uvloop", "fast", "--uvloop")
    except CommandError:
        main.close()
        raise
    try:
        return run(_stopped_by_signals(main), use_uvloop=use_uvloop, tune_gc=server)
    except KeyboardInterrupt:  # (SIGINT outside the main thread's handler)
        print("interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    except OSError as exc:  # binding failed, ...
        print(f"sipsans: error: {exc.strerror or exc}", file=sys.stderr)
        return Exit.USAGE
