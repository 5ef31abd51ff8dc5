"""``sipsans registrar``: accept registrations (RFC 3261 §10.3), with digest
authentication (§22) for each ``--user NAME:PASSWORD``; print every REGISTER's answer
and the bindings of each 200.

Serves :class:`sipsans.Registrar` with the bindings in memory; OPTIONS get a 200, other
methods a 405. Exit status 0 after ``--requests`` REGISTERs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import sipsans
from sipsans.auth import ALGORITHMS, DigestServer, FailureLimits
from sipsans_session import BufferedSystemRandom

from ..session import Session
from .common import CommandError, Exit, Subparsers, add_network_options, add_subcommand, count
from .running import run_network
from .stack import Stack, make_session

__all__ = ["NAME", "add_parser", "parse_users", "run"]

NAME = "registrar"

#: What `sipsans registrar` answers besides REGISTER (the Allow of its 405s, §21.4.6).
_REGISTRAR_ALLOW = "REGISTER, OPTIONS"


_DESCRIPTION = """\
A registrar (RFC 3261 §10.3): answers REGISTER, keeps the bindings in memory and prints
each answer and the bindings of each 200. With --user, every REGISTER must authenticate
(digest, RFC 3261 §22) as the AOR's user. OPTIONS get 200, other methods 405.

exit status: 0 after --requests REGISTERs (or a signal: 130/143); 2 usage error or the
address is taken"""


def add_parser(commands: Subparsers) -> None:
    sub = add_subcommand(
        commands, NAME,
        help="accept registrations, with digest authentication for --user NAME:PASSWORD",
        description=_DESCRIPTION,
    )  # fmt: skip
    add_network_options(sub, listen="127.0.0.1:5060")
    reg = sub.add_argument_group("registrar")
    reg.add_argument(
        "--user",
        action="append",
        metavar="NAME:PASSWORD",
        help="a user who may register sip:NAME@... (repeatable)",
    )
    reg.add_argument("--realm", help="digest realm (default: the first --domain, else the host)")
    reg.add_argument("--domain", action="append", help="a domain served (repeatable; default: any)")
    reg.add_argument(
        "--algorithm",
        action="append",
        choices=ALGORITHMS,
        metavar="ALG",
        help="digest algorithm offered (repeatable; default: SHA-256 and MD5)",
    )
    reg.add_argument(
        "--min-expires", type=count, default=60, help="shortest binding, in seconds (423 below)"
    )
    reg.add_argument(
        "--max-expires", type=count, default=7200, help="longest binding granted, in seconds"
    )
    reg.add_argument(
        "--requests", type=count, default=0, help="exit after answering N REGISTERs (0: never)"
    )
    limits = FailureLimits()
    reg.add_argument(
        "--source-failures",
        type=int,
        default=limits.source_failures,
        metavar="N",
        help="wrong passwords from one host per minute before it backs off (503, doubling;"
        f" 0: no limit; default {limits.source_failures})",
    )
    reg.add_argument(
        "--user-failures",
        type=int,
        default=limits.user_failures,
        metavar="N",
        help="wrong passwords for one user per minute, from any host, before it backs off"
        f" (0: no limit; default {limits.user_failures})",
    )


def run(args: argparse.Namespace) -> int:
    if not 0 < args.min_expires <= args.max_expires:
        raise CommandError("need 0 < --min-expires <= --max-expires")
    if args.source_failures < 0 or args.user_failures < 0:
        raise CommandError("--source-failures and --user-failures are counts (0: no limit)")
    return run_network(_registrar(args), args, server=True)


def parse_users(values: list[str]) -> dict[str, str]:
    """``NAME:PASSWORD`` items (the password may contain ``:``) -> {name: password}."""
    users: dict[str, str] = {}
    for value in values:
        name, sep, password = value.partition(":")
        if not sep or not name:
            raise CommandError(f"bad --user {value!r}: expected NAME:PASSWORD")
        users[name] = password
    return users


async def _registrar(args: argparse.Namespace) -> int:
    """Serve :class:`sipsans.Registrar` (RFC 3261 §10.3), with digest authentication
    (:class:`sipsans.auth.DigestServer`) when users are given."""
    transport = (args.transport or "udp").upper()
    users = parse_users(args.user or [])
    done = asyncio.Event()
    answered = 0
    session: Session[Any]
    registrar: sipsans.Registrar
    tags = BufferedSystemRandom()  # the registrar's To tags (RFC 3261 §19.3)

    def on_event(event: object) -> None:
        nonlocal answered
        if not isinstance(event, sipsans.RequestReceived) or event.txn is None:
            return  # an ACK (for a non-2xx it never gets here: the transaction absorbs it)
        request = event.request
        if request.method == "REGISTER":
            response = registrar.handle_register(request, now=session.now(), source=event.source)
        else:
            status = 200 if request.method == "OPTIONS" else 405
            response = sipsans.make_response(
                request,
                status,
                to_tag=f"{tags.getrandbits(64):016x}",
                headers=[("Allow", _REGISTRAR_ALLOW)],
            )
        session.command(session.core.send_response, event.txn, response)
        if request.method != "REGISTER":
            return
        answered += 1
        host, port = event.source.remote
        print(
            f"REGISTER {request.to.uri} from {event.source.transport} {host}:{port}"
            f" -> {response.status_code} {response.reason}",
            flush=True,
        )
        if response.status_code == 200:
            for contact in response.contacts:
                print(f"  binding {contact}", flush=True)
        if args.requests and answered >= args.requests:
            done.set()

    stack, watcher = Stack.watched(args) if args.verbose else (Stack(args), None)
    with stack:
        session = make_session(
            args, stack.endpoint, transport=transport, server=True, default_port=5060
        )
        if watcher is not None:
            watcher.session = session
        session.on_event = on_event
        async with session:
            # Made before the first await, so before any REGISTER can arrive; the default
            # realm is the address the session ended up advertising.
            host, port = session.addresses[transport]
            realm = args.realm or (args.domain[0] if args.domain else session.advertised[0])
            digest = None
            if users:
                digest = DigestServer(
                    os.urandom(32),
                    realm,
                    algorithms=args.algorithm or ("SHA-256", "MD5"),
                    limits=FailureLimits(
                        source_failures=args.source_failures, user_failures=args.user_failures
                    ),
                )
            registrar = sipsans.Registrar(
                domains=args.domain or None,
                min_expires=args.min_expires,
                max_expires=args.max_expires,
                default_expires=min(max(3600, args.min_expires), args.max_expires),
                authenticator=digest,
                password_lookup=(lambda user, _realm: users.get(user)) if users else None,
                epoch_offset=time.time() - session.now(),
                rng=tags,
            )
            auth = (
                f"digest realm {realm!r} for {', '.join(users)}" if users else "no authentication"
            )
            print(f"sipsans registrar listening on {transport} {host}:{port} ({auth})", flush=True)
            await done.wait()
            await asyncio.sleep(0.05)  # let the last response leave
    print(f"{answered} REGISTER requests answered")
    return Exit.OK
