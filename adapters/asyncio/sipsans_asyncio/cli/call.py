"""``sipsans call URI``: call, stay ``--duration`` seconds, hang up (Ctrl-C hangs up too).

Answers 401/407 with ``--user/--password``. Exit status 0 once answered, 1 when the call
is rejected or nobody answers within ``--timeout`` (the call is then CANCELled).
"""

from __future__ import annotations

import argparse
import contextlib

from sipsans_session import CallFailed, RequestTimeout, TransportError

from .common import (
    ANSWER_SDP,
    Subparsers,
    add_network_options,
    make_session,
    run_network,
    target_of,
    user_agent,
)
from .locating import add_dns_options, locate, resolver

__all__ = ["NAME", "add_parser", "run"]

NAME = "call"


def add_parser(commands: Subparsers) -> None:
    sub = commands.add_parser(NAME, help="call URI, talk --duration seconds, hang up")
    sub.add_argument("uri")
    add_network_options(sub, listen="0.0.0.0:0")
    add_dns_options(sub)
    sub.add_argument("--duration", type=float, default=5.0)
    sub.add_argument("--user", help="digest user name")
    sub.add_argument("--password", help="digest password")


def run(args: argparse.Namespace) -> int:
    return run_network(_call(args), args)


async def _call(args: argparse.Namespace) -> int:
    uri, _ = target_of(args)
    dns = resolver(args)
    targets = await locate(args, uri, dns)  # RFC 3263; failed over by the UA (§4.3)
    session = make_session(
        args, user_agent(args), transport=targets[0].transport, server=False, resolver=dns
    )
    async with session:
        try:
            dialog = await session.invite(
                uri,
                body=ANSWER_SDP,
                content_type="application/sdp",
                targets=targets,
                timeout=args.timeout,
            )
        except CallFailed as exc:
            status = "" if exc.status is None else f" ({exc.status})"
            name = exc.reason.name if exc.reason is not None else "FAILED"
            print(f"call failed: {name}{status}")
            return 1
        except TimeoutError:
            # invite() sent CANCEL; give the 487 a moment so the call ends cleanly.
            print(f"no answer within {args.timeout:g} s; cancelled")
            with contextlib.suppress(TimeoutError):
                for pending in session.dialogs():
                    await pending.closed(timeout=2.0)
            return 1
        print(f"answered; talking for {args.duration:g} s", flush=True)
        try:
            await dialog.closed(timeout=args.duration)
        except TimeoutError:
            pass
        else:
            print("the far end hung up")
            return 0
        try:
            await dialog.hangup()
        except (RequestTimeout, TransportError) as exc:
            print(f"BYE failed: {exc}")
        print("hung up")
    return 0
