"""``sipsans message URI TEXT``: send a MESSAGE (RFC 3428) with a text/plain body and
print the final response.

Exit status 0 on a 2xx, 1 on another final response, 2 when none came.
"""

from __future__ import annotations

import argparse

from .common import Subparsers, add_network_options, run_network
from .locating import add_dns_options
from .sending import send_request

__all__ = ["NAME", "add_parser", "run"]

NAME = "message"


def add_parser(commands: Subparsers) -> None:
    sub = commands.add_parser(NAME, help="send a MESSAGE (RFC 3428) with a text body")
    sub.add_argument("uri")
    sub.add_argument("text")
    add_network_options(sub, listen="0.0.0.0:0")
    add_dns_options(sub)


def run(args: argparse.Namespace) -> int:
    body = args.text.encode("utf-8")
    return run_network(send_request(args, "MESSAGE", body, "text/plain"), args)
