"""What the ``sipsans`` subcommands share: the shape of a subcommand module, the common
flags, building a session and its core from them, sending one request, registering,
and running a network subcommand on the loop.

Exit status of a network subcommand: 0 success, 1 a negative answer (a non-2xx final
response, a rejected or failed call), 2 a usage or network error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol, TypeAlias

import sipsans
from sipsans.dialog.model import target_for
from sipsans_session import BufferedSystemRandom, Listen
from sipsans_session.resolve import Resolver
from sipsans_session.tls import client_context, server_context

from ..run import run
from ..session import Session

__all__ = [
    "ANSWER_SDP",
    "CommandError",
    "RegistrationArgs",
    "Subcommand",
    "Subparsers",
    "add_network_options",
    "add_registration_options",
    "endpoint",
    "make_session",
    "parse_hostport",
    "run_network",
    "sip_uri",
    "start_registration",
    "stop_registration",
    "target_of",
    "user_agent",
    "version",
]

#: The SDP answer `sipsans uas` and `sipsans call` send (audio, PCMU, no media really flows).
ANSWER_SDP = (
    b"v=0\r\n"
    b"o=sipsans 1 1 IN IP4 127.0.0.1\r\n"
    b"s=sipsans\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

#: What ``parser.add_subparsers()`` returns (argparse's type is not subscriptable at run time).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Subcommand(Protocol):
    """A subcommand module: its name, its parser, and what it runs."""

    NAME: str

    def add_parser(self, commands: Subparsers) -> None:
        """Add the subcommand's parser (named :attr:`NAME`) and its arguments."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the subcommand; returns the exit status (CommandError: a usage error)."""


class CommandError(Exception):
    """A usage or setup error, printed as ``sipsans: error: ...`` with exit status 2."""


def version() -> str:
    try:
        return metadata.version("sipsans")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


# -- flags ---------------------------------------------------------------------------------


def add_network_options(sub: argparse.ArgumentParser, *, listen: str) -> None:
    """The flags of every network subcommand (``listen``: the default bind address)."""
    sub.add_argument(
        "--listen", default=listen, metavar="HOST:PORT", help=f"bind address ({listen})"
    )
    sub.add_argument("--advertise", metavar="HOST:PORT", help="address put in Via/Contact")
    sub.add_argument("--transport", choices=["udp", "tcp", "tls", "ws", "wss"], type=str.lower)
    sub.add_argument("--trace", metavar="FILE", help="append a JSONL transcript to FILE")
    sub.add_argument("--timeout", type=float, default=32.0, help="seconds to wait for an answer")
    sub.add_argument("--cafile", help="CA bundle to verify TLS peers with")
    sub.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    sub.add_argument("--cert", help="TLS certificate chain (PEM) to serve")
    sub.add_argument("--key", help="TLS private key (PEM)")
    sub.add_argument("-v", "--verbose", action="store_true")
    sub.add_argument(
        "--uvloop", action="store_true", help="run on uvloop when it is installed (sipsans[fast])"
    )


def add_registration_options(sub: argparse.ArgumentParser) -> None:
    """The flags of a subcommand that registers (``register``, ``uas --register``)."""
    sub.add_argument("--registrar", metavar="URI", help="registrar URI (default: the AOR's domain)")
    sub.add_argument("--expires", type=int, default=3600, help="binding lifetime asked for")
    sub.add_argument("--user", help="digest user name")
    sub.add_argument("--password", help="digest password")


def parse_hostport(text: str, *, default_port: int) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST``, ``[V6]:PORT`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or host.endswith(":") or (text.startswith("[") and not host.endswith("]")):
        host, port = text, str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise CommandError(f"bad address {text!r}: expected HOST:PORT")
    return host, int(port)


def sip_uri(text: str) -> sipsans.SipURI:
    """``text`` as a sip: or sips: URI (CommandError otherwise)."""
    try:
        uri = sipsans.parse_uri(text)
    except sipsans.RemoteProtocolError as exc:
        raise CommandError(f"bad URI {text!r}: {exc}") from None
    if not isinstance(uri, sipsans.SipURI):
        raise CommandError(f"{text!r} is not a sip: or sips: URI")
    return uri


def target_of(args: argparse.Namespace) -> tuple[sipsans.SipURI, sipsans.Target]:
    """The URI of ``args.uri`` and where to send to it (``--transport`` applied)."""
    uri = sip_uri(args.uri)
    target = target_for(uri)
    if args.transport and uri.transport is None:
        target = sipsans.Target(args.transport.upper(), target.host, target.port)
    return uri, target


# -- the session and its core ------------------------------------------------------------------


def make_session(
    args: argparse.Namespace,
    core: Any,
    *,
    transport: str,
    server: bool,
    resolver: Resolver | None = None,
) -> Session[Any]:
    """The session of a subcommand: bound to ``--listen``, with its TLS contexts (and
    the ``resolver`` that located its targets: TLS peers are verified against the
    URI's domain, RFC 5922)."""
    name = transport.upper()
    listen_host, listen_port = parse_hostport(args.listen, default_port=0)
    # A client listens on UDP (for UDP requests) or TCP (its connections are outgoing).
    listen_as = name if server else ("UDP" if name == "UDP" else "TCP")
    ssl_server = None
    if server and name in ("TLS", "WSS"):
        if not args.cert:
            raise CommandError(f"--transport {transport} needs --cert (and --key)")
        ssl_server = server_context(args.cert, args.key)
    ssl_client = client_context(args.cafile, verify=not args.insecure)
    advertise = parse_hostport(args.advertise, default_port=0) if args.advertise else None
    session: Session[Any] = Session(
        core,
        listen=[Listen(listen_as, listen_host, listen_port)],
        advertise=advertise,
        ssl_server=ssl_server,
        ssl_client=ssl_client,
        trace=args.trace,
    )
    session.resolver = resolver
    return session


def endpoint(addr: tuple[str, int], rng: random.Random | None = None) -> sipsans.Endpoint:
    """An Endpoint advertising ``addr``; its branches come from ``rng`` (by default a
    :class:`~sipsans_session.rng.BufferedSystemRandom` of its own)."""
    config = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
    return sipsans.Endpoint(config, rng=rng if rng is not None else BufferedSystemRandom())


def user_agent(
    args: argparse.Namespace, identity: str | None = None, config: sipsans.UAConfig | None = None
) -> Any:
    """A factory of the UserAgent core: *identity* (an AOR) or sip:sipsans@<host>, with
    the digest credentials of ``--user``/``--password`` and the settings ``config``."""

    def make(addr: tuple[str, int]) -> Any:
        # One cryptographic rng (RFC 3261 §19.3) for the core, buffered: a tag, branch
        # or Call-ID is no system call of its own.
        rng = BufferedSystemRandom()
        core = endpoint(addr, rng)
        credentials = None
        if getattr(args, "user", None):
            credentials = sipsans.Credentials(username=args.user, password=args.password or "")
        return sipsans.UserAgent(
            core,
            identity=identity or f"sip:sipsans@{addr[0]}",
            credentials=credentials,
            rng=rng,
            config=config,
        )

    return make


# -- registering (register, uas --register) ------------------------------------------------------


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
        registrar = sip_uri(args.registrar) if args.registrar else None
        # The Request-URI defaults to the AOR's domain (§10.2); REGISTERs go there
        # unless --transport names another transport than the URI.
        hop = registrar if registrar is not None else sipsans.SipURI(aor.host, port=aor.port)
        target = target_for(hop)
        if args.transport and hop.transport is None:
            target = sipsans.Target(args.transport.upper(), target.host, target.port)
        return cls(aor, registrar, target, hop)


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
    status (1 refused, 2 no answer within ``--timeout``). REGISTERs go to ``targets``
    (located, failed over) or else to ``reg.target``."""
    where: dict[str, Any] = {"targets": targets} if targets else {"target": reg.target}
    state = sipsans.RegistrationState
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
        print(f"sipsans: no answer from the registrar within {args.timeout:g} s")
        return 2
    if event.state is state.FAILED:
        text = event.reason
        if event.status is not None and not text.startswith(str(event.status)):
            text = f"{event.status} {text}"
        print(f"registration failed: {text}".rstrip())
        return 1
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


# -- running -----------------------------------------------------------------------------------


def run_network(
    main: Coroutine[Any, Any, int], args: argparse.Namespace, *, server: bool = False
) -> int:
    """Run a network subcommand's coroutine (on uvloop with ``--uvloop``); returns the
    exit status. A ``server`` trades later freeing of reference cycles for fewer
    collections under load (:func:`sipsans_asyncio.run.tune_gc`)."""
    try:
        return run(main, use_uvloop=getattr(args, "uvloop", False), tune_gc=server)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"sipsans: error: {exc.strerror or exc}", file=sys.stderr)
        return 2
