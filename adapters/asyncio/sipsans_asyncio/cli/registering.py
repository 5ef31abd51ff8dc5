"""Registering an AOR (RFC 3261 §10.2) from a subcommand: ``register`` and
``uas --register``.

The UserAgent does the work (``ua.register``: the REGISTER, its digest challenge, the
refreshes); this prints the outcome and turns it into an exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sipsans

from ..session import Session
from .common import Exit, count, sip_uri, target_of

__all__ = [
    "RegistrationArgs",
    "add_registration_options",
    "start_registration",
    "stop_registration",
]


def add_registration_options(sub: argparse.ArgumentParser) -> Any:
    """The flags of a subcommand that registers (``register``, ``uas --register``);
    returns their argument group."""
    reg = sub.add_argument_group("registration")
    reg.add_argument("--registrar", metavar="URI", help="registrar URI (default: the AOR's domain)")
    reg.add_argument(
        "--expires", type=count, default=3600, help="binding lifetime asked for, in seconds"
    )
    return reg


@dataclass(frozen=True, slots=True)
class RegistrationArgs:
    """The AOR, registrar URI and first hop of ``register AOR`` / ``uas --register AOR``."""

    aor: sipsans.SipURI
    registrar: sipsans.SipURI | None
    target: sipsans.Target
    #: Where REGISTERs go: the registrar URI, or the AOR's domain (§10.2).
    hop: sipsans.SipURI

    @classmethod
    def of(cls, args: argparse.Namespace, aor_text: str) -> RegistrationArgs:
        aor = sip_uri(aor_text)
        registrar = sip_uri(args.registrar, option="--registrar") if args.registrar else None
        # The Request-URI defaults to the AOR's domain (§10.2); REGISTERs go there
        # unless --transport names another transport than the URI.
        hop = registrar if registrar is not None else aor.replace(user=None, params=())
        return cls(aor, registrar, target_of(hop, args.transport), hop)


async def _until(
    next_state: Callable[[], Awaitable[object]], verbose: bool, *states: sipsans.RegistrationState
) -> sipsans.RegistrationStateChanged:
    """The next RegistrationStateChanged into one of *states*."""
    while True:
        event = await next_state()
        if isinstance(event, sipsans.RegistrationStateChanged):
            if verbose:
                print(f"{event.previous.name} -> {event.state.name} {event.reason}", flush=True)
            if event.state in states:
                return event


async def start_registration(
    session: Session[Any],
    args: argparse.Namespace,
    reg: RegistrationArgs,
    next_state: Callable[[], Awaitable[object]],
    *,
    targets: list[sipsans.Target] | None = None,
) -> sipsans.RegistrationHandle | int:
    """Register with ``ua.register`` and print the outcome: the handle, or the exit
    status (1 refused, 3 no answer within ``--timeout``). REGISTERs go to ``targets``
    (located, failed over: RFC 3263 §4.3) or else to ``reg.target``."""
    where: dict[str, Any] = {"targets": targets} if targets else {"target": reg.target}
    state = sipsans.RegistrationState
    print(f"registering {reg.aor} (expires {args.expires} s)", flush=True)
    try:
        async with asyncio.timeout(args.timeout):
            handle: sipsans.RegistrationHandle = session.command(
                session.core.register,
                reg.registrar,
                aor=reg.aor,
                expires=args.expires,
                **where,
            )
            event = await _until(next_state, args.verbose, state.REGISTERED, state.FAILED)
    except TimeoutError:
        print(f"no answer from the registrar within {args.timeout:g} s", flush=True)
        return Exit.NO_ANSWER
    if event.state is state.FAILED:
        text = event.reason
        if event.status is not None and not text.startswith(str(event.status)):
            text = f"{event.status} {text}"
        print(f"registration failed: {text}".rstrip(), flush=True)
        return Exit.REFUSED if event.status is not None else Exit.NO_ANSWER
    print(f"registered {reg.aor} for {event.expires} s", flush=True)
    for binding in handle.bindings:
        print(f"  binding {binding}", flush=True)
    return handle


async def stop_registration(
    session: Session[Any],
    args: argparse.Namespace,
    handle: sipsans.RegistrationHandle,
    next_state: Callable[[], Awaitable[object]],
) -> None:
    """Remove our binding (``expires=0``), waiting at most ``--timeout`` for the answer."""
    state = sipsans.RegistrationState
    if handle.state in (state.UNREGISTERED, state.FAILED):
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.timeout):
            session.command(handle.stop)
            await _until(next_state, args.verbose, state.UNREGISTERED, state.FAILED)
            print("unregistered", flush=True)
