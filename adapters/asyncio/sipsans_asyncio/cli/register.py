"""``sipsans register AOR``: register AOR (``--user/--password``, ``--expires``), stay
``--duration`` seconds, unregister.

Exit status 0 once registered and unregistered, 1 when the registrar refused, 3 when
it did not answer.
"""

from __future__ import annotations

import argparse
import asyncio

from .clients import NO_ANSWER, client_session, why_no_answer
from .common import (
    Exit,
    Subparsers,
    add_identity_options,
    add_network_options,
    add_subcommand,
    seconds,
)
from .feedback import Watcher
from .locating import add_dns_options
from .registering import (
    RegistrationArgs,
    add_registration_options,
    start_registration,
    stop_registration,
)
from .running import run_network

__all__ = ["NAME", "add_parser", "run"]

NAME = "register"

_DESCRIPTION = """\
Register AOR (RFC 3261 §10.2) at its domain (or --registrar), answering the registrar's
digest challenge with --user and --password, print the binding granted, stay registered
--duration seconds (refreshing as needed), then unregister. SIGINT or SIGTERM
unregisters at once.

exit status: 0 registered and unregistered; 1 refused (e.g. 403, wrong password);
2 usage error; 3 no answer"""


def add_parser(commands: Subparsers) -> None:
    sub = add_subcommand(
        commands, NAME, help="register AOR, wait --duration, unregister", description=_DESCRIPTION
    )
    sub.add_argument("aor", metavar="AOR", help="address of record, e.g. sip:alice@example.com")
    add_network_options(sub, listen="0.0.0.0:0")
    add_dns_options(sub)
    add_identity_options(sub, from_=False)
    add_registration_options(sub)
    sub.add_argument(
        "--duration",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="stay registered SECONDS before unregistering",
    )


def run(args: argparse.Namespace) -> int:
    reg = RegistrationArgs.of(args, args.aor)
    return run_network(_register(args, reg), args)


async def _register(args: argparse.Namespace, reg: RegistrationArgs) -> int:
    watcher = Watcher(verbose=args.verbose)
    try:
        async with client_session(args, reg.hop, watcher, identity=args.aor) as client:
            session = client.session
            result = await start_registration(
                session, args, reg, session.next_event, targets=client.targets
            )
            if isinstance(result, int):
                return result
            if args.duration > 0:
                await asyncio.sleep(args.duration)
            await stop_registration(session, args, result, session.next_event)
    except NO_ANSWER as exc:
        print(f"REGISTER {reg.aor}: {why_no_answer(exc, watcher, args.timeout)}")
        return Exit.NO_ANSWER
    return Exit.OK
