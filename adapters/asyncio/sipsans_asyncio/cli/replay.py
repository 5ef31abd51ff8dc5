"""``sipsans replay FILE``: feed one side of a pcap capture (or a sipsans transcript)
through an Endpoint in virtual time (:func:`sipsans.tools.replay.run_replay`):
``--as HOST:PORT``, ``--check``, ``--ladder``.

Exit status 0; 1 on problems under ``--check``; 2 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import sys

from .common import Subparsers

__all__ = ["NAME", "add_parser", "run"]

NAME = "replay"


def add_parser(commands: Subparsers) -> None:
    replay = commands.add_parser(
        NAME,
        help="feed a pcap capture (or transcript) through an Endpoint in virtual time",
        description="Play one side of a SIP capture through a sipsans Endpoint in virtual time"
        " and print its events or a ladder (a .jsonl transcript is replayed byte for byte).",
    )
    replay.add_argument("file", help="a .pcap/.pcapng capture or a .jsonl transcript")
    replay.add_argument("--as", dest="as_address", metavar="HOST:PORT",
                        help="the side to play (default: who gets the first request)")  # fmt: skip
    replay.add_argument("--check", action="store_true",
                        help="exit 1 on unexpected errors (exceptions, bad input)")  # fmt: skip
    replay.add_argument("--expect-malformed", action="store_true",
                        help="malformed messages are expected (not a --check error)")  # fmt: skip
    replay.add_argument("--ladder", action="store_true", help="print a ladder diagram")
    replay.add_argument("--quiet", action="store_true", help="print only the summary")


def run(args: argparse.Namespace) -> int:
    from sipsans.tools import replay  # noqa: PLC0415 - reads files; only this command needs it

    argv = [args.file]
    if args.as_address:
        argv += ["--as", args.as_address]
    for flag in ("check", "expect_malformed", "ladder", "quiet"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    try:
        return replay.main(argv)
    except OSError as exc:
        print(f"sipsans: error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
