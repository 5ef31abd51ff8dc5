"""``sipsans message URI TEXT``: send a MESSAGE (RFC 3428) with a text/plain body and
print the final response.

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

NAME = "message"

_DESCRIPTION = """\
Send TEXT to URI in a MESSAGE request (RFC 3428, text/plain; charset=UTF-8) and print
the final response.

exit status: 0 a 2xx; 1 another final response; 2 usage error; 3 no answer (timeout,
unreachable, TLS failure)"""


def add_parser(commands: Subparsers) -> None:
    sub = add_subcommand(
        commands, NAME, help="send a MESSAGE (RFC 3428) with a text body", description=_DESCRIPTION
    )
    sub.add_argument("uri", metavar="URI", help="where to send it (sip: or sips:)")
    sub.add_argument("text", metavar="TEXT", help="the message")
    add_client_options(sub)


def run(args: argparse.Namespace) -> int:
    return run_network(_message(args, sip_uri(args.uri)), args)


async def _message(args: argparse.Namespace, uri: sipsans.SipURI) -> int:
    watcher = Watcher(verbose=args.verbose)
    try:
        async with client_session(args, uri, watcher) as client:
            async with asyncio.timeout(args.timeout):
                response = await client.session.send(
                    "MESSAGE",
                    uri,
                    body=args.text.encode("utf-8"),
                    content_type="text/plain; charset=UTF-8",
                    targets=client.targets,
                )
    except NO_ANSWER as exc:
        print(f"MESSAGE {uri}: {why_no_answer(exc, watcher, args.timeout)}")
        return Exit.NO_ANSWER
    print(f"{response.status_code} {response.reason}")
    return Exit.OK if 200 <= response.status_code < 300 else Exit.REFUSED
