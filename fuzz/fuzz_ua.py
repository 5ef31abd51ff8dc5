"""atheris harness for :class:`sipsans.UserAgent`: calls, dialogs and commands in any order.

The input is a program, read like ``fuzz_endpoint.py``'s: an opcode byte, then the argument
bytes the operation reads (bytes past the end read as zero, so every input is valid):

==  =====================================================================================
op  what it does
==  =====================================================================================
0   a peer sends a request built from templates: method (INVITE, ACK, BYE, CANCEL, UPDATE,
    INFO, NOTIFY, SUBSCRIBE, REFER, OPTIONS, MESSAGE, PRACK, PUBLISH, an unknown one),
    out of dialog or inside a dialog the UA reported (its Call-ID and tags), branch, CSeq,
    Contact, Record-Route, Require, Event, Subscription-State, Refer-To, Expires, body;
    over UDP, or over an open TCP connection in two pieces
1   a peer reacts to one of our recent transmits: answers a request (status, To tag,
    Contact, Record-Route, SDP, a digest challenge, Min-Expires, Retry-After, Require;
    a reliable 1xx with an RSeq, a Session-Expires, a 422 with Min-SE), or ACKs our
    response to an INVITE (a 2xx ACK with its own branch, else the same one)
2   a peer resends one of its earlier requests, or CANCELs it, or sends it with a
    higher CSeq (a new request in the same dialog)
3   raw bytes as a datagram
4   the clock jumps (0 s to 64 s, in steps that hit the T1/T2/T4 multiples) and timers fire
5   command ``ua.invite`` (target URI, body, a Route header, a TCP ``target``)
6   command on an ``IncomingCall`` dialog: ringing, progress (reliable or not), accept,
    reject, hangup
7   command on a dialog: bye, hangup, cancel, reinvite, update, info, options, message,
    notify, request(method), ack; refer, notify_refer and prack (when the UA has them)
8   command ``ua.respond`` on a request the UA handed over (InDialogRequest,
    MessageReceived, RequestReceived, ReferReceived, IncomingSubscription)
9   ``transport_error`` for the token of a recent transmit
10  a TCP connection from a peer opens, or one ends (EOF or ``connection_lost``)
11  misuse: ``now`` going backwards, unknown dialog ids and transactions, statuses out of
    range, commands on ended dialogs
12  ``ua.register`` / ``ua.unregister`` (when the UA has them)
13  ``ua.snapshot`` and ``ua.restore`` of a dialog
14  subscriptions (when the UA has them): ``ua.subscribe``; refresh, unsubscribe, accept,
    reject, notify or terminate a subscription the UA reported
15  a peer sends a NOTIFY for one of our recent SUBSCRIBE or REFER transmits (its Call-ID
    and tags; Subscription-State active, pending or terminated)
==  =====================================================================================

A bug is any exception other than :class:`sipsans.LocalProtocolError` from a command, any
exception at all from an input a peer or the network controls, a timer deadline in the
past after ``handle_timer``, or a UA that does not settle: once the application hangs up
every dialog, ends its subscriptions and unregisters, running the clock far ahead must
leave no dialog, call, request, subscription, registration, transaction or timer behind
(``ua.stats()`` all zero).

Registrations, subscriptions and REFER are driven only when the UA has them (feature
detection), so the harness runs against any version of the UA.

Run: ``python fuzz/fuzz_ua.py -max_len=2048 -max_total_time=300 fuzz/.work/ua fuzz/corpus/ua``,
``python fuzz/fuzz_ua.py --replay fuzz/corpus/ua`` without atheris, and
``python fuzz/fuzz_ua.py --seeds`` to rewrite the hand-written seed programs.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from _common import KnownBug, Program, fuzzing_requested, instrumented, is_known, main

_FUZZING = __name__ == "__main__" and fuzzing_requested(sys.argv) and "--seeds" not in sys.argv
with instrumented(_FUZZING):
    from sipsans import (
        ConnHandle,
        Credentials,
        DialogId,
        DialogState,
        DialogStateChanged,
        Endpoint,
        EndpointConfig,
        IncomingCall,
        InDialogRequest,
        LocalProtocolError,
        MessageReceived,
        RemoteProtocolError,
        Request,
        RequestReceived,
        Response,
        ServerInviteDialog,
        ServerTxn,
        Target,
        Transmit,
        UserAgent,
        make_response,
        parse_message,
    )

ME = ("192.0.2.10", 5060)
PEERS = [("192.0.2.1", 5060), ("192.0.2.2", 5070), ("[2001:db8::1]", 5060)]
IN_METHODS = [
    "INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "INFO", "NOTIFY", "SUBSCRIBE", "REFER",
    "OPTIONS", "MESSAGE", "PRACK", "PUBLISH", "FOO",
]  # fmt: skip
CODES = [
    100, 180, 183, 200, 202, 301, 302, 401, 403, 404, 407, 408, 420, 423, 481, 486, 487,
    488, 491, 500, 503, 603, 422,
]  # fmt: skip
RESPOND_CODES = [100, 180, 200, 202, 400, 404, 481, 486, 488, 491, 500, 603]
JUMPS = [0.0, 0.001, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 4.0, 5.0, 8.0, 16.0, 32.0, 32.001, 64.0, 3.5]
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\n"
)
BODIES: list[tuple[bytes, str | None]] = [
    (b"", None),
    (SDP, "application/sdp"),
    (b"not sdp", "application/sdp"),
    (b"SIP/2.0 200 OK\r\n", "message/sipfrag"),
]
TARGETS = [
    "sip:bob@192.0.2.1",
    "<sip:bob@192.0.2.2:5070>",
    "sip:bob@192.0.2.1;transport=tcp",
    '"Bob" <sip:bob@[2001:db8::1]>',
    "sips:bob@192.0.2.1",
    "tel:+15551234",
    "sip:bob@example.com",
    "not a uri",
]
MAX_OPS = 200
T = TypeVar("T")


def _keep(items: list[T], item: T, size: int = 8) -> None:
    items.append(item)
    del items[:-size]


class Run:
    """One program against a fresh UserAgent, with the state a peer and an app keep."""

    def __init__(self, data: bytes, *, record: bool = False) -> None:
        self.p = Program(data)
        #: With ``record``: the first line of every transmit and the name of every event.
        self.log: list[str] | None = [] if record else None
        endpoint = Endpoint(
            EndpointConfig(advertised_host=ME[0], advertised_port=ME[1]), rng=random.Random(1)
        )
        self.ua = UserAgent(
            endpoint,
            identity="sip:alice@192.0.2.10",
            credentials=Credentials("alice", "secret"),
            rng=random.Random(2),
        )
        self.now = 0.0
        self.counter = 0
        self.peer_cseq = 1
        self.sent: list[Transmit] = []  # our recent transmits
        self.peer_sent: list[tuple[bytes, tuple[str, int]]] = []  # the peers' requests
        self.conns: list[ConnHandle] = []  # recent ones, for stream input
        self.all_conns: list[ConnHandle] = []  # every one, closed by finish()
        self.dialogs: list[Any] = []  # dialog views (ClientInviteDialog, ServerInviteDialog)
        self.incoming: list[ServerInviteDialog] = []
        self.contexts: list[DialogId] = []  # dialogs the UA reported, for in-dialog requests
        self.calls: dict[DialogId, None] = {}  # every INVITE dialog reported (finish hangs up)
        self.pending: list[ServerTxn] = []  # requests the app may answer
        self.registrations: list[Any] = []
        self.subscriptions: list[Any] = []  # ClientSubscription / ServerSubscription views

    # -- bookkeeping ------------------------------------------------------------------

    def drain(self) -> None:
        events, transmits = self.ua.events(), self.ua.transmits()
        if self.log is not None:
            self.log += [type(event).__name__ for event in events]
            self.log += [t.data.split(b"\r\n", 1)[0].decode("utf-8", "replace") for t in transmits]
        for event in events:
            if isinstance(event, IncomingCall):
                _keep(self.incoming, event.dialog)
                _keep(self.dialogs, event.dialog)
                _keep(self.pending, event.txn)
                _keep(self.contexts, event.dialog.id)
                self.calls[event.dialog.id] = None
            elif isinstance(event, DialogStateChanged):
                if event.state is not DialogState.TERMINATED:
                    _keep(self.contexts, event.dialog_id)
                    self.calls[event.dialog_id] = None
                    self.command(partial(self.remember_dialog, event.dialog_id))
            elif isinstance(event, InDialogRequest | MessageReceived | RequestReceived):
                if event.txn is not None:
                    _keep(self.pending, event.txn)
            else:  # subscriptions and REFER, when the UA has them (duck-typed)
                subscription = getattr(event, "subscription", None)
                if subscription is not None:
                    _keep(self.subscriptions, subscription)
                    if getattr(subscription, "dialog_id", None) is not None:
                        _keep(self.contexts, subscription.dialog_id)
                txn = getattr(event, "txn", None)
                if isinstance(txn, ServerTxn):
                    _keep(self.pending, txn)
        for transmit in transmits:
            _keep(self.sent, transmit, 16)

    def command(self, call: Callable[[], object]) -> object:
        """Run an application command: only LocalProtocolError may escape (it is swallowed)."""
        try:
            return call()
        except LocalProtocolError:
            return None

    def remember_dialog(self, dialog_id: DialogId) -> None:
        _keep(self.dialogs, self.ua.dialog(dialog_id))

    def hang_up(self, dialog_id: DialogId) -> object:
        return self.ua.dialog(dialog_id).hangup(now=self.now)

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def deliver(self, data: bytes, remote: tuple[str, int], conn: ConnHandle | None) -> None:
        """A peer's message reaches the UA: over ``conn`` in two pieces, or as a datagram."""
        if conn is not None:
            cut = self.p.byte()
            self.ua.receive_stream(conn, data[:cut], now=self.now)
            self.ua.receive_stream(conn, data[cut:], now=self.now)
        else:
            self.ua.receive_datagram(data, remote=remote, local=ME, now=self.now)

    def pick_conn(self) -> ConnHandle | None:
        flag = self.p.byte()
        if flag & 1 and self.conns:
            return self.conns[flag // 2 % len(self.conns)]
        return None

    # -- the peers ----------------------------------------------------------------------

    def peer_request(self) -> None:
        """Op 0: a templated request from a peer."""
        p = self.p
        shape, extras = p.byte(), p.byte()
        method = str(p.pick(IN_METHODS))
        where = p.byte() % (len(self.contexts) + 1)
        if where:
            ctx = self.contexts[-where]
            call_id, from_tag, to_tag = ctx.call_id, ctx.remote_tag or "f0", ctx.local_tag
        else:
            call_id = f"c{shape % 3}"
            from_tag = f"f{shape >> 2 & 1}"
            to_tag = "t0" if shape & 8 else ""
        branch = ["z9hG4bKp1", "z9hG4bKp2", self.fresh("z9hG4bKu"), self.fresh("old")][
            shape >> 4 & 3
        ]
        step = p.byte() % 4
        cseq = [self.peer_cseq, self.peer_cseq + 1, self.peer_cseq + 7, 1][step]
        self.peer_cseq = max(self.peer_cseq, cseq)
        cseq_method = "INVITE" if method in ("ACK", "CANCEL") and shape & 0x40 else method
        body, content_type = p.pick(BODIES)
        remote = p.pick(PEERS)
        conn = self.pick_conn()
        transport = "TCP" if conn is not None else "UDP"
        host = remote[0]
        lines = [
            f"{method} sip:alice@192.0.2.10 SIP/2.0",
            f"Via: SIP/2.0/{transport} {host}:{remote[1]};branch={branch}"
            + (";rport" if shape & 0x80 else ""),
            "Max-Forwards: " + ("0" if extras & 0x80 and method != "INVITE" else "70"),
            f"From: <sip:bob@{host}>;tag={from_tag}",
            "To: <sip:alice@192.0.2.10>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {cseq_method}",
        ]
        if extras & 1:
            lines.append(f"Contact: <sip:bob@{host}:{remote[1]}>")
        if extras & 2:
            lines.append("Record-Route: <sip:proxy.example.com;lr>, <sip:192.0.2.99;lr>")
        if extras & 4:
            lines.append("Require: " + str(p.pick(["100rel", "timer", "foo", "norefersub"])))
        if extras & 8:
            lines.append("Event: " + str(p.pick(["presence", "refer", "refer;id=7", "x"])))
        if extras & 0x10:
            state = str(p.pick(["active;expires=60", "terminated;reason=noresource", "pending"]))
            lines.append(f"Subscription-State: {state}")
        if extras & 0x20:
            lines.append("Refer-To: " + str(p.pick(["<sip:carol@192.0.2.3>", "sip:x@y", "<>"])))
        if extras & 0x40:
            lines.append("Expires: " + str(p.pick(["0", "60", "x"])))
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        _keep(self.peer_sent, (data, remote))
        self.deliver(data, remote, conn)

    def peer_reacts(self) -> None:
        """Op 1: a peer answers our request, or ACKs our response to its INVITE."""
        p = self.p
        if not self.sent:
            return
        t = p.recent(self.sent)
        try:
            message = parse_message(t.data)
        except RemoteProtocolError:
            return
        if isinstance(message, Request):
            if message.method != "ACK":
                self.deliver(self.answer(message), t.remote, t.conn)
        elif message.cseq.method == "INVITE" and message.status_code >= 200:
            self.deliver(self.ack_for(message), t.remote, t.conn)

    def answer(self, request: Request) -> bytes:
        p = self.p
        code = p.pick(CODES)
        flags = p.byte()
        to_tag = None if flags & 1 else f"p{flags >> 1 & 1}"
        host = "192.0.2.1"
        headers: list[tuple[str, str]] = []
        if flags & 4 and 200 <= code < 300 and flags & 2:
            # A Contact that cannot be a remote target (§8.1.1.8): a tel: URI.
            headers.append(("Contact", "<tel:+15551234567>"))
        elif flags & 4 or (request.method == "INVITE" and 101 <= code < 300 and not flags & 8):
            headers.append(("Contact", f"<sip:bob@{host}:5060>"))
        if flags & 0x10:
            headers.append(("Record-Route", "<sip:proxy.example.com;lr>"))
        if code in (401, 407):
            name = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
            qop = ', qop="auth"' if flags & 0x20 else ""
            stale = ", stale=true" if flags & 0x40 else ""
            headers.append((name, f'Digest realm="r", nonce="n{p.byte()}"{qop}{stale}'))
        if code == 423:
            headers.append(("Min-Expires", "7200"))
        if code in (302, 301):
            headers.append(("Contact", "<sip:carol@192.0.2.3>"))
        if code in (491, 500, 503) and flags & 0x80:
            headers.append(("Retry-After", "2"))
        if 101 <= code < 200 and flags & 0x20:
            # A reliable 1xx (RFC 3262): RSeq values close together, so that retransmissions
            # and ones out of order come up.
            headers += [("Require", "100rel"), ("RSeq", str(1 + p.byte() % 4))]
        if code < 300 and flags & 0x40:
            refresher = str(p.pick(["", ";refresher=uac", ";refresher=uas", ";refresher=x"]))
            headers.append(("Session-Expires", str(p.pick(["90", "1800", "30", "x"])) + refresher))
        if code == 422:
            headers.append(("Min-SE", str(p.pick(["90", "3600", "x", "1"]))))
        body, content_type = (SDP, "application/sdp") if flags & 0x80 and code < 300 else BODIES[0]
        response = make_response(
            request, code, to_tag=to_tag, headers=headers, body=body, content_type=content_type
        )
        return bytes(response)

    def ack_for(self, response: Response) -> bytes:
        """§17.1.1.3 (non-2xx: same branch, part of the transaction) or §13.2.2.4 (2xx:
        a new transaction to the Contact)."""
        branch = response.top_via.branch or "z9hG4bKp1"
        if response.status_code < 300:
            branch = self.fresh("z9hG4bKack")
        via = response.top_via
        lines = [
            "ACK sip:alice@192.0.2.10 SIP/2.0",
            f"Via: SIP/2.0/{via.transport} {via.host}"
            + (f":{via.port}" if via.port is not None else "")
            + f";branch={branch}",
            "Max-Forwards: 70",
            f"From: {response.headers.get('from')}",
            f"To: {response.headers.get('to')}",
            f"Call-ID: {response.call_id}",
            f"CSeq: {response.cseq.seq} ACK",
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def peer_notify(self) -> None:
        """Op 15: a NOTIFY for a SUBSCRIBE or REFER we sent (RFC 6665 §4.2.2, RFC 3515)."""
        p = self.p
        ours = [t for t in self.sent if t.data.startswith((b"SUBSCRIBE ", b"REFER "))]
        if not ours:
            return
        t = p.recent(ours)
        tag = f"p{p.byte() & 1}"  # the notifier's tag, unless the request had a To tag
        state = str(p.pick(["active;expires=60", "pending", "terminated;reason=noresource"]))
        try:
            request = parse_message(t.data)
            event = request.headers.get("event") or "refer"
            from_ = str(request.to.with_tag(request.to.tag or tag))
            to = str(request.from_)
        except RemoteProtocolError:
            return
        self.peer_cseq += 1
        body = b"SIP/2.0 200 OK\r\n" if event.startswith("refer") else b""
        lines = [
            "NOTIFY sip:alice@192.0.2.10 SIP/2.0",
            f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch={self.fresh('z9hG4bKnotify')}",
            "Max-Forwards: 70",
            f"From: {from_}",
            f"To: {to}",
            f"Call-ID: {request.call_id}",
            f"CSeq: {self.peer_cseq} NOTIFY",
            "Contact: <sip:bob@192.0.2.1:5060>",
            f"Event: {event}",
            f"Subscription-State: {state}",
        ]
        if body:
            lines.append("Content-Type: message/sipfrag")
        lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        _keep(self.peer_sent, (data, t.remote))
        self.deliver(data, t.remote, t.conn)

    def peer_again(self) -> None:
        """Op 2: a retransmission, a CANCEL of an earlier INVITE, or the same request with
        a higher CSeq."""
        p = self.p
        if not self.peer_sent:
            return
        data, remote = p.recent(self.peer_sent)
        kind = p.byte() % 3
        if kind == 1 and data.startswith(b"INVITE "):
            head, _, _ = data.partition(b"\r\n\r\n")
            lines = [
                line
                for line in head.split(b"\r\n")
                if not line.lower().startswith((b"content-", b"contact", b"record-route"))
            ]
            lines[0] = b"CANCEL" + lines[0][6:]
            lines = [
                line.replace(b" INVITE", b" CANCEL") if line.startswith(b"CSeq") else line
                for line in lines
            ]
            data = b"\r\n".join([*lines, b"Content-Length: 0"]) + b"\r\n\r\n"
        elif kind == 2:
            self.peer_cseq += 1
            head, sep, body = data.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            for i, line in enumerate(lines):
                if line.startswith(b"CSeq: "):
                    method = line.split(b" ")[-1]
                    lines[i] = b"CSeq: %d %s" % (self.peer_cseq, method)
                elif line.startswith(b"Via: "):
                    branch = self.fresh("z9hG4bKn").encode()
                    lines[i] = line.split(b";branch=")[0] + b";branch=" + branch
            data = b"\r\n".join(lines) + sep + body
        self.deliver(data, remote, None)

    # -- the application --------------------------------------------------------------------

    def invite(self) -> None:
        p = self.p
        to = str(p.pick(TARGETS))
        body, content_type = p.pick(BODIES)
        flags = p.byte()
        headers = [("Route", "<sip:192.0.2.2:5070;lr>")] if flags & 1 else []
        target = Target("TCP", "192.0.2.1", 5060) if flags & 2 else None
        dialog = self.command(
            lambda: self.ua.invite(
                to,
                body=body,
                content_type=content_type,
                headers=headers,
                target=target,
                now=self.now,
            )
        )
        if dialog is not None:
            _keep(self.dialogs, dialog)

    def answer_call(self) -> None:
        p = self.p
        if not self.incoming:
            return
        call = p.recent(self.incoming)
        action = p.byte() % 8  # (6 and 7: ringing and progress asked reliable or not)
        body, content_type = p.pick(BODIES)
        now = self.now
        if action in (0, 6):
            reliable = None if action == 0 else p.pick([True, False])
            self.command(lambda: call.ringing(reliable=reliable, now=now))
        elif action in (1, 7):
            status = p.pick([183, 181, 100, 200])
            reliable = None if action == 1 else p.pick([True, False])
            self.command(
                lambda: call.progress(
                    status, body=body, content_type=content_type, reliable=reliable, now=now
                )
            )
        elif action in (2, 3):
            self.command(lambda: call.accept(body=body, content_type=content_type, now=now))
        elif action == 4:
            status = p.pick([486, 603, 480, 302, 200, 699])
            self.command(lambda: call.reject(status, reason="Nope", now=now))
        else:
            self.command(lambda: call.hangup(reason="SIP;cause=600", now=now))

    def dialog_command(self) -> None:
        p = self.p
        if not self.dialogs:
            return
        d = p.recent(self.dialogs)
        action = p.byte() % 16
        body, content_type = p.pick(BODIES)
        data = body or None
        now = self.now
        calls: list[Callable[[], object]] = [
            lambda: d.bye(reason="SIP;cause=200", now=now),
            lambda: d.hangup(now=now),
            lambda: d.cancel(now=now) if hasattr(d, "cancel") else d.hangup(now=now),
            lambda: d.reinvite(body=data, content_type=content_type, now=now),
            lambda: d.update(body=data, content_type=content_type, now=now),
            lambda: d.info(body=data, content_type=content_type, now=now),
            lambda: d.options(now=now),
            lambda: d.message(body=b"hi", now=now),
            lambda: d.notify(
                headers=[("Event", "refer"), ("Subscription-State", "active;expires=60")],
                body=b"SIP/2.0 100 Trying\r\n",
                content_type="message/sipfrag",
                now=now,
            ),
            lambda: d.request(p.pick(["PRACK", "SUBSCRIBE", "FOO", "ACK", "BYE", "x y"]), now=now),
            lambda: (
                d.ack(body=body, content_type=content_type, now=now) if hasattr(d, "ack") else None
            ),
            lambda: (
                d.refer(
                    p.pick(["<sip:carol@192.0.2.3>", "sip:carol@192.0.2.3;method=BYE", "<>"]),
                    refer_sub=bool(p.byte() & 1),
                    now=now,
                )
                if hasattr(d, "refer")
                else None
            ),
            lambda: (
                d.notify_refer(p.pick([100, 180, 200, 486, 503]), now=now)
                if hasattr(d, "notify_refer")
                else None
            ),
            lambda: (
                _keep(self.subscriptions, d.as_subscription())
                if hasattr(d, "as_subscription")
                else None
            ),
            lambda: d.hangup(reason="SIP;cause=480", now=now),
            lambda: (
                d.prack(body=body or SDP, content_type=content_type, now=now)
                if hasattr(d, "prack")
                else None
            ),
        ]
        self.command(calls[action])

    def respond(self) -> None:
        p = self.p
        if not self.pending:
            return
        txn = p.recent(self.pending)
        status = p.pick(RESPOND_CODES)
        body, content_type = p.pick(BODIES)
        self.command(
            lambda: self.ua.respond(txn, status, body=body, content_type=content_type, now=self.now)
        )

    def connection(self) -> None:
        p = self.p
        kind = p.byte() % 3
        if kind == 0 or not self.conns:
            remote = p.pick(PEERS)
            conn = self.ua.connection_made(transport="TCP", remote=remote, local=ME, now=self.now)
            self.all_conns.append(conn)
            _keep(self.conns, conn, 4)
        else:
            conn = self.conns.pop(p.byte() % len(self.conns))
            if kind == 1:
                self.ua.receive_stream(conn, b"", now=self.now)
            else:
                self.ua.connection_lost(conn, now=self.now)

    def misuse(self) -> None:
        p = self.p
        kind = p.byte() % 5
        now, ua = self.now, self.ua
        if kind == 0:
            self.command(lambda: ua.handle_timer(now=now - 1.0))
        elif kind == 1:
            self.command(lambda: ua.dialog(DialogId("nope", "a", "b")))
        elif kind == 2:
            self.command(lambda: ua.respond(ServerTxn(10_000 + p.byte()), 200, now=now))
        elif kind == 3 and self.incoming:
            call = self.incoming[-1]
            self.command(lambda: call.reject(200, now=now))
            self.command(lambda: call.progress(200, now=now))
        elif kind == 4:
            self.command(lambda: ua.receive_datagram(b"x", remote=PEERS[0], now=now - 1.0))

    def registration(self) -> None:
        p = self.p
        register = getattr(self.ua, "register", None)
        if register is None:
            return
        if p.byte() & 1 or not self.registrations:
            expires = p.pick([3600, 60, 0, 30])
            handle = self.command(
                lambda: register(
                    "sip:192.0.2.1", expires=expires, target=Target("UDP", *PEERS[0]), now=self.now
                )
            )
            if handle is not None:
                _keep(self.registrations, handle, 4)
        else:
            handle = p.recent(self.registrations)
            self.command(lambda: self.ua.unregister(handle, now=self.now))

    def snapshot(self) -> None:
        p = self.p
        if not self.contexts:
            return
        ctx = p.recent(self.contexts)
        saved = self.command(lambda: self.ua.snapshot(ctx))
        if saved is not None and p.byte() & 1:
            # Restoring into the UA that still holds the dialog is misuse.
            self.command(lambda: self.ua.restore(saved, now=self.now))  # type: ignore[arg-type]

    def subscription(self) -> None:
        p = self.p
        subscribe = getattr(self.ua, "subscribe", None)
        if subscribe is None:
            return
        now = self.now
        kind = p.byte()
        if kind & 1 or not self.subscriptions:
            to = str(p.pick(TARGETS))
            event = str(p.pick(["presence", "dialog;id=7", "refer", "message-summary", "x y"]))
            expires = p.pick([3600, 60, 0, 5])
            view = self.command(lambda: subscribe(to, event, expires=expires, now=now))
            if view is not None:
                _keep(self.subscriptions, view)
            return
        sub = p.recent(self.subscriptions)
        body = b"<presence/>" if p.byte() & 1 else None
        actions: list[tuple[str, Callable[[], object]]] = [
            ("refresh", lambda: sub.refresh(expires=p.pick([None, 60, 0]), now=now)),
            ("unsubscribe", lambda: sub.unsubscribe(now=now)),
            ("accept", lambda: sub.accept(state=p.pick(["active", "pending"]), now=now)),
            ("reject", lambda: sub.reject(p.pick([403, 489, 200]), now=now)),
            (
                "notify",
                lambda: sub.notify(
                    body, content_type="application/pidf+xml" if body else None, now=now
                ),
            ),
            ("terminate", lambda: sub.terminate(reason=p.pick(["noresource", None]), now=now)),
        ]
        name, call = actions[kind // 2 % len(actions)]
        if hasattr(sub, name):
            self.command(call)

    # -- the program ------------------------------------------------------------------------

    def step(self) -> None:
        p, ua = self.p, self.ua
        op = p.byte() % 16
        if op == 0:
            self.peer_request()
        elif op == 1:
            self.peer_reacts()
        elif op == 2:
            self.peer_again()
        elif op == 3:
            data = p.raw()
            ua.receive_datagram(data, remote=p.pick(PEERS), local=ME, now=self.now)
        elif op == 4:
            self.now += p.pick(JUMPS)
            ua.handle_timer(now=self.now)
            deadline = ua.get_next_timer()
            assert deadline is None or deadline > self.now, (deadline, self.now)
        elif op == 5:
            self.invite()
        elif op == 6:
            self.answer_call()
        elif op == 7:
            self.dialog_command()
        elif op == 8:
            self.respond()
        elif op == 9 and self.sent:
            ua.transport_error(p.recent(self.sent).token, now=self.now)
        elif op == 10:
            self.connection()
        elif op == 11:
            self.misuse()
        elif op == 12:
            self.registration()
        elif op == 13:
            self.snapshot()
        elif op == 14:
            self.subscription()
        elif op == 15:
            self.peer_notify()
        self.drain()

    def finish(self) -> None:
        """The application hangs up everything and unregisters; then only the clock runs:
        every table of the UA and its endpoint must empty (§9.1, §13.3.1.4, §15, §17)."""
        ua = self.ua
        for _ in range(3):  # hanging up may report dialogs (forks) the app has not seen
            for ctx in list(self.calls):
                self.command(partial(self.hang_up, ctx))
            for view in list(self.dialogs):
                self.command(partial(view.hangup, now=self.now))
            self.drain()
        if getattr(ua, "unregister", None) is not None:
            self.command(lambda: ua.unregister(now=self.now))
        self.end_subscriptions()
        for conn in self.all_conns:  # the adapter closes its sockets (closed ones: misuse)
            self.command(partial(ua.connection_lost, conn, now=self.now))
        self.drain()
        for _ in range(200):
            deadline = ua.get_next_timer()
            if deadline is None:
                break
            self.now = max(self.now, deadline) + 50.0
            ua.handle_timer(now=self.now)
            for ctx in list(self.calls):  # e.g. a fork that answered after the hangup
                self.command(partial(self.hang_up, ctx))
            self.end_subscriptions()
            self.drain()
        else:
            raise AssertionError(f"timers never settle: next at {ua.get_next_timer()}")
        left = {name: n for name, n in ua.stats().items() if n}
        assert not left, f"the UA did not settle: {left}"

    def end_subscriptions(self) -> None:
        """What an application does to shut down: end every subscription it holds."""
        for sub in getattr(self.ua, "subscriptions", []):
            end = getattr(sub, "unsubscribe", None) or getattr(sub, "terminate", None)
            if end is not None:
                self.command(partial(end, now=self.now))


#: UA bugs already reported and not fixed yet, as (exception type, message part, function
#: in the traceback); see ``_common.is_known``. Remove an entry when its fix lands.
KNOWN_BUGS: tuple[KnownBug, ...] = ()


def one_input(data: bytes) -> None:
    try:
        run = Run(data)
        for _ in range(MAX_OPS):
            if run.p.done:
                break
            run.step()
        run.finish()
    except Exception as exc:
        if not is_known(exc, KNOWN_BUGS):
            raise


# -- seed programs ---------------------------------------------------------------------------


def _peer_request(
    method: str,
    *,
    dialog: int = 0,
    shape: int = 0x20,
    extras: int = 1,
    body: int = 0,
    step: int = 1,
) -> bytes:
    """Op 0 over UDP from PEERS[0] (``dialog``: 0 out of dialog, n the n-th newest dialog
    reported; ``shape`` 0x20: a unique branch; ``extras`` bit 0: a Contact; ``step`` 1:
    the next CSeq); one zero argument for each optional header ``extras`` asks for."""
    optional = bin(extras & 0x7C).count("1")
    fields = [shape, extras, IN_METHODS.index(method), dialog, step, body, 0, 0]
    return bytes([0, *fields, *[0] * optional])


def _jump(index: int) -> bytes:
    return bytes([4, index])


def _react(code: int, index: int = 0, flags: int = 0) -> bytes:
    """Op 1: the peer answers our ``index``-th newest transmit (0: the newest) with
    ``code`` (``flags`` bit 2 with bit 1: a 2xx's Contact is tel:); on a response to an
    INVITE it sends the ACK instead (then only ``index``
    is read, so use :func:`_ack`)."""
    nonce = [0] if code in (401, 407) else []
    return bytes([1, index, CODES.index(code), flags, *nonce])


def _ack(index: int = 0) -> bytes:
    return bytes([1, index])


def seeds() -> dict[str, bytes]:
    """Hand-made programs for the seed corpus (``python fuzz/fuzz_ua.py --seeds``)."""
    invite = _peer_request("INVITE", body=1)  # an SDP offer
    accept = bytes([6, 0, 2, 1])  # op 6 on the newest IncomingCall: accept with SDP
    ringing = bytes([6, 0, 0, 0])
    return {
        # An incoming call answered 200 and ACKed, then the caller's BYE; time runs out.
        "uas-call-bye": invite + accept + _ack() + _peer_request("BYE", dialog=1) + _jump(14),
        # An incoming call rung (180), then rejected 486; the peer ACKs the 486.
        "uas-ring-reject": invite + ringing + bytes([6, 0, 4, 0, 0]) + _ack() + _jump(14),
        # A CANCEL for a ringing incoming call (op 2 kind 1 on the INVITE).
        "uas-cancelled": invite + ringing + bytes([2, 0, 1]) + _jump(14),
        # A call we make (op 5): 180 then 200; we BYE it (op 7 action 0), the BYE gets 200.
        "uac-call-bye": bytes([5, 0, 1, 0])
        + _react(180)
        + _react(200, flags=0x80)  # with an SDP answer
        + bytes([7, 0, 0, 0])
        + _react(200)
        + _jump(8),
        # A call we make is answered 200 whose Contact is tel: (the peer's error: we ACK
        # toward the next hop and BYE; this once escaped receive_datagram).
        "uac-tel-contact": bytes([5, 0, 1, 0]) + _react(200, flags=0x86) + _react(200) + _jump(14),
        # A call we make is challenged 407, retried with credentials (after the ACK of
        # the 407, so the retry is the newest transmit), then refused 486.
        "uac-auth-busy": bytes([5, 0, 0, 0]) + _react(407, flags=0x20) + _react(486) + _jump(14),
        # A call we cancel while it rings; the peer answers the CANCEL and the INVITE 487.
        "uac-cancel": bytes([5, 0, 0, 0])
        + _react(180)
        + bytes([7, 0, 2, 0])
        + _react(200)
        + _react(487, index=1)
        + _jump(14),
        # In-dialog INFO from the caller answered by the app (op 8), a re-INVITE and an
        # UPDATE from the caller, our re-INVITE (op 7 action 3), then our hangup.
        "in-dialog": invite
        + accept
        + _ack()
        + _peer_request("INFO", dialog=1, extras=0)
        + bytes([8, 0, RESPOND_CODES.index(200), 0])
        + _peer_request("INVITE", dialog=1, body=1)
        + _peer_request("UPDATE", dialog=1)
        + bytes([7, 0, 3, 1])
        + _jump(6)
        + bytes([7, 0, 1, 0]),
        # Out-of-dialog MESSAGE, OPTIONS, SUBSCRIBE, NOTIFY, REFER, an unknown method, a
        # BYE without dialog; the app answers the newest one 202.
        "out-of-dialog": b"".join(
            _peer_request(m, extras=0x39)
            for m in ("MESSAGE", "OPTIONS", "SUBSCRIBE", "NOTIFY", "REFER", "FOO", "BYE")
        )
        + bytes([8, 0, RESPOND_CODES.index(202), 0])
        + _jump(6),
        # A call over TCP (op 10 opens a connection; op 0 with the connection flag and a
        # cut after 40 bytes), accepted, then the connection ends (EOF).
        "tcp-call": bytes([10, 0, 0])
        + bytes([0, 0x20, 1, IN_METHODS.index("INVITE"), 0, 1, 1, 0, 1, 40])
        + accept
        + bytes([10, 1, 0]),
        # Misuse of every kind, then a registration (op 12) answered 200 and removed.
        "misuse-register": bytes([11, 0, 11, 1, 11, 2, 0, 11, 4])
        + invite
        + bytes([11, 3])
        + bytes([12, 1, 0])
        + _react(200)
        + _jump(14)
        + bytes([12, 0, 0]),
        # We subscribe to presence (op 14), the peer answers 200 and sends an active
        # NOTIFY (op 15), which makes the subscription's dialog; time runs out.
        "subscribe-notify": bytes([14, 1, 0, 0, 0])
        + _react(200, flags=4)  # with a Contact
        + bytes([15, 0, 0, 0])
        + _jump(14),
        # An accepted call; we REFER the caller (op 7 action 11), the peer answers 202 and
        # reports progress with a NOTIFY of the implicit subscription (op 15).
        "refer-sent": invite
        + accept
        + _ack()
        + bytes([7, 0, 11, 0, 0, 1])
        + _react(202)
        + bytes([15, 0, 0, 0])
        + _jump(6),
        # An accepted call; the caller REFERs us, the app accepts 202 (op 8) and reports
        # the outcome with notify_refer(200) (op 7 action 12).
        "refer-received": invite
        + accept
        + _ack()
        + _peer_request("REFER", dialog=1, extras=0x21)
        + bytes([8, 0, RESPOND_CODES.index(202), 0])
        + bytes([7, 0, 12, 0, 2])
        + _react(200)
        + _jump(6),
        # Raw garbage, then a CRLF keep-alive.
        "raw": bytes([3, 12]) + b"INVITE x SIP" + bytes([0, 3, 4]) + b"\r\n\r\n" + bytes([0]),
    }


if __name__ == "__main__":
    if "--seeds" in sys.argv:
        folder = Path(__file__).resolve().parent / "corpus" / "ua"
        folder.mkdir(parents=True, exist_ok=True)
        for name, program in seeds().items():
            one_input(program)
            (folder / name).write_bytes(program)
        sys.exit(0)
    main(one_input)
