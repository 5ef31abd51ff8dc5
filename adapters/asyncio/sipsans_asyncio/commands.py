"""The network subcommands of ``sipsans``: ``options``, ``message``, ``uas``, ``call``,
``register``.

Each is a small application on :class:`sipsans_asyncio.Session`; the argument parsing
lives in :mod:`sipsans_asyncio.cli`. Exit status: 0 success, 1 a negative answer
(a non-2xx final response, a rejected or failed call), 2 a usage or network error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import uuid
from typing import Any

import sipsans
from sipsans.dialog.model import target_for

from .calls import CallFailed
from .driver import RequestTimeout, TransportError
from .run import run
from .session import Listen, Session
from .tls import client_context, server_context

__all__ = ["ANSWER_SDP", "CommandError", "parse_hostport", "run_command"]

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


class CommandError(Exception):
    """A usage or setup error, printed as ``sipsans: error: ...`` with exit status 2."""


def parse_hostport(text: str, *, default_port: int) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST``, ``[V6]:PORT`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or host.endswith(":") or (text.startswith("[") and not host.endswith("]")):
        host, port = text, str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise CommandError(f"bad address {text!r}: expected HOST:PORT")
    return host, int(port)


def _target(args: argparse.Namespace) -> tuple[sipsans.SipURI, sipsans.Target]:
    try:
        uri = sipsans.parse_uri(args.uri)
    except sipsans.RemoteProtocolError as exc:
        raise CommandError(f"bad URI {args.uri!r}: {exc}") from None
    if not isinstance(uri, sipsans.SipURI):
        raise CommandError(f"{args.uri!r} is not a sip: or sips: URI")
    target = target_for(uri)
    if args.transport and uri.transport is None:
        target = sipsans.Target(args.transport.upper(), target.host, target.port)
    return uri, target


def _session(args: argparse.Namespace, core: Any, *, transport: str, server: bool) -> Session[Any]:
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
    return Session(
        core,
        listen=[Listen(listen_as, listen_host, listen_port)],
        advertise=advertise,
        ssl_server=ssl_server,
        ssl_client=ssl_client,
        trace=args.trace,
    )


def _endpoint(addr: tuple[str, int]) -> sipsans.Endpoint:
    config = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
    return sipsans.Endpoint(config)


async def _request(args: argparse.Namespace, method: str, body: bytes, ctype: str | None) -> int:
    uri, target = _target(args)
    session = _session(args, _endpoint, transport=target.transport, server=False)
    async with session:
        host, port = session.advertised
        request = sipsans.make_request(
            method,
            uri,
            from_=f"<sip:sipsans@{host}>;tag={random.SystemRandom().getrandbits(32):08x}",
            to=f"<{uri}>",
            call_id=f"{uuid.uuid4()}@{host}",
            cseq=1,
            contact=f"<sip:sipsans@{host}:{port}>",
            body=body,
            content_type=ctype,
        )
        try:
            async with asyncio.timeout(args.timeout):
                response = await session.request(request, target=target)
        except (TransportError, RequestTimeout, TimeoutError) as exc:
            print(f"sipsans: {method} to {uri} failed: {exc or 'timed out'}", file=sys.stderr)
            return 2
    print(f"{response.status_code} {response.reason}")
    if args.verbose:
        print(bytes(response).decode("utf-8", "replace"))
    return 0 if 200 <= response.status_code < 300 else 1


def _user_agent(args: argparse.Namespace) -> Any:
    def make(addr: tuple[str, int]) -> Any:
        endpoint = _endpoint(addr)
        credentials = None
        if getattr(args, "user", None):
            credentials = sipsans.Credentials(username=args.user, password=args.password or "")
        return sipsans.UserAgent(
            endpoint, identity=f"sip:sipsans@{addr[0]}", credentials=credentials
        )

    return make


async def _uas(args: argparse.Namespace) -> int:
    transport = (args.transport or "udp").upper()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    answered = 0
    calls: set[object] = set()
    session: Session[Any]

    def answer(dialog: Any) -> None:
        with contextlib.suppress(sipsans.LocalProtocolError):
            session.command(dialog.accept, body=ANSWER_SDP, content_type="application/sdp")

    def on_event(event: object) -> None:
        nonlocal answered
        if isinstance(event, sipsans.IncomingCall):
            dialog = event.dialog
            calls.add(dialog.id.call_id)
            if args.reject:
                session.command(dialog.reject, args.reject)
            elif args.ring > 0:
                session.command(dialog.ringing)
                loop.call_later(args.ring, answer, dialog)
            else:
                answer(dialog)
        elif isinstance(event, sipsans.DialogTerminated):
            call_id = event.dialog_id.call_id
            if call_id in calls:
                calls.discard(call_id)
                answered += 1
                if args.verbose:
                    print(f"call {call_id} ended: {event.reason.name}")
                if args.calls and answered >= args.calls:
                    done.set()
        elif isinstance(event, sipsans.InDialogRequest) and event.txn is not None:
            # A re-INVITE/UPDATE with an offer gets our answer; anything else a 200.
            request = event.request
            offer = request.method in ("INVITE", "UPDATE") and bool(request.body)
            body = ANSWER_SDP if request.method == "INVITE" or offer else b""
            with contextlib.suppress(sipsans.LocalProtocolError):
                session.command(
                    session.core.respond,
                    event.txn,
                    200,
                    body=body,
                    content_type="application/sdp" if body else None,
                )
        elif (
            isinstance(event, sipsans.RequestReceived)
            and event.txn is not None
            and event.request.method == "OPTIONS"
        ):
            reply = sipsans.make_response(
                event.request, 200, headers=[("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")]
            )
            session.command(session.core.endpoint.send_response, event.txn, reply)

    session = _session(args, _user_agent(args), transport=transport, server=True)
    session.on_event = on_event
    async with session:
        host, port = session.addresses[transport]
        print(f"sipsans uas listening on {transport} {host}:{port}", flush=True)
        await done.wait()
        await asyncio.sleep(0.05)  # let the last 200 OK for BYE leave
    print(f"{answered} calls handled")
    return 0


async def _call(args: argparse.Namespace) -> int:
    uri, target = _target(args)
    session = _session(args, _user_agent(args), transport=target.transport, server=False)
    async with session:
        try:
            dialog = await session.invite(
                uri,
                body=ANSWER_SDP,
                content_type="application/sdp",
                target=target,
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


async def _register(args: argparse.Namespace) -> int:
    from sipsans.registration import (  # noqa: PLC0415 - only this command needs it
        Registration,
        RegistrationDriver,
        RegistrationState,
        RegistrationStateChanged,
    )

    try:
        aor = sipsans.parse_uri(args.aor)
        registrar = sipsans.parse_uri(args.registrar) if args.registrar else None
    except sipsans.RemoteProtocolError as exc:
        raise CommandError(f"bad URI: {exc}") from None
    if not isinstance(aor, sipsans.SipURI):
        raise CommandError(f"{args.aor!r} is not a sip: or sips: URI")
    hop = registrar if isinstance(registrar, sipsans.SipURI) else aor
    if not isinstance(hop, sipsans.SipURI):
        raise CommandError(f"{args.registrar!r} is not a sip: or sips: URI")
    target = target_for(hop if registrar is not None else sipsans.SipURI(aor.host, port=aor.port))
    if args.transport and hop.transport is None:
        target = sipsans.Target(args.transport.upper(), target.host, target.port)
    credentials = (
        sipsans.Credentials(username=args.user, password=args.password or "") if args.user else None
    )
    machine: list[Registration] = []

    def make(addr: tuple[str, int]) -> RegistrationDriver:
        host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
        user = f"{aor.user}@" if aor.user else ""
        transport = "" if target.transport == "UDP" else f";transport={target.transport.lower()}"
        reg = Registration(
            aor,
            registrar,
            contacts=[f"<sip:{user}{host}:{addr[1]}{transport}>"],
            expires=args.expires,
            credentials=credentials,
            headers=[("User-Agent", "sipsans")],
        )
        machine.append(reg)
        return RegistrationDriver(_endpoint(addr), reg, target)

    session = _session(args, make, transport=target.transport, server=False)

    async def until(*states: RegistrationState) -> RegistrationStateChanged:
        while True:
            event = await session.next_event()
            if isinstance(event, RegistrationStateChanged):
                if args.verbose:
                    print(f"{event.previous.name} -> {event.state.name} {event.reason}")
                if event.state in states:
                    return event

    async with session:
        reg, driver = machine[0], session.core
        try:
            async with asyncio.timeout(args.timeout):
                session.command(lambda now: driver.send(reg.start(now), now=now))
                event = await until(RegistrationState.REGISTERED, RegistrationState.FAILED)
        except TimeoutError:
            print(f"sipsans: no answer from the registrar within {args.timeout:g} s")
            return 2
        if event.state is RegistrationState.FAILED:
            text = event.reason
            if event.status is not None and not text.startswith(str(event.status)):
                text = f"{event.status} {text}"
            print(f"registration failed: {text}".rstrip())
            return 1
        print(f"registered {aor} for {event.expires} s")
        for binding in reg.bindings:
            print(f"  binding {binding}")
        if args.duration > 0:
            await asyncio.sleep(args.duration)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.timeout):
                session.command(lambda now: driver.send(reg.stop(now), now=now))
                await until(RegistrationState.UNREGISTERED, RegistrationState.FAILED)
                print("unregistered")
    return 0


def run_command(args: argparse.Namespace) -> int:
    """Run one network subcommand; returns the exit status."""
    if args.command == "options":
        coro = _request(args, "OPTIONS", b"", None)
    elif args.command == "message":
        coro = _request(args, "MESSAGE", args.text.encode("utf-8"), "text/plain")
    elif args.command == "uas":
        coro = _uas(args)
    elif args.command == "call":
        coro = _call(args)
    elif args.command == "register":
        coro = _register(args)
    else:  # pragma: no cover - the parser only offers the commands above
        raise CommandError(f"unknown command {args.command}")
    try:
        return run(coro, use_uvloop=getattr(args, "uvloop", False))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"sipsans: error: {exc.strerror or exc}", file=sys.stderr)
        return 2
