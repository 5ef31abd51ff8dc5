"""``sipsans register AOR``: register AOR (``--user/--password``, ``--expires``), stay
``--duration`` seconds, unregister.

Exit status 0 once registered and unregistered, 1 when the registrar refused, 2 when
it did not answer.
"""

from __future__ import annotations

import argparse
import asyncio

from .common import (
    RegistrationArgs,
    Subparsers,
    add_network_options,
    add_registration_options,
    make_session,
    run_network,
    start_registration,
    stop_registration,
    user_agent,
)
from .locating import add_dns_options, locate, resolver

__all__ = ["NAME", "add_parser", "run"]

NAME = "register"


def add_parser(commands: Subparsers) -> None:
    sub = commands.add_parser(NAME, help="register AOR, wait --duration, unregister")
    sub.add_argument("aor", metavar="AOR", help="address of record, e.g. sip:alice@example.com")
    add_network_options(sub, listen="0.0.0.0:0")
    add_registration_options(sub)
    add_dns_options(sub)
    sub.add_argument(
        "--duration", type=float, default=0.0, help="stay registered SECONDS before unregistering"
    )


def run(args: argparse.Namespace) -> int:
    return run_network(_register(args), args)


async def _register(args: argparse.Namespace) -> int:
    reg = RegistrationArgs.of(args, args.aor)
    dns = resolver(args)
    targets = await locate(args, reg.hop, dns)
    make = user_agent(args, args.aor)
    session = make_session(args, make, transport=targets[0].transport, server=False, resolver=dns)
    async with session:
        result = await start_registration(session, args, reg, session.next_event, targets=targets)
        if isinstance(result, int):
            return result
        if args.duration > 0:
            await asyncio.sleep(args.duration)
        await stop_registration(session, args, result, session.next_event)
    return 0
