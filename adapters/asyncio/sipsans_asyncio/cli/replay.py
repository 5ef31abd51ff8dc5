"""``sipsans replay FILE``: play one side of a capture (pcap, pcapng) through an
Endpoint in virtual time, or replay a sipsans transcript byte for byte
(:func:`sipsans.tools.replay.main`).

Exit status 0; 1 on problems under ``--check``; 2 when the file cannot be read.
"""

from __future__ import annotations

import argparse

from .common import Subparsers, add_subcommand

__all__ = ["NAME", "add_parser", "run"]

NAME = "replay"

_DESCRIPTION = """\
A capture (.pcap, .pcapng: Ethernet, 802.1Q/QinQ VLAN, PPPoE, Linux cooked SLL/SLL2,
loopback or raw IP; IPv4 fragments reassembled; SIP over UDP, TCP, SCTP and WebSocket):
play one side through a sipsans Endpoint in virtual time and print its events, a ladder
diagram (--ladder, grouped by dialog) or an HTML sequence diagram (--html).

A transcript (.jsonl, written by --trace): feed its inputs and commands to a fresh
Endpoint and compare every message sent, byte for byte.

exit status: 0 read (with --check: no problem found); 1 --check found a problem (an
exception, a malformed message, no SIP at all, an --as address not in the capture, a
transcript that diverged); 2 the file cannot be read (or needs a missing extra)"""


def add_parser(commands: Subparsers) -> None:
    sub = add_subcommand(
        commands, NAME,
        help="feed a capture (or transcript) through an Endpoint in virtual time",
        description=_DESCRIPTION,
    )  # fmt: skip
    sub.add_argument("file", metavar="FILE", help="a .pcap/.pcapng capture or a .jsonl transcript")
    sub.add_argument("--as", dest="as_address", metavar="HOST[:PORT]",
                     help="the side to play (default: who gets the first request)")  # fmt: skip
    sub.add_argument("--check", action="store_true",
                     help="exit 1 on problems (exceptions, malformed input, no SIP)")  # fmt: skip
    sub.add_argument("--expect-malformed", action="store_true",
                     help="malformed messages are expected (not a --check problem)")  # fmt: skip
    sub.add_argument("--ladder", action="store_true",
                     help="print a ladder diagram, grouped by dialog")  # fmt: skip
    sub.add_argument("--html", metavar="OUT",
                     help="write a self-contained HTML sequence diagram to OUT")  # fmt: skip
    sub.add_argument("--quiet", action="store_true", help="print only the summary")


def run(args: argparse.Namespace) -> int:
    from sipsans.tools import replay  # noqa: PLC0415 - reads files; only this command needs it

    argv = [args.file]
    if args.as_address:
        argv += ["--as", args.as_address]
    if args.html:
        argv += ["--html", args.html]
    for flag in ("check", "expect_malformed", "ladder", "quiet"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    return replay.main(argv, prog="sipsans replay")
