"""``sipsans options URI``: send OPTIONS (RFC 3261 §11) and print the final response
with what it says the peer supports.

Exit status 0 on a 2xx, 1 on another final response, 3 when none came.
"""

from __future__ import annotations

import argparse
import asyncio

import sipsans

from .clients import NO_ANSWER, add_client_options, client_session, why_no_answer
from .common import Exit, Subparsers, add_subcommand, sip_uri
from .feedback import Watcher
from .running import run_network

__all__ = ["NAME", "add_parser", "run"]

NAME = "options"

_DESCRIPTION = """\
Send OPTIONS to URI (RFC 3261 §11): is it there, and what does it support? Prints the
final response's status and its Allow, Accept and Supported header fields.

exit status: 0 a 2xx; 1 another final response; 2 usage error; 3 no answer (timeout,
unreachable, TLS failure)"""

#: The header fields of the answer that say what the peer supports (§11.2).
_SHOWN = ("Allow", "Accept", "Supported", "Allow-Events", "User-Agent", "Server")


def add_parser(commands: Subparsers) -> None:
    sub = add_subcommand(
        commands, NAME, help="send OPTIONS and print the answer", description=_DESCRIPTION
    )
    sub.add_argument("uri", metavar="URI", help="where to send it (sip: or sips:)")
    add_client_options(sub)


def run(args: argparse.Namespace) -> int:
    return run_network(_options(args, sip_uri(args.uri)), args)


async def _options(args: argparse.Namespace, uri: sipsans.SipURI) -> int:
    watcher = Watcher(verbose=args.verbose)
    try:
        async with client_session(args, uri, watcher) as client:
            async with asyncio.timeout(args.timeout):
                response = await client.session.send("OPTIONS", uri, targets=client.targets)
    except NO_ANSWER as exc:
        print(f"OPTIONS {uri}: {why_no_answer(exc, watcher, args.timeout)}")
        return Exit.NO_ANSWER
    print(f"{response.status_code} {response.reason}")
    for name in _SHOWN:
        value = ", ".join(response.headers.get_all(name.lower()))
        if value:
            print(f"  {name}: {value}")
    return Exit.OK if 200 <= response.status_code < 300 else Exit.REFUSED
