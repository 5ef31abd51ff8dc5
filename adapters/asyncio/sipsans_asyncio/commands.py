"""The network subcommands of ``sipsans``: ``options``, ``message``, ``uas``, ``call``,
``register``, ``registrar``.

Each is a small application on :class:`sipsans_asyncio.Session`; the argument parsing
lives in :mod:`sipsans_asyncio.cli`. Exit status: 0 success, 1 a negative answer
(a non-2xx final response, a rejected or failed call), 2 a usage or network error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sipsans
from sipsans.dialog.model import target_for

from .calls import CallFailed
from .driver import RequestTimeout, TransportError
from .rng import BufferedSystemRandom
from .run import run
from .session import Listen, Session
from .tls import client_context, server_context

__all__ = [
    "ANSWER_SDP",
    "CommandError",
    "UasHandler",
    "parse_hostport",
    "parse_users",
    "run_command",
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


def parse_users(values: list[str]) -> dict[str, str]:
    """``NAME:PASSWORD`` items (the password may contain ``:``) -> {name: password}."""
    users: dict[str, str] = {}
    for value in values:
        name, sep, password = value.partition(":")
        if not sep or not name:
            raise CommandError(f"bad --user {value!r}: expected NAME:PASSWORD")
        users[name] = password
    return users


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


def _endpoint(addr: tuple[str, int], rng: random.Random | None = None) -> sipsans.Endpoint:
    """An Endpoint advertising ``addr``; its branches come from ``rng`` (by default a
    :class:`~sipsans_asyncio.rng.BufferedSystemRandom` of its own)."""
    config = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
    return sipsans.Endpoint(config, rng=rng if rng is not None else BufferedSystemRandom())


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
            print(f"sipsans: {method} to {uri} failed: {str(exc) or 'timed out'}", file=sys.stderr)
            return 2
    print(f"{response.status_code} {response.reason}")
    if args.verbose:
        print(bytes(response).decode("utf-8", "replace"))
    return 0 if 200 <= response.status_code < 300 else 1


def _user_agent(args: argparse.Namespace, identity: str | None = None) -> Any:
    """A factory of the UserAgent core: *identity* (an AOR) or sip:sipsans@<host>, with
    the digest credentials of ``--user``/``--password``."""

    def make(addr: tuple[str, int]) -> Any:
        # One cryptographic rng (RFC 3261 §19.3) for the core, buffered: a tag, branch
        # or Call-ID is no system call of its own.
        rng = BufferedSystemRandom()
        endpoint = _endpoint(addr, rng)
        credentials = None
        if getattr(args, "user", None):
            credentials = sipsans.Credentials(username=args.user, password=args.password or "")
        return sipsans.UserAgent(
            endpoint,
            identity=identity or f"sip:sipsans@{addr[0]}",
            credentials=credentials,
            rng=rng,
        )

    return make


class UasHandler:
    """What ``sipsans uas`` does with each event of its session (the session's
    ``on_event``, called inside the pump): answer calls (or ring first, or reject),
    answer in-dialog requests and OPTIONS, count the calls that ended.

    Dispatch is by exact event type (one dict look-up per event): under ``sipp -sn uac``
    this runs several times per call.
    """

    def __init__(
        self,
        session: Session[Any],
        args: argparse.Namespace,
        *,
        on_registration: Callable[[sipsans.RegistrationStateChanged], None] | None = None,
    ) -> None:
        self.session = session
        self.args = args
        self.answered = 0
        #: Set once ``--calls`` calls have ended.
        self.done = asyncio.Event()
        self._calls: set[str] = set()
        self._on_registration = on_registration
        self._handlers: dict[type, Callable[[Any], None]] = {
            sipsans.IncomingCall: self._incoming,
            sipsans.DialogTerminated: self._terminated,
            sipsans.InDialogRequest: self._in_dialog,
            sipsans.RequestReceived: self._request,
            sipsans.RegistrationStateChanged: self._registration,
        }

    def on_event(self, event: object) -> None:
        """Handle one event. Give the session this bound method as its ``on_event``
        rather than the handler itself: CPython calls a bound method faster than an
        object's ``__call__`` (some 600 instructions less per event on 3.11)."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    __call__ = on_event

    def answer(self, dialog: Any) -> None:
        # (try rather than contextlib.suppress, whose three calls this saves per call)
        try:
            self.session.command(dialog.accept, body=ANSWER_SDP, content_type="application/sdp")
        except sipsans.LocalProtocolError:
            return  # the call ended meanwhile

    def _incoming(self, event: sipsans.IncomingCall) -> None:
        dialog = event.dialog
        self._calls.add(dialog.id.call_id)
        args = self.args
        if args.reject:
            self.session.command(dialog.reject, args.reject)
        elif args.ring > 0:
            self.session.command(dialog.ringing)
            asyncio.get_running_loop().call_later(args.ring, self.answer, dialog)
        else:
            self.answer(dialog)

    def _terminated(self, event: sipsans.DialogTerminated) -> None:
        call_id = event.dialog_id.call_id
        if call_id not in self._calls:
            return
        self._calls.discard(call_id)
        self.answered += 1
        args = self.args
        if args.verbose:
            print(f"call {call_id} ended: {event.reason.name}")
        if args.calls and self.answered >= args.calls:
            self.done.set()

    def _in_dialog(self, event: sipsans.InDialogRequest) -> None:
        if event.txn is None:
            return
        # A re-INVITE/UPDATE with an offer gets our answer; anything else a 200.
        request = event.request
        offer = request.method in ("INVITE", "UPDATE") and bool(request.body)
        body = ANSWER_SDP if request.method == "INVITE" or offer else b""
        session = self.session
        with contextlib.suppress(sipsans.LocalProtocolError):
            session.command(
                session.core.respond,
                event.txn,
                200,
                body=body,
                content_type="application/sdp" if body else None,
            )

    def _request(self, event: sipsans.RequestReceived) -> None:
        if event.txn is None or event.request.method != "OPTIONS":
            return
        reply = sipsans.make_response(
            event.request, 200, headers=[("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")]
        )
        session = self.session
        session.command(session.core.endpoint.send_response, event.txn, reply)

    def _registration(self, event: sipsans.RegistrationStateChanged) -> None:
        if self._on_registration is not None:
            self._on_registration(event)


async def _uas(args: argparse.Namespace) -> int:
    transport = (args.transport or "udp").upper()
    registration = _RegistrationArgs.of(args, args.register) if args.register else None
    states: asyncio.Queue[sipsans.RegistrationStateChanged] = asyncio.Queue()
    session = _session(args, _user_agent(args, args.register), transport=transport, server=True)
    handler = UasHandler(session, args, on_registration=states.put_nowait)
    session.on_event = handler.on_event
    async with session:
        host, port = session.addresses[transport]
        print(f"sipsans uas listening on {transport} {host}:{port}", flush=True)
        handle = None
        if registration is not None:
            # Registered from this session's own socket: calls to the AOR reach this UA.
            result = await _start_registration(session, args, registration, states.get)
            if isinstance(result, int):
                return result
            handle = result
        try:
            await handler.done.wait()
            await asyncio.sleep(0.05)  # let the last 200 OK for BYE leave
        finally:
            if handle is not None:
                await _stop_registration(session, args, handle, states.get)
    print(f"{handler.answered} calls handled")
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


@dataclass(frozen=True, slots=True)
class _RegistrationArgs:
    """The AOR, registrar URI and first hop of ``register AOR`` / ``uas --register AOR``."""

    aor: sipsans.SipURI
    registrar: sipsans.SipURI | None
    target: sipsans.Target

    @classmethod
    def of(cls, args: argparse.Namespace, aor_text: str) -> _RegistrationArgs:
        aor = _sip_uri(aor_text)
        registrar = _sip_uri(args.registrar) if args.registrar else None
        # The Request-URI defaults to the AOR's domain (§10.2); REGISTERs go there
        # unless --transport names another transport than the URI.
        hop = registrar if registrar is not None else sipsans.SipURI(aor.host, port=aor.port)
        target = target_for(hop)
        if args.transport and hop.transport is None:
            target = sipsans.Target(args.transport.upper(), target.host, target.port)
        return cls(aor, registrar, target)


def _sip_uri(text: str) -> sipsans.SipURI:
    try:
        uri = sipsans.parse_uri(text)
    except sipsans.RemoteProtocolError as exc:
        raise CommandError(f"bad URI {text!r}: {exc}") from None
    if not isinstance(uri, sipsans.SipURI):
        raise CommandError(f"{text!r} is not a sip: or sips: URI")
    return uri


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


async def _start_registration(
    session: Session[Any],
    args: argparse.Namespace,
    reg: _RegistrationArgs,
    next_state: Callable[[], Awaitable[object]],
) -> sipsans.RegistrationHandle | int:
    """Register with ``ua.register`` and print the outcome: the handle, or the exit
    status (1 refused, 2 no answer within ``--timeout``)."""
    state = sipsans.RegistrationState
    try:
        async with asyncio.timeout(args.timeout):
            handle: sipsans.RegistrationHandle = session.command(
                session.core.register,
                reg.registrar,
                aor=reg.aor,
                expires=args.expires,
                target=reg.target,
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


async def _stop_registration(
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


async def _register(args: argparse.Namespace) -> int:
    reg = _RegistrationArgs.of(args, args.aor)
    make = _user_agent(args, args.aor)
    session = _session(args, make, transport=reg.target.transport, server=False)
    async with session:
        result = await _start_registration(session, args, reg, session.next_event)
        if isinstance(result, int):
            return result
        if args.duration > 0:
            await asyncio.sleep(args.duration)
        await _stop_registration(session, args, result, session.next_event)
    return 0


#: What `sipsans registrar` answers besides REGISTER (the Allow of its 405s, §21.4.6).
_REGISTRAR_ALLOW = "REGISTER, OPTIONS"


async def _registrar(args: argparse.Namespace) -> int:
    """Serve :class:`sipsans.Registrar` (RFC 3261 §10.3), with digest authentication
    (:class:`sipsans.auth.DigestServer`) when users are given."""
    from sipsans.auth import DigestServer  # noqa: PLC0415 - only this command needs it

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

    session = _session(args, _endpoint, transport=transport, server=True)
    session.on_event = on_event
    async with session:
        # Made before the first await, so before any REGISTER can arrive; the default
        # realm is the address the session ended up advertising.
        host, port = session.addresses[transport]
        realm = args.realm or (args.domain[0] if args.domain else session.advertised[0])
        digest = None
        if users:
            digest = DigestServer(
                os.urandom(32), realm, algorithms=args.algorithm or ("SHA-256", "MD5")
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
        auth = f"digest realm {realm!r} for {', '.join(users)}" if users else "no authentication"
        print(f"sipsans registrar listening on {transport} {host}:{port} ({auth})", flush=True)
        await done.wait()
        await asyncio.sleep(0.05)  # let the last response leave
    print(f"{answered} REGISTER requests answered")
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
    elif args.command == "registrar":
        coro = _registrar(args)
    else:  # pragma: no cover - the parser only offers the commands above
        raise CommandError(f"unknown command {args.command}")
    try:
        # Long-running servers trade later freeing of reference cycles for fewer
        # collections under load (sipsans_asyncio.run.tune_gc).
        server = args.command in ("uas", "registrar")
        return run(coro, use_uvloop=getattr(args, "uvloop", False), tune_gc=server)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"sipsans: error: {exc.strerror or exc}", file=sys.stderr)
        return 2
