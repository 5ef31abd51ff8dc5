"""The ``sipsans`` command line: argument parsing and dispatch.

Subcommands, one module each (:data:`COMMANDS`, in the order ``--help`` lists them):

``demo``
    A UAC and a UAS in one process making a full call over real loopback UDP
    (INVITE/100/180/200/ACK/BYE/200 with SDP), printed as a ladder diagram.
    ``demo --parse`` instead parses a realistic INVITE with
    :func:`sipsans.parse_message`, prints what the parser understood and the message
    serialised again (:mod:`~sipsans_asyncio.cli.demo`).

``replay FILE``
    Feed one side of a pcap capture (or a sipsans transcript) through an Endpoint in
    virtual time: ``--as HOST:PORT``, ``--check``, ``--ladder``
    (:mod:`~sipsans_asyncio.cli.replay`).

``options URI`` / ``message URI TEXT``
    Send one request and print the final response (exit 0 on 2xx, 1 otherwise).

``uas``
    Answer calls (``--ring``, ``--reject CODE``, ``--calls N``) and OPTIONS; with
    ``--register AOR`` (``--user/--password``) register the AOR first from the same
    socket, so a proxy's location lookup routes calls here, and unregister on exit.

``call URI``
    Call, stay ``--duration`` seconds, hang up (Ctrl-C hangs up too).

``register AOR``
    Register AOR (``--user/--password``, ``--expires``), stay ``--duration`` seconds,
    unregister.

``registrar``
    Accept registrations (RFC 3261 §10.3) with digest authentication for each
    ``--user NAME:PASSWORD``; print every REGISTER's answer and the bindings.

Common flags of the network subcommands: ``--listen HOST:PORT``,
``--transport udp|tcp|tls|ws``, ``--trace FILE`` (:mod:`~sipsans_asyncio.cli.common`).
A new subcommand is a module with ``NAME``, ``add_parser`` and ``run``, added to
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import call, demo, message, options, register, registrar, replay, uas
from .common import CommandError, Subcommand, version

__all__ = ["COMMANDS", "build_parser", "main"]

#: The subcommands, in the order ``sipsans --help`` lists them.
COMMANDS: tuple[Subcommand, ...] = (
    demo,
    replay,
    options,
    message,
    uas,
    call,
    register,
    registrar,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``sipsans`` parser, with every subcommand's."""
    parser = argparse.ArgumentParser(
        prog="sipsans",
        description="sipsans: a sans-IO SIP stack. Command-line tools on its asyncio adapter.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sipsans`` command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for command in COMMANDS:
        if args.command == command.NAME:
            try:
                return command.run(args)
            except CommandError as exc:
                parser.error(str(exc))
    parser.print_help(sys.stderr)
    return 2
