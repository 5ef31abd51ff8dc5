"""``--state URL`` and ``--worker NAME``: a ``sipsans uas`` that is one worker of many
behind a load balancer, its confirmed dialogs shared through a store (DESIGN.md §10,
docs/scaling.md).

With ``--state redis://HOST:PORT/DB`` the worker writes each confirmed dialog's
snapshot to Redis (and deletes it when the dialog ends), and a request within a
dialog it does not hold (one a dead worker held, sent here by the balancer) waits
``--restore-wait`` seconds while the worker restores the dialog from Redis; then it
is answered as usual, or 481. ``--worker`` names the worker in the store (default: its
address). Each restoration is printed; so is a summary at exit. Redis unreachable
never stops calls: it is reported on stderr and retried (logger ``sipsans.store``).

The ``uas`` module uses :func:`add_state_options`, :func:`check_state`,
:func:`ua_config` and :func:`shared_dialogs`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sipsans
from sipsans_session import SharedDialogs, open_store, shared_config
from sipsans_session.shared import RESTORE_WAIT

from ..session import Session
from .common import CommandError

__all__ = ["add_state_options", "check_state", "shared_dialogs", "ua_config"]


def add_state_options(sub: argparse.ArgumentParser) -> None:
    group = sub.add_argument_group("shared dialogs (a worker behind a load balancer)")
    group.add_argument(
        "--state",
        metavar="URL",
        help="share confirmed dialogs through this store: redis://HOST:PORT/DB"
        " (needs sipsans[redis]); restore those of dead workers on demand",
    )
    group.add_argument(
        "--worker",
        metavar="NAME",
        help="this worker's name in the store (default: its listening address)",
    )
    group.add_argument(
        "--restore-wait",
        type=float,
        default=RESTORE_WAIT,
        metavar="SECONDS",
        help=f"how long a request for an unknown dialog waits for it (default {RESTORE_WAIT})",
    )


def check_state(args: argparse.Namespace) -> None:
    """Usage errors before anything starts: an unknown store, a missing extra."""
    if not args.state:
        return
    if args.restore_wait <= 0:
        raise CommandError("--restore-wait takes a positive number of seconds")
    try:
        open_store(args.state)
    except (ValueError, ImportError) as exc:
        raise CommandError(str(exc)) from exc


def ua_config(
    args: argparse.Namespace, config: sipsans.UAConfig | None = None
) -> sipsans.UAConfig | None:
    """``config`` with what sharing needs when ``--state`` is given (else as it is)."""
    if not args.state:
        return config
    return shared_config(config, restore_wait=args.restore_wait)


@contextlib.asynccontextmanager
async def shared_dialogs(session: Session[Any], args: argparse.Namespace) -> AsyncIterator[None]:
    """Share the started ``session``'s dialogs through ``--state`` while the block runs.
    On exit the session is closed first (its hang-ups delete their dialogs), then the
    last writes go."""
    if not args.state:
        yield
        return
    host, port = next(iter(session.addresses.values()))
    owner = args.worker or f"{host}:{port}"

    def told(dialog_id: sipsans.DialogId, restored: bool, why: str) -> None:
        what = "restored" if restored else f"not restored ({why})"
        print(f"dialog {dialog_id.call_id} {what}", flush=True)

    store = open_store(args.state)
    shared = SharedDialogs(session, store, owner=owner, on_restore=told)
    task = asyncio.get_running_loop().create_task(shared.run())
    print(f"sharing dialogs through {args.state} as worker {owner}", flush=True)
    try:
        yield
    finally:
        await session.aclose()
        shared.close()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)
        await store.aclose()
        counts = shared.counts
        print(
            f"shared dialogs: {counts['restored']} restored, {counts['refused']} refused,"
            f" {counts['written']} written, {counts['deleted']} deleted,"
            f" {counts['store-errors']} store errors",
            flush=True,
        )
