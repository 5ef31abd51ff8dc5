"""The ``sipsans`` command line: argument parsing and dispatch.

Subcommands, one module each (:data:`COMMANDS`, in the order ``--help`` lists them):
``demo``, ``replay``, ``options``, ``message``, ``call``, ``subscribe``, ``register``,
``uas``, ``registrar``. docs/cli.md describes each; ``sipsans COMMAND --help`` shows
its description, its flags and their defaults. The exit statuses are
:class:`~sipsans_asyncio.cli.common.Exit`.

A new subcommand is a module with ``NAME``, ``add_parser`` and ``run``, added to
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from . import call, demo, message, options, register, registrar, replay, subscribe, uas
from .common import CommandError, Exit, HelpFormatter, Subcommand, version

__all__ = ["COMMANDS", "build_parser", "main"]

#: The subcommands, in the order ``sipsans --help`` lists them.
COMMANDS: tuple[Subcommand, ...] = (
    demo,
    replay,
    options,
    message,
    call,
    subscribe,
    register,
    uas,
    registrar,
)

_DESCRIPTION = """\
sipsans: a sans-IO SIP stack. Command-line tools on its asyncio adapter.

exit status: 0 done; 1 refused (a final 3xx-6xx, a call not answered; replay --check:
problems); 2 usage or set-up error; 3 no answer (timeout, unreachable, TLS failure);
130 SIGINT and 143 SIGTERM (after hanging up and unregistering); 141 output closed"""


def build_parser() -> argparse.ArgumentParser:
    """The ``sipsans`` parser, with every subcommand's."""
    parser = argparse.ArgumentParser(
        prog="sipsans", description=_DESCRIPTION, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def _quiet_broken_pipe() -> int:
    """Standard output was closed by its reader (``sipsans demo | head``): no traceback,
    and nothing more written to it (Python's flush at exit would raise again)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # (no real file descriptor: a test's capture)
        pass
    return Exit.BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sipsans`` command; returns the process exit status."""
    parser = build_parser()
    # The adapters log what they work around (a send that failed, ...) as warnings; a
    # subcommand prints its own line about what matters, so only -v shows them.
    log = logging.getLogger("sipsans")
    level = log.level
    try:
        args = parser.parse_args(argv)
        log.setLevel(logging.WARNING if getattr(args, "verbose", False) else logging.ERROR)
        for command in COMMANDS:
            if args.command == command.NAME:
                try:
                    return command.run(args)
                except CommandError as exc:
                    parser.exit(Exit.USAGE, f"sipsans {command.NAME}: error: {exc}\n")
        parser.print_help(sys.stderr)
        return Exit.USAGE
    except BrokenPipeError:
        return _quiet_broken_pipe()
    finally:
        log.setLevel(level)
