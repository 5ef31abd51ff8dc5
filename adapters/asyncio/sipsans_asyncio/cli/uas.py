"""``sipsans uas``: answer calls (``--ring``, ``--reject CODE``, ``--calls N``) and OPTIONS.

With ``--register AOR`` (``--user/--password``) it registers the AOR first from the same
socket, so a proxy's location lookup routes calls here, and unregisters on exit. Every
event is handled by :class:`UasHandler`, called inside the pump (the session's
``on_event``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

import sipsans

from ..session import Session
from . import state
from .common import (
    ANSWER_SDP,
    CommandError,
    RegistrationArgs,
    Subparsers,
    add_network_options,
    add_registration_options,
    make_session,
    parse_hostport,
    run_network,
    start_registration,
    stop_registration,
    user_agent,
)

__all__ = ["NAME", "UasHandler", "add_parser", "run"]

NAME = "uas"


def add_parser(commands: Subparsers) -> None:
    sub = commands.add_parser(NAME, help="answer calls and OPTIONS")
    add_network_options(sub, listen="127.0.0.1:5060")
    sub.add_argument("--ring", type=float, default=0.0, help="send 180, answer after SECONDS")
    sub.add_argument("--reject", type=int, metavar="CODE", help="reject every call with CODE")
    sub.add_argument("--calls", type=int, default=0, help="exit after N calls (0: never)")
    sub.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes sharing the --listen port (SO_REUSEPORT; the kernel spreads "
        "calls by source address, so one source always reaches the same worker)",
    )
    sub.add_argument(
        "--register",
        metavar="AOR",
        help="register AOR from this UA first (so calls to it arrive here); unregister on exit",
    )
    add_registration_options(sub)
    state.add_state_options(sub)


def run(args: argparse.Namespace) -> int:
    if args.reject is not None and not 300 <= args.reject <= 699:
        raise CommandError("--reject takes a final status code 300-699")
    state.check_state(args)
    if args.workers > 1:
        return run_workers(args)
    return run_network(_uas(args), args, server=True)


def run_workers(args: argparse.Namespace) -> int:
    """``--workers N``: N forked processes, each a whole ``sipsans uas`` bound with
    SO_REUSEPORT to the same port. One port rather than N: a peer (or a proxy) needs no
    list of addresses, and Via, Contact and Record-Route stay one address. The kernel
    picks a worker by hashing a datagram's (or connection's) addresses, so every request
    of a call from one source socket reaches the worker holding its dialog; a peer that
    sends everything from one socket reaches one worker only. In the parent, returns the
    worst exit status of the workers, to which it passes SIGTERM and SIGINT on; in a
    worker, that worker's own.
    """
    if args.workers > 64 or parse_hostport(args.listen, default_port=0)[1] == 0:
        raise CommandError("--workers needs a fixed --listen port, and at most 64 workers")
    children: list[int] = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:  # a worker: the whole command, in this process, and its exit status
            args.workers = 1
            args.reuse_port = True
            return run(args)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) for child in children)


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
        # Through the UA (it adds Allow and Accept, §11.2), which then forgets the request:
        # answered behind its back, it would answer it again after answer_timeout.
        session = self.session
        session.command(session.core.respond, event.txn, 200)

    def _registration(self, event: sipsans.RegistrationStateChanged) -> None:
        if self._on_registration is not None:
            self._on_registration(event)


async def _uas(args: argparse.Namespace) -> int:
    transport = (args.transport or "udp").upper()
    registration = RegistrationArgs.of(args, args.register) if args.register else None
    states: asyncio.Queue[sipsans.RegistrationStateChanged] = asyncio.Queue()
    core = user_agent(args, args.register, config=state.ua_config(args))
    session = make_session(args, core, transport=transport, server=True)
    session.reuse_port = getattr(args, "reuse_port", False)  # a worker of --workers
    handler = UasHandler(session, args, on_registration=states.put_nowait)
    session.on_event = handler.on_event
    async with session, state.shared_dialogs(session, args):
        host, port = session.addresses[transport]
        print(f"sipsans uas listening on {transport} {host}:{port}", flush=True)
        handle = None
        if registration is not None:
            # Registered from this session's own socket: calls to the AOR reach this UA.
            result = await start_registration(session, args, registration, states.get)
            if isinstance(result, int):
                return result
            handle = result
        try:
            await handler.done.wait()
            await asyncio.sleep(0.05)  # let the last 200 OK for BYE leave
        finally:
            if handle is not None:
                await stop_registration(session, args, handle, states.get)
    print(f"{handler.answered} calls handled")
    return 0
