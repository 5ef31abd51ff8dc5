"""``sipsans call URI``: call, stay ``--duration`` seconds, hang up (SIGINT or SIGTERM
hangs up too); with ``--transfer-to URI --after SECONDS``, transfer the call instead
(a blind transfer, RFC 3515: REFER, then the NOTIFYs of how the transfer went).

It shows the responses to its INVITE as they arrive (100, 180, 183, 200, a challenge
answered with ``--user``/``--password``), the codec the answer settled on, how long
the call lasted and why it ended; ``-v`` prints every message as a live ladder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

import sipsans
from sipsans.dialog.replaces import parse_sipfrag
from sipsans.sdp import Capabilities, parse_sdp
from sipsans_session import (
    AsyncDialog,
    BufferedSystemRandom,
    CallFailed,
    RequestTimeout,
    TransportError,
)

from ..session import Session
from .clients import NO_ANSWER, Client, add_client_options, client_session, why_no_answer
from .common import CommandError, Exit, Subparsers, add_subcommand, seconds, sip_uri
from .feedback import Watcher
from .media import MediaPort, Negotiator, add_media_options, codec_of
from .running import run_network
from .wire import Seen

__all__ = ["NAME", "add_parser", "run"]

NAME = "call"

_DESCRIPTION = """\
Call URI with an SDP offer of --codecs, stay --duration seconds, then hang up (BYE).
SIGINT (Ctrl-C) or SIGTERM hangs up at once. Shows each response to the INVITE as it
arrives, then the codec, the length of the call and why it ended.

--transfer-to URI --after SECONDS: once the call has lasted SECONDS, transfer it (a
blind transfer, RFC 3515: REFER with Refer-To URI), print each NOTIFY of how the
transfer goes, and hang up when it is done.

A proxy that authenticates callers (e.g. Kamailio's auth_check) wants --user and
--password, and a From whose user is --user: give --from sip:USER@DOMAIN.

exit status: 0 answered (and transferred, with --transfer-to); 1 refused, not answered
within --timeout (then CANCELled), or the transfer failed; 2 usage error; 3 no answer
at all (timeout, unreachable, TLS failure)"""


def add_parser(commands: Subparsers) -> None:
    sub = add_subcommand(
        commands, NAME, help="call URI, talk --duration seconds, hang up (or transfer)",
        description=_DESCRIPTION,
    )  # fmt: skip
    sub.add_argument("uri", metavar="URI", help="whom to call (sip: or sips:)")
    add_client_options(sub)
    call = sub.add_argument_group("call")
    call.add_argument(
        "--duration",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds to stay in the call once answered",
    )
    call.add_argument(
        "--transfer-to", metavar="URI", help="transfer the call to URI (REFER, RFC 3515)"
    )
    call.add_argument(
        "--after",
        type=seconds,
        metavar="SECONDS",
        help="with --transfer-to: seconds into the call before transferring it (default: 1)",
    )
    add_media_options(sub)


def run(args: argparse.Namespace) -> int:
    uri = sip_uri(args.uri)
    if args.transfer_to:
        sip_uri(args.transfer_to, option="--transfer-to")
        if args.after is None:
            args.after = 1.0
    elif args.after is not None:
        raise CommandError("--after goes with --transfer-to")
    return run_network(_call(args, uri), args)


class _Progress:
    """Prints the responses to our INVITE as they arrive (the Wire's listener)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.call_id: str | None = None
        self.started = 0.0

    def on_message(self, seen: Seen, message: sipsans.Request | sipsans.Response | None) -> None:
        if isinstance(message, sipsans.Request):
            if message.method == "INVITE" and self.call_id is None:
                self.call_id, self.started = message.call_id, seen.t
            return
        if not isinstance(message, sipsans.Response) or self.args.verbose:
            return  # (-v shows them all on the ladder)
        try:
            if message.call_id != self.call_id or message.cseq.method != "INVITE":
                return
        except sipsans.RemoteProtocolError:
            return
        status = message.status_code
        line = f"  {status} {message.reason} ({seen.t - self.started:.2f} s)"
        if status in (401, 407):
            line += (
                f": answering as {self.args.user}"
                if self.args.user
                else ": no --user/--password to answer it"
            )
        print(line, flush=True)


async def _call(args: argparse.Namespace, uri: sipsans.SipURI) -> int:
    watcher = Watcher(verbose=args.verbose)
    progress = _Progress(args)
    watcher.listeners.append(progress.on_message)
    try:
        async with client_session(args, uri, watcher) as client:
            session = client.session
            host = session.advertised[0]
            sip_ports = tuple(port for _, port in session.addresses.values())
            media = MediaPort(
                "0.0.0.0" if ":" not in host else "::", args.media_port, avoid=sip_ports
            )
            try:
                return await _place(client, args, uri, media.port)
            finally:
                media.close()
    except NO_ANSWER as exc:  # (the connection a TLS client opens first)
        print(f"call failed: {why_no_answer(exc, watcher, args.timeout)}", flush=True)
        return Exit.NO_ANSWER


async def _place(client: Client, args: argparse.Namespace, uri: sipsans.SipURI, rtp: int) -> int:
    session, ua, watcher = client.session, client.ua, client.watcher
    caps = Capabilities.audio(host=session.advertised[0], port=rtp, codecs=args.codecs)
    offer = Negotiator(caps, BufferedSystemRandom()).offer()
    transport = client.targets[0].transport
    print(f"calling {uri} from {ua.identity.uri} over {transport}", flush=True)
    started = session.now()
    try:
        dialog = await session.invite(
            uri,
            body=offer.body,
            content_type="application/sdp",
            targets=client.targets,
            timeout=args.timeout,
        )
    except CallFailed as exc:
        return _failed(exc, watcher, args)
    except TimeoutError:
        # invite() sent CANCEL; give the 487 a moment so the call ends cleanly.
        for pending in session.dialogs():
            with contextlib.suppress(TimeoutError, TransportError):
                await pending.closed(timeout=2.0)
        if not watcher.heard:
            print(f"no answer from {uri} within {args.timeout:g} s; cancelled", flush=True)
            return Exit.NO_ANSWER
        print(f"not answered within {args.timeout:g} s; cancelled", flush=True)
        return Exit.REFUSED
    answered = session.now()
    print(f"answered after {answered - started:.2f} s: {_media(dialog)}", flush=True)
    if args.transfer_to:
        return await _transfer(client, dialog, args, answered)
    print(f"talking for {args.duration:g} s", flush=True)
    try:
        reason = await dialog.closed(timeout=args.duration)
    except TimeoutError:
        pass
    except asyncio.CancelledError:  # SIGINT or SIGTERM: the session's close hangs up
        print(_ended(session.now() - answered, "interrupted, hanging up"), flush=True)
        raise
    else:
        print(_ended(session.now() - answered, f"the far end hung up ({_name(reason)})"))
        return Exit.OK
    return await _hang_up(session, dialog, answered)


def _failed(exc: CallFailed, watcher: Watcher, args: argparse.Namespace) -> int:
    """The line and exit status of a call that ended before it was answered."""
    response = exc.response
    reason = _name(exc.reason)
    if response is not None:
        text = f"{response.status_code} {response.reason}"
        if response.status_code in (401, 407) and not watcher.last_error:
            text += " (the credentials were refused, or none were given: --user/--password)"
        elif response.status_code == 403 and args.user and not args.from_uri:
            text += f" (a proxy that authenticates callers may want --from sip:{args.user}@...)"
        print(f"call failed: {text} ({reason})", flush=True)
        return Exit.REFUSED
    if watcher.last_error is not None:
        print(f"call failed: {watcher.last_error}", flush=True)
        return Exit.NO_ANSWER
    if exc.reason is sipsans.TerminatedReason.TIMEOUT or not watcher.heard:
        print(f"call failed: no answer ({reason})", flush=True)
        return Exit.NO_ANSWER
    status = f" {exc.status}" if exc.status is not None else ""
    print(f"call failed:{status} ({reason})", flush=True)
    return Exit.REFUSED


def _media(dialog: AsyncDialog) -> str:
    """What the 2xx's SDP answer settled on."""
    response = dialog.response
    if response is None or not response.body:
        return "no SDP in the answer"
    try:
        answer = parse_sdp(response.body)
    except sipsans.RemoteProtocolError as exc:
        return f"unreadable SDP answer ({exc})"
    if not answer.media or answer.media[0].port == 0:
        return f"{codec_of(answer)}, media refused"
    first = answer.media[0]
    connection = answer.connection_of(first)
    where = f"{connection.address}:{first.port}" if connection is not None else f":{first.port}"
    direction = answer.direction_of(first).value
    return f"{codec_of(answer)} {direction}, RTP to {where}"


def _name(reason: sipsans.TerminatedReason | None) -> str:
    return reason.name if reason is not None else "?"


def _ended(talked: float, why: str) -> str:
    return f"call ended after {talked:.1f} s: {why}"


async def _hang_up(session: Session[Any], dialog: AsyncDialog, answered: float) -> int:
    try:
        response = await dialog.hangup()
    except (RequestTimeout, TransportError) as exc:
        print(f"BYE failed: {exc}", flush=True)
        return Exit.NO_ANSWER
    talked = session.now() - answered
    answer = f"BYE answered {response.status_code} {response.reason}" if response else "BYE sent"
    print(_ended(talked, f"hung up ({_name(dialog.terminated_reason)}, {answer})"), flush=True)
    return Exit.OK


async def _transfer(
    client: Client, dialog: AsyncDialog, args: argparse.Namespace, answered: float
) -> int:
    """A blind transfer (RFC 3515): REFER, follow the NOTIFYs, hang up."""
    session = client.session
    try:
        reason = await dialog.closed(timeout=args.after)
    except TimeoutError:
        pass
    else:
        print(_ended(session.now() - answered, f"the far end hung up ({_name(reason)})"))
        return Exit.REFUSED
    print(f"transferring to {args.transfer_to}", flush=True)
    try:
        response = await dialog.refer(args.transfer_to)
    except (RequestTimeout, TransportError) as exc:
        print(f"REFER failed: {exc}", flush=True)
        await _hang_up(session, dialog, answered)
        return Exit.NO_ANSWER
    print(f"  REFER answered {response.status_code} {response.reason}", flush=True)
    outcome: int | None = None
    if 200 <= response.status_code < 300:
        outcome = await _follow_notifies(client, dialog, args.timeout)
    if not dialog.is_terminated:
        await _hang_up(session, dialog, answered)
    else:
        print(
            _ended(
                session.now() - answered, f"the far end hung up ({_name(dialog.terminated_reason)})"
            )
        )
    if outcome is not None and 200 <= outcome < 300:
        print(f"transferred to {args.transfer_to}", flush=True)
        return Exit.OK
    print("the transfer failed", flush=True)
    return Exit.REFUSED


async def _follow_notifies(client: Client, dialog: AsyncDialog, timeout: float) -> int | None:
    """Print each NOTIFY of the REFER's implicit subscription (message/sipfrag); the
    final status it reported, or None."""
    session = client.session
    key = dialog.as_subscription().key
    final: int | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                event = await session.next_event()
                if not isinstance(event, sipsans.NotifyReceived) or event.subscription.key != key:
                    continue
                frag = parse_sipfrag(event.request.body)
                if frag is not None:
                    print(f"  transfer: {frag[0]} {frag[1]}", flush=True)
                    if frag[0] >= 200:
                        final = frag[0]
                if event.state is sipsans.SubscriptionState.TERMINATED:
                    return final
    except TimeoutError:
        print(f"  no final NOTIFY within {timeout:g} s", flush=True)
    return final
