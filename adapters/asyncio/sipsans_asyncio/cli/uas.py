"""``sipsans uas``: a user agent that answers, as an application on the UserAgent's
public API (every answer goes through ``ua.respond``, a dialog's ``accept``/``reject``
or a subscription's ``accept``, never through the Endpoint behind the UA's back).

- INVITE: answered with an SDP answer negotiated by :mod:`sipsans.sdp` (the codecs both
  sides have, telephone-event, the offer's direction mirrored, an RTP port of its own),
  or an offer when the INVITE had none; ``--ring`` rings first, ``--reject`` refuses.
  re-INVITE and UPDATE offers are answered the same way (a hold gets ``recvonly``).
- OPTIONS: ``ua.respond(txn, 200)``: the UA adds the To tag and the Allow, Accept and
  Supported its other answers carry (RFC 3261 §11.2).
- MESSAGE, INFO and other in-dialog requests: 200 at once; each MESSAGE is printed.
- REFER within a call (RFC 3515): 202, then the transfer target is called and the
  referrer told how that went (NOTIFY with message/sipfrag). A REFER it cannot follow
  (``--refuse-transfers``, a Refer-To that is not sip: or sips:, no call to transfer)
  gets 403 at once.
- SUBSCRIBE to a package of ``--events`` (RFC 6665): accepted, with a fixed state.
- ``--register AOR``: registers first, from the same socket, unregisters on exit.
- ``--state redis://...``: one worker of many behind a load balancer, its confirmed
  dialogs shared and restored (:mod:`~.state`, docs/scaling.md).

One line per call as it ends (from, codec, duration, why it ended) unless ``--quiet``.
Every event is handled by :class:`UasHandler` inside the pump (the session's
``on_event``): dispatch by exact type, one dict look-up per event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import sipsans
from sipsans.sdp import Capabilities, parse_sdp
from sipsans_session import BufferedSystemRandom, CallFailed, RequestTimeout, TransportError

from ..session import Session
from . import state
from .common import (
    CommandError,
    Exit,
    Subparsers,
    add_network_options,
    add_subcommand,
    count,
    parse_hostport,
    seconds,
    target_of,
)
from .media import MediaPort, Negotiated, Negotiator, add_media_options, codec_of
from .registering import (
    RegistrationArgs,
    add_registration_options,
    start_registration,
    stop_registration,
)
from .running import run_network
from .stack import Stack, make_session

__all__ = ["EVENT_STATES", "NAME", "UasHandler", "add_parser", "run"]

NAME = "uas"

_DESCRIPTION = """\
Answer calls and the requests around them, as a phone set to auto-answer would
(--duration: and hang up after a while).

INVITEs get an SDP answer negotiated from --codecs (no media is sent; RTP goes to a
port of its own and is dropped), OPTIONS the UA's capabilities, MESSAGE and INFO a 200,
a REFER within a call is followed (the target is called), SUBSCRIBE to a package of
--events is accepted. One line per call as it ends: who called, the codec, how long,
why it ended. SIGINT or SIGTERM hangs up, unregisters and exits.

exit status: 0 after --calls calls (or a signal: 130/143); 1 the registration was
refused; 2 usage error or the address is taken; 3 the registrar did not answer"""


def add_parser(commands: Subparsers) -> None:
    sub = add_subcommand(
        commands, NAME, help="answer calls, OPTIONS, MESSAGE, REFER and SUBSCRIBE",
        description=_DESCRIPTION,
    )  # fmt: skip
    add_network_options(sub, listen="127.0.0.1:5060")
    calls = sub.add_argument_group("calls")
    calls.add_argument(
        "--ring",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="send 180 Ringing, answer after SECONDS",
    )
    calls.add_argument("--reject", type=int, metavar="CODE", help="reject every call with CODE")
    calls.add_argument(
        "--duration",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="hang up (BYE) each answered call after SECONDS (0: let the caller hang up)",
    )
    calls.add_argument(
        "--calls", type=count, default=0, help="exit once N calls have ended (0: never)"
    )
    calls.add_argument(
        "--workers",
        type=count,
        default=1,
        metavar="N",
        help="N processes sharing the --listen port (SO_REUSEPORT; the kernel spreads "
        "calls by source address, so one source always reaches the same worker)",
    )
    calls.add_argument(
        "--refuse-transfers", action="store_true", help="answer REFER with 403 instead of following"
    )
    calls.add_argument(
        "--events",
        type=_packages,
        default=tuple(EVENT_STATES),
        metavar="LIST",
        help=f"event packages served to SUBSCRIBE (default: {','.join(EVENT_STATES)})",
    )
    calls.add_argument(
        "-q", "--quiet", action="store_true", help="no line per call (for load tests)"
    )
    add_media_options(sub)
    reg = add_registration_options(sub)
    reg.add_argument(
        "--register",
        metavar="AOR",
        help="register AOR from this UA first (so calls to it arrive here); unregister on exit",
    )
    reg.add_argument("--user", help="digest user name for --register")
    reg.add_argument("--password", help="digest password for --register")
    state.add_state_options(sub)


#: What ``sipsans uas`` notifies for each event package it serves: a fixed state, as it
#: has no mailbox and no presentity to watch. Content type and body (``{uri}`` is the
#: subscribed URI).
EVENT_STATES: dict[str, tuple[str, str]] = {
    # RFC 3856 presence, in PIDF (RFC 3863): open.
    "presence": (
        "application/pidf+xml",
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{uri}">\r\n'
        '<tuple id="sipsans"><status><basic>open</basic></status></tuple>\r\n'
        "</presence>\r\n",
    ),
    # RFC 3842 message waiting: none.
    "message-summary": ("application/simple-message-summary", "Messages-Waiting: no\r\n"),
}


def _packages(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in EVENT_STATES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"no state to notify for {', '.join(unknown)} (known: {', '.join(EVENT_STATES)})"
        )
    return names


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


class _Call:
    """What the uas remembers of a call while it lasts: for its line, and the SDP it
    sent last (a re-INVITE's answer continues that session, RFC 3264 §8)."""

    __slots__ = ("answered", "codec", "incoming", "local", "number", "who")

    def __init__(self, number: int, who: object, *, incoming: bool = True) -> None:
        self.number = number
        #: The caller's From (a NameAddr, rendered only for the line), or the callee.
        self.who = who
        self.incoming = incoming
        self.codec = "-"
        self.local: Negotiated | None = None
        #: When our 2xx went out (None: never answered).
        self.answered: float | None = None


class UasHandler:
    """What ``sipsans uas`` does with each event of its session (the session's
    ``on_event``, called inside the pump). ``media_port`` is the RTP port its SDP
    advertises; ``on_registration`` gets the registration's state changes.

    To change how calls are answered, subclass and override :meth:`answer_call`
    (which sees the IncomingCall and the negotiated SDP) or add handlers to
    ``self.handlers`` (event type -> method).
    """

    def __init__(
        self,
        session: Session[Any],
        args: argparse.Namespace,
        *,
        media_port: int,
        on_registration: Callable[[sipsans.RegistrationStateChanged], None] | None = None,
    ) -> None:
        self.session = session
        self.args = args
        #: Calls that have ended (incoming and the transfers it placed).
        self.ended = 0
        self._exit_after: int = args.calls
        #: Set once ``--calls`` calls have ended and none is up.
        self.done = asyncio.Event()
        self.negotiator = Negotiator(
            Capabilities.audio(host=session.advertised[0], port=media_port, codecs=args.codecs),
            BufferedSystemRandom(),
        )
        self._calls: dict[tuple[str, str], _Call] = {}
        self._numbered = 0
        self._transfers: set[asyncio.Task[None]] = set()
        #: Calls answered with our offer whose ACK (with the answer) has not come yet.
        self._late: set[tuple[str, str]] = set()
        self._on_registration = on_registration
        #: Malformed messages not yet reported, and when the last report was printed.
        self._malformed_unsaid = 0
        self._malformed_said_at = float("-inf")
        self.handlers: dict[type, Callable[[Any], None]] = {
            sipsans.MalformedMessage: self._malformed,
            sipsans.IncomingCall: self._incoming,
            sipsans.DialogTerminated: self._terminated,
            sipsans.InDialogRequest: self._in_dialog,
            sipsans.RequestReceived: self._request,
            sipsans.MessageReceived: self._message,
            sipsans.ReferReceived: self._refer,
            sipsans.IncomingSubscription: self._subscription,
            sipsans.RegistrationStateChanged: self._registration,
        }

    def on_event(self, event: object) -> None:
        """Handle one event. Give the session this bound method as its ``on_event``
        rather than the handler itself: CPython calls a bound method faster than an
        object's ``__call__`` (some 600 instructions less per event on 3.11)."""
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(event)

    __call__ = on_event

    def _say(self, text: str) -> None:
        if not self.args.quiet:
            print(text, flush=True)

    def _malformed(self, event: sipsans.MalformedMessage) -> None:
        """Bytes that were not a valid SIP message: the core dropped them, or answered
        them with a stateless 400 when the request's Via, From, To, Call-ID and CSeq
        parsed. One line a second at most: a peer flooding garbage must not turn into a
        flood of lines (the ones in between are counted in the next line)."""
        self._malformed_unsaid += 1
        now = time.monotonic()
        if now - self._malformed_said_at < 1.0:
            return
        host, port = event.source.remote[:2]
        more = self._malformed_unsaid - 1
        self._malformed_unsaid, self._malformed_said_at = 0, now
        also = f" (and {more} more since the last such line)" if more else ""
        where = f"{host}:{port} over {event.source.transport}"
        self._say(f"malformed message from {where}: {event.error}{also}")

    # -- calls ---------------------------------------------------------------------------

    def _incoming(self, event: sipsans.IncomingCall) -> None:
        dialog = event.dialog
        self._numbered += 1
        call = _Call(self._numbered, event.request.from_)
        dialog_id = dialog.id  # (a property: read once)
        self._calls[(dialog_id.call_id, dialog_id.local_tag)] = call
        args = self.args
        if args.reject:
            self._command(dialog.reject, args.reject)
            return
        body = event.request.body
        try:
            # An offer is answered; without one (RFC 3264 §5: the offer goes in our
            # 2xx), the answer comes in the ACK.
            sdp = self.negotiator.answer(body) if body else self.negotiator.offer()
        except sipsans.RemoteProtocolError as exc:
            call.codec = "none"
            self._command(dialog.reject, exc.status_hint, reason=_reason(exc.status_hint))
            return
        call.codec, call.local = sdp.codec, sdp
        if not body:
            # The answer comes in the ACK, which confirms the dialog: watch for it (only
            # while such a call is pending: no cost to the calls that offer).
            self._late.add((dialog_id.call_id, dialog_id.local_tag))
            self.handlers[sipsans.DialogStateChanged] = self._confirmed
        self.answer_call(event, sdp)

    def _confirmed(self, event: sipsans.DialogStateChanged) -> None:
        """A call we offered to is confirmed: its ACK carries the answer (RFC 3264 §5)."""
        key = (event.dialog_id.call_id, event.dialog_id.local_tag)
        if event.state is not sipsans.DialogState.CONFIRMED or key not in self._late:
            return
        self._late.discard(key)
        if not self._late:
            del self.handlers[sipsans.DialogStateChanged]
        call = self._calls.get(key)
        message = event.message
        if call is not None and message is not None and message.body:
            with contextlib.suppress(sipsans.RemoteProtocolError):
                call.codec = codec_of(parse_sdp(message.body))

    def answer_call(self, event: sipsans.IncomingCall, sdp: Negotiated) -> None:
        """Answer ``event``'s call with ``sdp`` (the SDP answer, or our offer): at once,
        or after ringing ``--ring`` seconds."""
        dialog = event.dialog
        if self.args.ring > 0:
            self._command(dialog.ringing)
            asyncio.get_running_loop().call_later(self.args.ring, self.accept, dialog, sdp)
        else:
            self.accept(dialog, sdp)

    def accept(self, dialog: sipsans.ServerInviteDialog, sdp: Negotiated) -> None:
        """200 OK with ``sdp`` (nothing when the call ended meanwhile)."""
        # (try rather than contextlib.suppress, whose three calls this saves per call)
        try:
            self.session.command(dialog.accept, body=sdp.body, content_type="application/sdp")
        except sipsans.LocalProtocolError:
            return
        dialog_id = dialog.id  # (a property: read once)
        call = self._calls.get((dialog_id.call_id, dialog_id.local_tag))
        if call is not None:
            call.answered = time.monotonic()  # (the call's length only: no session clock)
        if self.args.duration > 0:
            asyncio.get_running_loop().call_later(self.args.duration, self._hang_up, dialog)

    def _hang_up(self, dialog: sipsans.ServerInviteDialog) -> None:
        """``--duration`` is up: BYE (held by the UA until our 2xx is ACKed, §15)."""
        if dialog.state is not sipsans.DialogState.TERMINATED:
            self._command(dialog.bye)

    def _terminated(self, event: sipsans.DialogTerminated) -> None:
        dialog_id = event.dialog_id
        key = (dialog_id.call_id, dialog_id.local_tag)
        call = self._calls.get(key)
        if call is None or not call.incoming:
            return  # (a transfer's call is reported by its own task)
        del self._calls[key]
        if self._late and key in self._late:
            self._late.discard(key)
            if not self._late:
                self.handlers.pop(sipsans.DialogStateChanged, None)
        self._ended(call, event.reason, event.status)

    def _ended(
        self, call: _Call, reason: sipsans.TerminatedReason | None, status: int | None
    ) -> None:
        self.ended += 1
        if not self.args.quiet:
            talked = time.monotonic() - call.answered if call.answered is not None else 0.0
            why = reason.name if reason is not None else "?"
            if status is not None and call.answered is None:
                why += f" {status}"
            who = call.who.uri if isinstance(call.who, sipsans.NameAddr) else call.who
            way = "from" if call.incoming else "to"
            print(
                f"call {call.number} {way} {who}: {call.codec}, {talked:.1f} s, ended {why}",
                flush=True,
            )
        if self._exit_after and self.ended >= self._exit_after and not self._calls:
            self.done.set()

    def _in_dialog(self, event: sipsans.InDialogRequest) -> None:
        request = event.request
        call = self._calls.get((event.dialog_id.call_id, event.dialog_id.local_tag))
        if event.txn is None:  # an ACK carrying the answer to the offer in our 2xx
            if call is not None and request.body:
                with contextlib.suppress(sipsans.RemoteProtocolError):
                    call.codec = codec_of(parse_sdp(request.body))
            return
        method = request.method
        body = b""
        if method in ("INVITE", "UPDATE"):
            previous = call.local.sdp() if call is not None and call.local is not None else None
            try:
                if request.body:
                    sdp = self.negotiator.answer(request.body, previous)
                elif method == "INVITE":
                    sdp = self.negotiator.offer(previous)  # answered in the ACK (§14.2)
                else:
                    sdp = None
            except sipsans.RemoteProtocolError as exc:
                self._respond(event.txn, exc.status_hint)
                return
            if sdp is not None:
                body = sdp.body
                if call is not None:
                    call.local, call.codec = sdp, sdp.codec
        self._respond(event.txn, 200, body=body)

    # -- requests outside calls --------------------------------------------------------------

    def _request(self, event: sipsans.RequestReceived) -> None:
        if event.txn is None:
            return
        method = event.request.method
        if method == "OPTIONS":
            self._respond(event.txn, 200)  # the UA adds Allow, Accept, Supported, To tag
        elif method == "REFER":
            self._respond(event.txn, 403, reason="Transfers only within a call")
        else:
            self._respond(event.txn, 200)

    def _message(self, event: sipsans.MessageReceived) -> None:
        self._respond(event.txn, 200)
        text = event.request.body.decode("utf-8", "replace")
        self._say(f"message from {event.request.from_.uri}: {text}")

    def _subscription(self, event: sipsans.IncomingSubscription) -> None:
        sub = event.subscription
        content_type, body = EVENT_STATES[sub.event]
        self._command(
            sub.accept,
            body=body.format(uri=event.request.uri).encode(),
            content_type=content_type,
        )
        self._say(f"subscription from {event.request.from_.uri} to {sub.event}")

    def _registration(self, event: sipsans.RegistrationStateChanged) -> None:
        if self._on_registration is not None:
            self._on_registration(event)

    # -- transfers (RFC 3515) ----------------------------------------------------------------

    def _refer(self, event: sipsans.ReferReceived) -> None:
        target = event.refer_to.uri
        original = self._calls.get((event.dialog_id.call_id, event.dialog_id.local_tag))
        if self.args.refuse_transfers:
            self._respond(event.txn, 403, reason="Transfers refused")
            return
        if not isinstance(target, sipsans.SipURI):
            self._respond(event.txn, 403, reason="Refer-To is not a SIP URI")
            return
        self._respond(event.txn, 202)
        self._say(
            f"call {original.number if original else '?'} transferred to {target}"
            f" by {event.request.from_.uri}"
        )
        task = asyncio.get_running_loop().create_task(self._follow(event, target))
        self._transfers.add(task)
        task.add_done_callback(self._transfers.discard)

    async def _follow(self, refer: sipsans.ReferReceived, target: sipsans.SipURI) -> None:
        """Call the transfer target, tell the referrer the outcome (RFC 3515 §2.4.4),
        and stay in that call until it ends."""
        session = self.session
        referred_by = [("Referred-By", str(refer.referred_by))] if refer.referred_by else []
        sdp = self.negotiator.offer()
        self._numbered += 1
        call = _Call(self._numbered, target, incoming=False)
        call.local, call.codec = sdp, sdp.codec
        dialog = await session.invite(
            target,
            body=sdp.body,
            content_type="application/sdp",
            headers=referred_by,
            # (a Refer-To without transport= goes over our own --transport, as the
            # client subcommands send theirs)
            target=target_of(target, self.args.transport),
            wait=False,
        )
        self._calls[(dialog.id.call_id, dialog.id.local_tag)] = call
        referrer = session.wrap(refer.dialog_id)
        try:
            await dialog.established(self.args.timeout)
        except CallFailed as exc:
            await self._notify(referrer, exc.status or 503, refer.refer_sub)
            self._calls.pop((dialog.id.call_id, dialog.id.local_tag), None)
            self._ended(call, exc.reason, exc.status)
            return
        except TimeoutError:
            await self._notify(referrer, 408, refer.refer_sub)
        else:
            call.answered = time.monotonic()
            await self._notify(referrer, 200, refer.refer_sub)
        if self.args.duration > 0:
            with contextlib.suppress(TimeoutError):
                await dialog.closed(self.args.duration)
            if not dialog.is_terminated:
                await dialog.hangup()
        reason = await dialog.closed()
        self._calls.pop((dialog.id.call_id, dialog.id.local_tag), None)
        self._ended(call, reason, dialog.status)

    async def _notify(self, referrer: Any, status: int, subscribed: bool) -> None:
        """The final NOTIFY of a REFER's implicit subscription (none under RFC 4488's
        ``Refer-Sub: false``, or when the referrer already hung up)."""
        if subscribed and not referrer.is_terminated:
            with contextlib.suppress(sipsans.LocalProtocolError, RequestTimeout, TransportError):
                await referrer.notify_refer(status)

    # -- answering -------------------------------------------------------------------------

    def _respond(self, txn: sipsans.ServerTxn, status: int, **answer: Any) -> None:
        if answer.get("body"):
            answer["content_type"] = "application/sdp"
        with contextlib.suppress(sipsans.LocalProtocolError):
            self.session.command(self.session.core.respond, txn, status, **answer)

    def _command(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(sipsans.LocalProtocolError):
            self.session.command(fn, *args, **kwargs)


def _reason(status: int) -> str | None:
    return {488: "Not Acceptable Here: no common codec"}.get(status)


async def _uas(args: argparse.Namespace) -> int:
    transport = (args.transport or "udp").upper()
    registration = RegistrationArgs.of(args, args.register) if args.register else None
    states: asyncio.Queue[sipsans.RegistrationStateChanged] = asyncio.Queue()
    config = state.ua_config(args, sipsans.UAConfig(event_packages=args.events))
    if args.verbose:  # (a live ladder of every message; nothing watches them otherwise)
        stack, watcher = Stack.watched(args, identity=args.register, config=config)
    else:
        stack, watcher = Stack(args, identity=args.register, config=config), None
    handler: UasHandler | None = None
    try:
        with stack:
            session = make_session(
                args, stack.user_agent, transport=transport, server=True, default_port=5060
            )
            session.reuse_port = getattr(args, "reuse_port", False)  # a worker of --workers
            if watcher is not None:
                watcher.session = session
            async with session, state.shared_dialogs(session, args):
                host, port = session.addresses[transport]
                media = MediaPort(host, args.media_port, avoid=(port,))
                try:
                    handler = UasHandler(
                        session, args, media_port=media.port, on_registration=states.put_nowait
                    )
                    session.on_event = handler.on_event
                    # One write of the whole line: --workers' processes share stdout, and
                    # print() writes the line and its end apart when stdout is unbuffered.
                    print(
                        f"sipsans uas listening on {transport} {host}:{port}"
                        f" (RTP port {media.port}, codecs {','.join(args.codecs)})\n",
                        end="",
                        flush=True,
                    )
                    status = await _serve(session, args, handler, registration, states)
                finally:
                    media.close()
    except asyncio.CancelledError:  # a signal: counted once the session hung up the calls
        if handler is not None:
            print(f"{handler.ended} calls handled", file=sys.stderr, flush=True)
        raise
    if status == Exit.OK and handler is not None:
        print(f"{handler.ended} calls handled", flush=True)
    return status


async def _serve(
    session: Session[Any],
    args: argparse.Namespace,
    handler: UasHandler,
    registration: RegistrationArgs | None,
    states: asyncio.Queue[sipsans.RegistrationStateChanged],
) -> int:
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
    return Exit.OK
