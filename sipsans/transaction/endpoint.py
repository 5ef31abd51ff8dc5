"""The Endpoint: SIP's transaction and transport layers, sans I/O (RFC 3261 §17, §18).

The caller feeds it what happened (bytes received, connections opened and lost,
send failures, the clock) and pulls what it must do (transmits), what it should
know (events) and when to wake it next (:meth:`Endpoint.get_next_timer`):

.. code-block:: python

    ep.receive_datagram(data, remote=addr, local=bound, transport="UDP", now=now)
    for event in ep.events():
        ...  # the application answers: ep.send_response(...), ep.send_request(...)
    for t in ep.transmits():
        ...  # sendto / write / open a connection / close
    deadline = ep.get_next_timer()  # then call ep.handle_timer(now=...) at or after it

Everything a peer sends is handled without raising: unparseable messages become
:class:`~sipsans.transaction.events.MalformedMessage` (and a stateless error response when the
request's Via, From, To, Call-ID and CSeq survive). Only misuse by the caller raises
:class:`~sipsans.errors.LocalProtocolError`.
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from collections.abc import Callable, Iterable
from typing import cast

from .._speed import remember
from ..config import EndpointConfig
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import Via
from ..message.model import Request, Response, make_response
from ..message.parser import parse_message
from .builders import build_cancel, build_non2xx_ack, our_via
from .compiled import Arm, Step, compile_machines
from .connections import NO_PONG, Connection, Connections, KeepAlives
from .events import (
    CancelReceived,
    ConnectionClosed,
    MalformedMessage,
    RequestReceived,
    ResponseReceived,
    TransactionEvent,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
    make_request_received,
    make_response_received,
)
from .machine import timer_duration
from .matching import MAGIC_COOKIE, merge_key, server_key
from .record import Transaction
from .registry import Transactions
from .stateless import stateless_reply, stateless_route
from .tables import CLIENT_MACHINES, TIMER_INPUT, Do, Input, Machine, State, Stop
from .timers import TimerHeap, TimerKind
from .transport import (
    Address,
    ClientTxn,
    ConnHandle,
    ServerTxn,
    Source,
    Target,
    Transmit,
    default_port,
    is_reliable,
    make_transmit,
    replace_top_via,
    response_address,
    stamp_via,
)

__all__ = ["Endpoint"]

# The Enum members read on every input, bound once: Python 3.11's EnumType has a
# __getattr__, which sends each ``State.X`` read off the class through CPython's slow
# attribute hook (~900 machine instructions, against ~20 for a module global).
_ICT, _NICT, _IST, _NIST = Machine.ICT, Machine.NICT, Machine.IST, Machine.NIST
_PROCEEDING, _TERMINATED = State.PROCEEDING, State.TERMINATED
_TRYING, _UNANSWERED = TimerKind.TRYING, TimerKind.UNANSWERED
_AWAITING_FINAL = (State.TRYING, State.PROCEEDING)  # a NIST before its final response
_ACK, _REQUEST = Input.ACK, Input.REQUEST
_RESP_1XX, _RESP_2XX, _RESP_3456 = Input.RESP_1XX, Input.RESP_2XX, Input.RESP_3456
_TU_1XX, _TU_2XX, _TU_3456 = Input.TU_1XX, Input.TU_2XX, Input.TU_3456
_SEND_REQUEST, _SEND_ACK, _PASS_TO_TU = Do.SEND_REQUEST, Do.SEND_ACK, Do.PASS_TO_TU
_SEND_RESPONSE, _RESEND_RESPONSE = Do.SEND_RESPONSE, Do.RESEND_RESPONSE
_SEND_TRYING, _INFORM_TIMEOUT = Do.SEND_TRYING, Do.INFORM_TIMEOUT

_FINISHED = (State.COMPLETED, State.ACCEPTED, State.CONFIRMED, State.TERMINATED)
#: Bytes of a malformed message kept in MalformedMessage.raw_prefix.
_PREFIX = 64
#: Datagram sources remembered for reuse; the cache starts over when full.
_SOURCES_MAX = 4096


class Endpoint:
    """Transactions, matching and transport rules for one SIP element. ``rng`` makes
    every branch and tag: ``random.SystemRandom()`` by default because unguessable
    branches are a security property; tests pass a seeded ``random.Random``."""

    def __init__(
        self, config: EndpointConfig | None = None, *, rng: random.Random | None = None
    ) -> None:
        self.config = config if config is not None else EndpointConfig()
        self._rng = rng if rng is not None else random.SystemRandom()
        #: The transaction tables resolved for this configuration, by (machine, reliable):
        #: timer durations are read from the (frozen) config once, here.
        self._machines = compile_machines(self.config)
        self._now = float("-inf")
        self._next_id = 1
        self._txns = Transactions()
        #: CANCELs waiting for a provisional response (§9.1): id -> (INVITE id, CANCEL).
        self._held: dict[int, tuple[int, Request]] = {}
        self._timers = TimerHeap()
        #: Server transactions whose 100 Trying (§17.2.1) or Unanswered timer is not
        #: armed yet, with its deadline: see _arm_deferred.
        self._deferred: list[tuple[float, Transaction, TimerKind]] = []
        self._events: deque[TransactionEvent] = deque()
        self._transmits: list[Transmit] = []
        self._conns = Connections(self.config.limits)
        self._keepalives = KeepAlives(self._conns, self._timers, self._rng, 10.0)  # §4.4.1
        #: Datagram sources by (transport, remote, local), reused (bounded).
        self._sources: dict[tuple[str, Address, Address | None], Source] = {}

    # -- outputs ----------------------------------------------------------------

    def next_event(self) -> TransactionEvent | None:
        """The oldest undelivered event, or None."""
        return self._events.popleft() if self._events else None

    def events(self) -> list[TransactionEvent]:
        """Every undelivered event, oldest first (drains the queue)."""
        if not self._events:
            return []  # the usual answer: an adapter asks after every input until empty
        out = list(self._events)
        self._events.clear()
        return out

    def drain_events(self, handler: Callable[[TransactionEvent], None]) -> None:
        """Hand every undelivered event to ``handler``, oldest first, until none is left:
        the events that ``handler``'s own commands make are handed over too, in order
        (a transaction user, such as the UserAgent, consumes the Endpoint this way)."""
        events = self._events
        while events:
            handler(events.popleft())

    def transmits(self) -> list[Transmit]:
        """Everything to send, in order (drains the queue)."""
        out, self._transmits = self._transmits, []
        return out

    def get_next_timer(self) -> float | None:
        """The earliest timer deadline on the caller's clock, or None when idle."""
        if self._deferred:
            self._arm_deferred()
        return self._timers.deadline

    def _arm_deferred(self) -> None:
        """Arm the timers that wait for the TU's answer (100 Trying of an INVITE,
        Unanswered of a non-INVITE) of the requests it has not answered yet.

        A TU usually answers (180, 200, 486 ...) while handling the request's event,
        before the caller asks for the next deadline: pushing the timer at once and
        cancelling it then is heap and collector work for every request (the Unanswered
        timer pushed at once cost 1.2 % of a ua-call, deferred 0.5 %). So a timer is
        armed here, the first time anyone looks at the timers, and only if the answer
        it waits for has not gone out meanwhile (any response for 100 Trying, a final
        one for Unanswered).
        """
        deferred, self._deferred = self._deferred, []
        for deadline, txn, kind in deferred:
            if txn.id in self._txns.by_id and (
                not txn.responded if kind is _TRYING else txn.state in _AWAITING_FINAL
            ):
                txn.timers.append(self._timers.push(deadline, txn.id, kind))

    def stats(self) -> dict[str, int]:
        """Sizes of the internal tables; all zero once every transaction ended."""
        if self._deferred:
            self._arm_deferred()
        return {
            **self._txns.sizes(),
            "held_cancels": len(self._held),
            "timers": len(self._timers),
            "connections": len(self._conns),
        }

    # -- clock ------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The ``now`` of the latest input (-inf before the first): the Endpoint's clock,
        which never runs backwards (an input with an earlier ``now`` is refused)."""
        return self._now

    def _advance(self, now: float) -> None:
        if now < self._now:
            raise LocalProtocolError(
                f"now={now} is earlier than the previous now={self._now}; pass a monotonic clock"
            )
        self._now = now

    def handle_timer(self, *, now: float) -> None:
        """Fire every timer due at or before ``now``, in deadline order.

        Each fires at its own deadline, so a late wake-up produces exactly what
        punctual ones would have (retransmission intervals stay on schedule).
        """
        self._advance(now)
        if self._deferred:
            self._arm_deferred()
        heap = self._timers
        while (entry := heap.pop_due(now)) is not None:
            txn = self._txns.by_id.get(entry.owner)
            if txn is None or entry not in txn.timers:
                dead = self._keepalives.fire(entry, now, self._transmits)  # (owner < 0)
                if dead is not None:  # a connection's keep-alive got no answer
                    self._close(dead, NO_PONG, ask_adapter=True)
                continue
            txn.timers.remove(entry)
            self._feed(txn, TIMER_INPUT[entry.kind], at=entry.deadline, timer=entry.kind)

    # -- inputs from the adapter --------------------------------------------------

    def receive_datagram(
        self,
        data: bytes,
        *,
        remote: Address,
        local: Address | None = None,
        transport: str = "UDP",
        now: float,
    ) -> None:
        """A datagram arrived from ``remote`` on ``local``.

        A datagram of nothing but CR, LF and whitespace (or empty) is a keep-alive and
        is dropped silently. Leniency: RFC 5626 §4.4.1 keeps UDP flows alive with STUN,
        but many UAs send the stream keep-alive (CRLF, or CRLFCRLF, RFC 5626 §3.5.1) as a
        datagram; like the CRLFs §7.5 says to ignore before a start line, it holds no
        message, so reporting it as malformed would only be noise.
        """
        self._advance(now)
        data = bytes(data)
        if not data or (data[0] in b" \t\r\n" and not data.strip(b" \t\r\n")):
            return
        # Sources are immutable: one per peer and local address serves every datagram
        # (a server receives three or more per call from the same peer).
        key = (transport, remote, local)
        source = self._sources.get(key)
        if source is None:
            source = Source(transport.upper(), remote, local, None)
            remember(self._sources, key, source, _SOURCES_MAX)
        self._receive_message(data, source)

    def connection_made(
        self, *, transport: str, remote: Address, local: Address | None = None, now: float
    ) -> ConnHandle:
        """Register a stream connection (accepted, or opened for a Transmit with
        ``conn=None``); returns its handle for :meth:`receive_stream` and Transmits."""
        self._advance(now)
        return self._conns.open(transport.upper(), remote, local).handle

    def receive_stream(self, conn: ConnHandle, data: bytes, *, now: float) -> None:
        """Bytes read from ``conn``; ``b""`` means the peer closed it (EOF).

        Responses to requests received here go back on the same connection
        (§18.2.2). A framing error closes this connection only: the endpoint emits
        ConnectionClosed and a Transmit with ``close=True``.
        """
        self._advance(now)
        state = self._conns.get(conn)
        if state is None:
            return  # closed by us already; the adapter may still have had data buffered
        framer = state.framer
        source = state.source()
        try:
            framer.receive_data(data)
            while self._conns.is_open(conn):
                frame = framer.next_frame()
                if frame is None:
                    break
                self._receive_message(frame, source)
        except RemoteProtocolError as exc:
            self._malformed(b"", source, exc)
            self._close(state, f"framing error: {exc}", ask_adapter=True)
            return
        # RFC 5626 §3.5.1: a pong for each ping; our own ping's pong (§4.4.1).
        self._keepalives.received(state, data, framer.take_pings(), now, self._transmits)
        if not data and self._conns.is_open(conn):
            self._close(state, "closed by peer", ask_adapter=True)

    def connection_lost(self, conn: ConnHandle, *, now: float) -> None:
        """``conn`` is gone (reset, closed by the adapter, ...)."""
        self._advance(now)
        state = self._conns.get(conn)
        if state is not None:
            self._close(state, "connection lost", ask_adapter=False)

    def keep_alive(self, conn: ConnHandle, *, interval: float | None, now: float) -> None:
        """CRLF pings on ``conn`` every ``interval`` s, None stops (RFC 5626, KeepAlives)."""
        self._advance(now)
        self._keepalives.keep_alive(self._conns.get(conn), interval, now)

    def transport_error(self, token: int, *, now: float, reason: str | None = None) -> None:
        """Sending the Transmit with ``token`` failed (ICMP error, refused connection):
        the transaction is told (§17.1.4, §17.2.4), its table decides what happens.
        ``reason``, the adapter's words for it, goes into the TransportFailed event."""
        self._advance(now)
        txn = self._txns.by_id.get(token)
        if txn is not None:
            self._feed(txn, Input.TRANSPORT_ERROR, reason=reason)

    # -- commands -----------------------------------------------------------------

    def send_request(self, request: Request, *, target: Target, now: float) -> ClientTxn:
        """Start a client transaction for ``request`` (anything but ACK and CANCEL).

        The request needs From, To, Call-ID and CSeq (§8.1.1); the endpoint adds the
        top Via (fresh ``z9hG4bK`` branch, ``rport``, the advertised sent-by) and
        Max-Forwards when missing. ``request`` itself is not modified.
        """
        self._advance(now)
        method = request.method
        if method == "ACK":
            raise LocalProtocolError(
                "ACK is not a transaction: an INVITE client transaction ACKs non-2xx "
                "itself and a 2xx is ACKed with send_stateless (RFC 3261 §17.1.1.3, §13.2.2.4)"
            )
        if method == "CANCEL":
            raise LocalProtocolError("use Endpoint.cancel(txn) to send a CANCEL (§9.1)")
        try:
            request.from_  # noqa: B018
            request.to  # noqa: B018
            request.call_id  # noqa: B018
            cseq = request.cseq
        except RemoteProtocolError as exc:
            raise LocalProtocolError(f"cannot send this request: {exc}") from exc
        if cseq.method != method:
            raise LocalProtocolError(
                f"CSeq method {cseq.method} differs from the request method {method} (§8.1.1.5)"
            )
        self._txns.check_room(self.config.max_transactions)
        req = request.copy()
        if "max-forwards" not in req.headers:
            req.headers.add("Max-Forwards", "70")  # §8.1.1.6
        transport = target.transport.upper()
        branch = self._new_branch()
        via = self._our_via(transport, branch)
        req.headers.prepend("Via", str(via))
        wire = bytes(req)
        if transport == "UDP" and len(wire) > self.config.mtu - 200:
            # §18.1.1: within 200 bytes of the path MTU a request goes over a
            # congestion-controlled transport, and the top Via says so.
            transport = "TCP"
            req.headers.remove_first("via")
            req.headers.prepend("Via", str(via._replace(transport=transport)))
            wire = bytes(req)
        address = target.address
        conn = target.conn
        if conn is None and is_reliable(transport):
            conn = self._conns.for_peer(transport, address)
        machine = _ICT if method == "INVITE" else _NICT
        reliable = is_reliable(transport)
        txn = Transaction(
            self._take_id(),
            machine,
            req,
            transport,
            reliable,
            address,  # remote
            None,  # local
            conn,
            (branch, method),  # key
            self._machines[machine, reliable],
        )
        txn.wire = wire
        self._txns.client[txn.key] = txn
        self._register(txn)
        self._apply(txn, txn.program.initial, None, None, None, self._now)
        return cast(ClientTxn, txn.handle)

    def send_response(self, txn: ServerTxn, response: Response, *, now: float) -> None:
        """Send ``response`` on the server transaction ``txn``.

        Raises LocalProtocolError when the transaction's state forbids it (a second
        final response, a response after Terminated, ...).
        """
        self._advance(now)
        state = self._txns.by_id.get(txn.id) if isinstance(txn, ServerTxn) else None
        if state is None or state.machine in CLIENT_MACHINES or state.internal:
            raise LocalProtocolError(f"{txn!r} is not a live server transaction")
        code = response.status_code
        if not 100 <= code <= 699:
            raise LocalProtocolError(f"status code {code} is outside 100-699 (§7.2)")
        try:
            cseq = response.cseq
        except RemoteProtocolError as exc:
            raise LocalProtocolError(f"cannot send this response: {exc}") from exc
        if cseq.seq != state.seq or cseq.method != state.method:
            raise LocalProtocolError(
                f"response CSeq {cseq} does not match the request's {state.seq} {state.method};"
                " build it with make_response(request, ...)"
            )
        inp = _TU_1XX if code < 200 else _TU_2XX if code < 300 else _TU_3456
        self._feed(state, inp, response)

    def cancel(
        self, txn: ClientTxn, *, headers: Iterable[tuple[str, str]] = (), now: float
    ) -> ClientTxn | None:
        """CANCEL the INVITE client transaction ``txn`` (§9.1).

        ``headers`` are added to the CANCEL, e.g. ``[("Reason", 'SIP;cause=200;text="Call
        completed elsewhere"')]`` (RFC 3326).

        Returns the CANCEL's own client transaction. A CANCEL is only sent after a
        provisional response arrived; until then it is held, and dropped (with
        TransactionTerminated for the returned handle) if a final response comes
        first. Returns None when there is nothing left to cancel (a final response
        arrived, or the transaction ended). Calling it twice returns the same handle.
        """
        self._advance(now)
        invite = self._txns.by_id.get(txn.id) if isinstance(txn, ClientTxn) else None
        if invite is None:
            if isinstance(txn, ClientTxn) and 0 < txn.id < self._next_id:
                return None
            raise LocalProtocolError(f"{txn!r} was never issued by this endpoint")
        if invite.machine is not _ICT:
            raise LocalProtocolError(
                f"only INVITE transactions can be cancelled (§9.1); {txn!r} is a "
                f"{invite.method} transaction"
            )
        if invite.cancel:
            return ClientTxn(invite.cancel)
        if invite.state in _FINISHED or invite.request is None:
            return None
        cancel_id = self._take_id()
        invite.cancel = cancel_id
        request = build_cancel(invite.request, headers)
        if invite.state is _PROCEEDING:
            self._send_cancel(invite, cancel_id, request)
        else:
            self._held[cancel_id] = (invite.id, request)
        return ClientTxn(cancel_id)

    def advertise(self, host: str, port: int) -> None:
        """Put ``host:port`` in the Via sent-by of every request from now on, and take
        only responses whose top Via names it as ours (§18.1.1, §18.1.2): for an adapter
        that learns its address once its socket is bound (port 0), or is told it."""
        self.config = dataclasses.replace(self.config, advertised_host=host, advertised_port=port)

    def reserve_handle(self) -> ClientTxn:
        """A client transaction handle that no transaction of this endpoint will ever
        have: for a request the TU must answer for now but sends later (a callee's BYE
        held until its 2xx is ACKed, RFC 3261 §15). Its events carry the TU's own
        transaction's handle rewritten to this one."""
        return ClientTxn(self._take_id())

    def send_stateless(
        self, message: Request | Response, *, target: Target | None = None, now: float
    ) -> Request | Response:
        """Send outside any transaction: the ACK for a 2xx (§13.2.2.4), a 2xx
        retransmitted by a UAS core after its transaction ended, stateless proxying.

        A request needs ``target``; if it has no Via, a copy gets our top Via with a
        fresh branch (a request that has Vias is sent as is). A response without
        ``target`` goes where its top Via says (§18.2.2). Returns what was sent, so
        that the same ACK can be sent again for each 2xx retransmission.
        """
        self._advance(now)
        transport, remote, conn = stateless_route(message, target)
        if isinstance(message, Request) and "via" not in message.headers:
            message = message.copy()
            message.headers.prepend("Via", str(self._our_via(transport, self._new_branch())))
        if conn is None and is_reliable(transport):
            conn = self._conns.for_peer(transport, remote)
        self._transmits.append(Transmit(bytes(message), transport, remote, None, conn))
        return message

    # -- helpers: identifiers and handles ------------------------------------------

    def _take_id(self) -> int:
        n = self._next_id
        self._next_id = n + 1
        return n

    def _new_branch(self) -> str:
        # §8.1.1.7: unique across space and time; 64 random bits after the cookie.
        return f"{MAGIC_COOKIE}{self._rng.getrandbits(64):016x}"

    def _new_tag(self) -> str:
        return f"{self._rng.getrandbits(48):012x}"  # §19.3: at least 32 random bits

    def _our_via(self, transport: str, branch: str) -> Via:
        return our_via(transport, self.config.advertised_host, self.config.advertised_port, branch)

    # -- the machine runner -----------------------------------------------------------

    def _register(self, txn: Transaction) -> None:
        self._txns.by_id[txn.id] = txn
        if txn.conn is not None:
            self._conns.attach(txn.conn, txn.id)

    def _feed(
        self,
        txn: Transaction,
        inp: Input,
        msg: Request | Response | None = None,
        source: Source | None = None,
        *,
        at: float | None = None,
        timer: TimerKind | None = None,
        reason: str | None = None,
    ) -> None:
        """Apply one input to ``txn`` (the table decides; LocalProtocolError for misuse)."""
        program = txn.program
        step = program.rows.get((txn.state, inp)) or program.missing(txn.state, inp)
        self._apply(txn, step, inp, msg, source, self._now if at is None else at, timer, reason)

    def _apply(  # noqa: PLR0917 - positional: cheaper than keywords, on every input
        self,
        txn: Transaction,
        step: Step,
        inp: Input | None,
        msg: Request | Response | None,
        source: Source | None,
        at: float,
        timer: TimerKind | None = None,
        reason: str | None = None,
    ) -> None:
        """Take one step of ``txn``'s table: its state, then its timers and actions in order
        (dispatched here, not in a method of their own: a call per action, on every input)."""
        previous = txn.state
        txn.state = step.next
        zero: TimerKind | None = None
        for op in step.ops:
            if isinstance(op, Arm):
                seconds = op.seconds
                if seconds is None:  # doubling the previous interval (Timers A, E, G)
                    seconds = timer_duration(
                        op.timer, op.dur, txn.interval, self.config, txn.reliable
                    )
                    assert seconds is not None  # (a reliable transport never arms them)
                if op.retransmit:
                    txn.interval = seconds
                if txn.timers:
                    self._stop(txn, op.timer)  # a restart replaces the armed one
                if seconds == 0:
                    zero = op.timer  # D, I, J, K on reliable transports: fire now
                elif op.timer is _TRYING or op.timer is _UNANSWERED:
                    self._deferred.append((at + seconds, txn, op.timer))  # _arm_deferred
                else:
                    txn.timers.append(self._timers.push(at + seconds, txn.id, op.timer))
            elif isinstance(op, Stop):
                if txn.timers:
                    self._stop(txn, op.timer)
            elif op is _SEND_REQUEST:
                self._send(txn, txn.wire)
            elif op is _SEND_RESPONSE or op is _SEND_TRYING:
                response = msg
                if op is _SEND_TRYING:
                    assert txn.request is not None  # Proceeding: not settled
                    # §8.2.6.1: a 100 copies Timestamp and needs no To tag.
                    response = make_response(txn.request, 100)
                assert isinstance(response, Response)
                data = bytes(response)
                txn.responded = True
                txn.sent_tag = response.to.tag
                # Kept only where the table can resend it (not in Accepted: RFC 6026 §8.7).
                keep = txn.state in txn.program.keeps_response
                txn.last_response = data if keep else None
                self._send(txn, data)
            elif op is _RESEND_RESPONSE:
                if txn.last_response is not None:
                    self._send(txn, txn.last_response)
            elif op is _SEND_ACK:
                if txn.ack is None:
                    assert isinstance(msg, Response) and txn.request is not None
                    txn.ack = bytes(build_non2xx_ack(txn.request, msg))
                self._send(txn, txn.ack)
            elif op is _PASS_TO_TU:
                if isinstance(msg, Response):
                    assert source is not None
                    self._events.append(make_response_received(msg, txn.handle, source))
                elif inp is _ACK:
                    assert isinstance(msg, Request) and source is not None
                    self._events.append(make_request_received(msg, None, source))
                elif not txn.internal:
                    # A new server transaction: _start passed its request and source.
                    assert isinstance(msg, Request) and source is not None
                    self._events.append(make_request_received(msg, txn.handle, source))
            elif op is _INFORM_TIMEOUT:
                if not txn.internal:
                    assert timer is not None
                    self._events.append(TransactionTimedOut(txn=txn.handle, timer=timer))
            elif not txn.internal:  # Do.INFORM_TRANSPORT_ERROR
                failed = TransportFailed(
                    txn=txn.handle, reason=reason or "transport error reported"
                )
                self._events.append(failed)
        if step.terminates:
            self._terminate(txn)
        else:
            if step.settles and txn.request is not None:
                txn.settle()  # lingering until a timer ends it: keep only what matching needs
                oldest = self._txns.linger(txn, self.config.max_lingering)
                if oldest is not None:  # EndpointConfig.max_lingering: end it early
                    self._feed(oldest, Input.EVICTED)
            if zero is not None:
                self._feed(txn, TIMER_INPUT[zero], at=at, timer=zero)
        if txn.machine is _ICT and txn.cancel in self._held and txn.state is not previous:
            self._release_held_cancel(txn)

    def _stop(self, txn: Transaction, kind: TimerKind) -> None:
        for entry in txn.timers:
            if entry.kind is kind:
                txn.timers.remove(entry)
                self._timers.cancel(entry)
                return

    def _send(self, txn: Transaction, data: bytes) -> None:
        # (every field: data, transport, remote, local, conn, token, close)
        self._transmits.append(
            make_transmit(data, txn.transport, txn.remote, txn.local, txn.conn, txn.id, False)
        )

    def _terminate(self, txn: Transaction) -> None:
        for entry in txn.timers:
            self._timers.cancel(entry)
        txn.timers.clear()
        self._txns.remove(txn)
        if txn.conn is not None:
            self._conns.detach(txn.conn, txn.id)
        if not txn.internal:
            self._events.append(TransactionTerminated(txn=txn.handle))

    # -- CANCEL, client side (§9.1) ---------------------------------------------------

    def _release_held_cancel(self, invite: Transaction) -> None:
        held = self._held.pop(invite.cancel)
        if invite.state is _PROCEEDING:
            self._send_cancel(invite, invite.cancel, held[1])
        else:
            # A final response (or a timeout) came first: nothing left to cancel.
            self._events.append(TransactionTerminated(txn=ClientTxn(invite.cancel)))

    def _send_cancel(self, invite: Transaction, cancel_id: int, request: Request) -> None:
        txn = Transaction(
            cancel_id,
            _NICT,
            request,
            invite.transport,
            invite.reliable,
            invite.remote,
            invite.local,
            invite.conn,
            (invite.key[0], "CANCEL"),  # key
            self._machines[_NICT, invite.reliable],
        )
        txn.wire = bytes(request)
        self._txns.client[txn.key] = txn
        self._register(txn)
        self._apply(txn, txn.program.initial, None, None, None, self._now)
        self._feed(invite, Input.CANCEL_SENT)

    # -- receiving --------------------------------------------------------------------

    def _receive_message(self, data: bytes, source: Source) -> None:
        try:
            message = parse_message(data, limits=self.config.limits)
        except RemoteProtocolError as exc:
            self._malformed(data, source, exc)
            return
        if isinstance(message, Response):
            self._on_response(message, source)
        else:
            self._on_request(message, source)

    def _malformed(self, data: bytes, source: Source, exc: RemoteProtocolError) -> None:
        self._events.append(
            MalformedMessage(
                source=source,
                error=str(exc),
                status_hint=exc.status_hint,
                raw_prefix=data[:_PREFIX],
            )
        )
        partial = exc.partial
        if isinstance(partial, Request) and partial.method != "ACK":
            self._stateless_reply(partial, exc.status_hint, source)

    def _on_response(self, response: Response, source: Source) -> None:
        via = response.top_via
        cfg = self.config
        port = via.port if via.port is not None else default_port(via.transport)
        if via.host.lower() != cfg.advertised_host.lower() or port != cfg.advertised_port:
            return  # §18.1.2: not a sent-by we insert, so silently discarded
        branch = via.branch
        txn = self._txns.client.get((branch, response.cseq.method)) if branch is not None else None
        if txn is None:
            self._events.append(ResponseReceived(response=response, txn=None, source=source))
            return
        if txn.conn is None and source.conn is not None and txn.reliable:
            # The adapter opened a connection for our request; later sends (the ACK) use it.
            txn.conn = source.conn
            self._register(txn)
        code = response.status_code
        inp = _RESP_1XX if code < 200 else _RESP_2XX if code < 300 else _RESP_3456
        self._feed(txn, inp, response, source)

    def _on_request(self, request: Request, source: Source) -> None:
        via = request.top_via
        stamped = stamp_via(via, source.remote)
        if stamped is not via:
            replace_top_via(request, stamped)
        method = request.method
        key = server_key(request, stamped)
        rfc3261 = len(key) == 3  # see server_key: (branch, host, port) for RFC 3261 peers
        if method == "ACK":
            self._on_ack(request, key, rfc3261, source)
            return
        if method == "CANCEL":
            self._on_cancel(request, key, rfc3261, source)
            return
        txn = self._txns.server.get(key)
        if txn is not None:
            if txn.method == method and (rfc3261 or request.to.tag == txn.to_tag):
                self._feed(txn, _REQUEST, request, source)
            else:
                # Leniency refused: §8.1.1.7 makes a branch unique per transaction and
                # one key cannot hold two transactions, so the reuse is answered 400.
                self._stateless_reply(request, 400, source)
            return
        txns = self._txns
        merged = merge_key(request) if self.config.detect_merged_requests else None
        if merged is not None and merged in txns.merge:
            # §8.2.2.2: same From tag, Call-ID and CSeq as an ongoing transaction but
            # not a retransmission of it: a request that forked and merged here.
            self._internal_reply(request, key, source, 482, cancel=False)
            return
        if len(txns.by_id) - txns.settled >= self.config.max_transactions:  # full
            self._stateless_reply(request, 503, source, overloaded=True)
            return
        txn = self._new_server(request, stamped, key, source, cancel=False)
        if merged is not None:
            txn.merge_key = merged
            self._txns.merge[merged] = txn
        self._apply(txn, txn.program.initial, None, request, source, self._now)

    def _on_ack(self, ack: Request, key: tuple[object, ...], rfc3261: bool, source: Source) -> None:
        txn = self._txns.server.get(key)
        # §17.2.3 (RFC 2543 peers): the ACK's To tag is the tag of our response.
        if (
            txn is not None
            and txn.machine is _IST
            and (rfc3261 or (txn.responded and txn.sent_tag == ack.to.tag))
        ):
            self._feed(txn, _ACK, ack, source)
            return
        # An ACK for a 2xx is not part of any transaction (§17.1.1.3): the TU matches it
        # to its dialog.
        self._events.append(RequestReceived(request=ack, txn=None, source=source))

    def _on_cancel(
        self, cancel: Request, key: tuple[object, ...], rfc3261: bool, source: Source
    ) -> None:
        txns = self._txns
        existing = txns.server_cancel.get(key)
        if existing is not None:
            self._feed(existing, _REQUEST, cancel, source)
            return
        if len(txns.by_id) - txns.settled >= self.config.max_transactions:  # full
            self._stateless_reply(cancel, 503, source, overloaded=True)
            return
        target = self._txns.server.get(key)
        if target is not None and not rfc3261 and cancel.to.tag != target.to_tag:
            target = None
        if target is None:
            # §9.2: no matching transaction.
            self._internal_reply(cancel, key, source, 481, cancel=True)
            return
        # §9.2: the To tag of the 200 and of the 487 SHOULD be the same.
        tag = target.sent_tag or self._new_tag()
        self._internal_reply(cancel, key, source, 200, cancel=True, to_tag=tag)
        if target.machine is _IST and target.state is _PROCEEDING:
            answered = self.config.answer_cancelled_invite
            if answered:
                assert target.request is not None  # Proceeding: not settled
                response = make_response(target.request, 487, to_tag=tag)
                self._feed(target, _TU_3456, response)
            self._events.append(
                CancelReceived(
                    request=cancel, txn=cast(ServerTxn, target.handle), answered=answered
                )
            )

    def _new_server(
        self,
        request: Request,
        via: Via,
        key: tuple[object, ...],
        source: Source,
        *,
        cancel: bool,
    ) -> Transaction:
        """A server transaction for ``request``, whose top Via (already stamped by
        _on_request) is ``via``: passed, not read again (see server_key)."""
        transport = source.transport
        reliable = is_reliable(transport)
        if reliable and source.conn is not None:
            remote, conn = source.remote, source.conn  # §18.2.2: same connection
        else:
            remote, conn = response_address(via, transport, source.remote), None
            if remote == source.remote:
                remote = source.remote  # one tuple for every transaction of a peer
        machine = _IST if request.method == "INVITE" else _NIST
        txn = Transaction(
            self._take_id(),
            machine,
            request,
            transport,
            reliable,
            remote,
            source.local,
            conn,
            key,
            self._machines[machine, reliable],
        )
        txn.seq = request.cseq.seq
        if len(key) != 3:  # only RFC 2543 matching compares To tags (see server_key)
            txn.to_tag = request.to.tag
        if reliable:
            txn.reply_via = via
        (self._txns.server_cancel if cancel else self._txns.server)[key] = txn
        self._register(txn)
        return txn

    def _internal_reply(
        self,
        request: Request,
        key: tuple[object, ...],
        source: Source,
        status: int,
        *,
        cancel: bool,
        to_tag: str | None = None,
    ) -> None:
        """Answer on a transaction the endpoint runs itself, so that retransmissions
        of the request get the same answer (CANCEL 200/481, 482)."""
        txn = self._new_server(request, request.top_via, key, source, cancel=cancel)
        txn.internal = True
        self._apply(txn, txn.program.initial, None, None, None, self._now)
        response = make_response(request, status, to_tag=to_tag or self._new_tag())
        self._feed(txn, _TU_2XX if status < 300 else _TU_3456, response)

    def _stateless_reply(
        self,
        request: Request,
        status: int,
        source: Source,
        *,
        overloaded: bool = False,
    ) -> None:
        """A response sent outside any transaction (see stateless.py); when
        ``overloaded``, the 503 of §21.5.4 with Retry-After (we hold no more state)."""
        headers = (("Retry-After", str(self.config.retry_after)),) if overloaded else ()
        conn_open = source.conn is not None and self._conns.is_open(source.conn)
        transmit = stateless_reply(
            request, status, source, new_tag=self._new_tag, conn_open=conn_open, headers=headers
        )
        if transmit is not None:
            self._transmits.append(transmit)

    # -- connections ------------------------------------------------------------------

    def _close(self, state: Connection, reason: str, *, ask_adapter: bool) -> None:
        handle = state.handle
        self._conns.remove(state)
        if ask_adapter:
            self._transmits.append(
                Transmit(b"", state.transport, state.remote, state.local, handle, close=True)
            )
        self._events.append(ConnectionClosed(conn=handle, reason=reason))
        for txn_id in sorted(state.txns):
            txn = self._txns.by_id.get(txn_id)
            if txn is None:
                continue
            txn.conn = None
            if txn.machine in CLIENT_MACHINES:
                # The response can no longer come back on this connection (§17.1.4).
                self._feed(txn, Input.TRANSPORT_ERROR)
            else:
                # §18.2.2: responses now go over a new connection to the address in
                # received (or sent-by) and the sent-by port.
                assert txn.reply_via is not None  # kept for stream transports
                txn.remote = response_address(txn.reply_via, txn.transport, None)
