"""The network subcommands of ``sipsans``: ``options``, ``message``, ``uas``, ``call``.

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

from .driver import RequestTimeout, TransportError
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
        dialog = session.command(
            session.core.invite, uri, body=ANSWER_SDP, content_type="application/sdp", target=target
        )
        call_id = dialog.id.call_id

        def mine(event: object) -> bool:
            dialog_id = getattr(event, "dialog_id", None)
            return dialog_id is not None and dialog_id.call_id == call_id

        try:
            async with asyncio.timeout(args.timeout):
                while True:
                    event = await session.next_event()
                    if not mine(event):
                        continue
                    if isinstance(event, sipsans.DialogTerminated):
                        status = "" if event.status is None else f" ({event.status})"
                        print(f"call failed: {event.reason.name}{status}")
                        return 1
                    if (
                        isinstance(event, sipsans.DialogStateChanged)
                        and event.state is sipsans.DialogState.CONFIRMED
                    ):
                        print(f"answered; talking for {args.duration} s", flush=True)
                        break
            async with asyncio.timeout(args.duration):
                while True:
                    event = await session.next_event()
                    if mine(event) and isinstance(event, sipsans.DialogTerminated):
                        print("the far end hung up")
                        return 0
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            session.command(dialog.hangup)
            await asyncio.sleep(0.2)
            raise
        session.command(dialog.hangup)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while True:
                    event = await session.next_event()
                    if mine(event) and isinstance(event, sipsans.DialogTerminated):
                        break
        print("hung up")
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
    else:  # pragma: no cover - the parser only offers the commands above
        raise CommandError(f"unknown command {args.command}")
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"sipsans: error: {exc.strerror or exc}", file=sys.stderr)
        return 2
