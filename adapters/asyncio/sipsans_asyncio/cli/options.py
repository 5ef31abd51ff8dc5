"""``sipsans options URI``: send OPTIONS (RFC 3261 §11) and print the final response.

Exit status 0 on a 2xx, 1 on another final response, 2 when none came.
"""

from __future__ import annotations

import argparse

from .common import Subparsers, add_network_options, run_network
from .locating import add_dns_options
from .sending import send_request

__all__ = ["NAME", "add_parser", "run"]

NAME = "options"


def add_parser(commands: Subparsers) -> None:
    sub = commands.add_parser(NAME, help="send OPTIONS and print the answer")
    sub.add_argument("uri")
    add_network_options(sub, listen="0.0.0.0:0")
    add_dns_options(sub)


def run(args: argparse.Namespace) -> int:
    return run_network(send_request(args, "OPTIONS", b"", None), args)
