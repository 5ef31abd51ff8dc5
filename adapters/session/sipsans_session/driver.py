"""The pump around a sans-IO core: the loop-agnostic heart of every session.

:class:`Driver` owns the core and does the three things DESIGN.md §2 asks after every
input or command: drain the events to the application, hand every transmit to the I/O
layer, and re-arm the single wake-up at ``core.get_next_timer()``. It knows nothing
about sockets or event loops: the session that owns it gives it the loop's clock, the
call that arms the loop's timer, where transmits go and where events go, as plain
callables. It holds no SIP logic either: it only routes what the core produces, and
resolves the wait for a client transaction's final response.

One bad event never stops the clock (DESIGN.md §6): an exception raised while one event
is handled (by the application's handler, or by a bug in the core) is logged with that
event, and the pump goes on with the next one; the wake-up is re-armed whatever
happened, so retransmissions, Timer H's BYE and the end of transactions keep coming.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from sipsans import (
    ClientTxn,
    ConnHandle,
    Request,
    Response,
    ResponseReceived,
    Target,
    TargetFailed,
    TargetsExhausted,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
)
from sipsans.transaction.surface import SipCore

from .addresses import Address
from .errors import RequestDropped, RequestTimeout, TransportError
from .tracing import TraceWriter

__all__ = [
    "TIMER_RESOLUTION",
    "CoreT",
    "Driver",
    "RequestCore",
    "Resolver",
    "SansIOCore",
    "SipCore",
]

log = logging.getLogger("sipsans.adapter")

#: The core's pull surface (``sipsans.transaction.surface.SipCore``), older name.
SansIOCore = SipCore


class RequestCore(SipCore, Protocol):
    """A core that starts client transactions (``sipsans.Endpoint``)."""

    def send_request(self, request: Request, *, target: Target, now: float) -> ClientTxn: ...


CoreT = TypeVar("CoreT", bound=SipCore)
#: Called with the final Response, or with the exception that ends the wait.
Resolver = Callable[[Response | Exception], None]

#: Seconds: the session's wake-up is rounded up to a multiple of this, so that the core's
#: timers due within one such slot are fired by one ``handle_timer`` (under load every call
#: leaves two transactions whose timers end 32 s later, each at its own instant; without
#: rounding that is two wake-ups per call). SIP timers are no more precise than this: the
#: shortest, T1, is 500 ms by default. 0 wakes up at each deadline exactly.
TIMER_RESOLUTION = 0.01

#: Seconds: after the core raised while firing its timers, the next wake-up is at least
#: this far away (a bug that raises at every firing would otherwise spin the loop).
ERROR_BACKOFF = 1.0

_DROPPED = (
    "request dropped unsent: the dialog ended (or the INVITE to cancel got its final"
    " response) before the request could be sent, so no response will come"
)


def _not_started() -> float:
    raise RuntimeError("the session is not started: its loop gives the clock")


def _no_route(transmit: Transmit) -> None:
    raise RuntimeError("the driver has nowhere to send: its session sets Driver.send")


class Driver(Generic[CoreT]):
    """Pump, clock guard, single wake-up, trace and response waiters around ``core``.

    The owner sets the hooks, plain attributes called from the pump:

    - ``deliver(event)``: each event no waiter claimed (the session's dispatch);
    - ``send(transmit)``: each transmit while not closed (the session's router);
    - ``clock()``: the loop's monotonic clock (e.g. ``loop.time``);
    - ``wake_at(deadline)``: have :meth:`fire` called at ``deadline``, earlier than the
      one armed before; None while the loop cannot arm one (nothing is then armed, and
      the first pump once it can arms it).

    The I/O layer calls the ``*_in`` methods (and their kin) when the outside world
    speaks, and :meth:`fire` when the wake-up comes.
    """

    # Slots: the pump does dozens of attribute look-ups per call, which CPython 3.11
    # specialises best on a slotted instance.
    __slots__ = (
        "_last",
        "_pumping",
        "_waiters",
        "clock",
        "closed",
        "core",
        "deadline",
        "deliver",
        "send",
        "send_errors",
        "timer_resolution",
        "trace",
        "wake_at",
    )

    #: The core; the session sets it (possibly only once its sockets are bound).
    core: CoreT

    def __init__(
        self,
        *,
        deliver: Callable[[object], None],
        send: Callable[[Transmit], None] = _no_route,
        clock: Callable[[], float] = _not_started,
        wake_at: Callable[[float], None] | None = None,
        timer_resolution: float = TIMER_RESOLUTION,
        trace: TraceWriter | None = None,
    ) -> None:
        self.deliver = deliver
        self.send = send
        self.clock = clock
        self.wake_at = wake_at
        self.trace = trace
        #: Seconds the wake-up is rounded up to (:data:`TIMER_RESOLUTION`).
        self.timer_resolution = timer_resolution
        #: The armed wake-up, or None.
        self.deadline: float | None = None
        #: Set by :meth:`close`: nothing is sent or armed any more.
        self.closed = False
        self._last = float("-inf")
        self._pumping = False
        self._waiters: dict[ClientTxn, Resolver] = {}
        #: Adapter-level detail of failed sends, by transmit token (for error messages).
        self.send_errors: dict[int, str] = {}

    # -- clock ----------------------------------------------------------------------------

    def now(self, at_least: float | None = None) -> float:
        """The loop's clock, never going backwards (the core rejects that)."""
        t = self.clock()
        if at_least is not None and t < at_least:
            t = at_least
        if t < self._last:
            return self._last
        self._last = t
        return t

    # -- the pump ---------------------------------------------------------------------------

    def pump(self) -> bool:
        """Drain events and transmits until both are empty, then re-arm the timer.
        Returns whether there was anything to drain (what the last input made the
        core do: a partial message on a stream makes it do nothing).

        A pump asked for while one runs (a command issued from an event handler)
        returns at once: the running pump asks the core again after every batch, so it
        sends whatever that command produced.
        """
        if self._pumping:
            return False
        self._pumping = True
        core = self.core
        acted = False
        try:
            # Runs four times per call at a UAS, the last batch of each empty: the hooks
            # are only looked up for a batch that needs them.
            while True:
                events = core.events()
                transmits = core.transmits()
                if events:
                    deliver, waiters = self.deliver, self._waiters
                    for event in events:
                        try:
                            # (a server usually waits for none: the look-up is skipped)
                            if not waiters or not self._resolve(event):
                                deliver(event)
                        except Exception:
                            log.exception("error while handling %r (going on)", event)
                elif not transmits:
                    break
                acted = True
                if transmits:
                    send, trace = self.send, self.trace
                    for transmit in transmits:
                        try:
                            if trace is not None:
                                trace.transmit(self._last, transmit)
                            send(transmit)
                        except Exception:
                            log.exception("error while sending %r (going on)", transmit)
        finally:
            self._pumping = False
        self._arm(core.get_next_timer())
        return acted

    def command(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Call a core command with ``now=`` filled in, then pump; returns its result."""
        result = fn(*args, now=self.now(), **kwargs)
        if not self._pumping:  # (from an event handler: the running pump sends it)
            self.pump()
        return result

    # -- waiting for a final response ----------------------------------------------------------

    def wait_for(self, txn: ClientTxn, resolve: Resolver) -> None:
        """Route the outcome of ``txn`` to ``resolve`` instead of the event stream."""
        self._waiters[txn] = resolve

    def forget(self, txn: ClientTxn) -> None:
        self._waiters.pop(txn, None)

    @property
    def waiting(self) -> int:
        """How many client transactions' final responses are waited for."""
        return len(self._waiters)

    def fail_waiters(self, reason: str) -> None:
        """End every wait for a final response with TransportError(``reason``)."""
        for txn, resolve in list(self._waiters.items()):
            del self._waiters[txn]
            resolve(TransportError(reason))

    def _resolve(self, event: object) -> bool:
        """Give ``event`` to the waiter of its client transaction, if one waits: its
        final response, or why none will come. Every event of a waited-for transaction
        is the waiter's (a provisional response too), but the news of its failing over
        (RFC 3263 §4.3), which the application may want to see: False sends it on to
        ``deliver``."""
        txn = getattr(event, "txn", None)
        if not isinstance(txn, ClientTxn):
            return False
        resolve = self._waiters.get(txn)
        if resolve is None:
            return False
        if isinstance(event, ResponseReceived):
            if event.response.status_code >= 200:
                del self._waiters[txn]
                resolve(event.response)
        elif isinstance(event, TransactionTimedOut):
            del self._waiters[txn]
            resolve(RequestTimeout(f"no final response (timer {event.timer.name})"))
        elif isinstance(event, TransportFailed):
            del self._waiters[txn]
            detail = self.send_errors.pop(txn.id, event.reason)
            resolve(TransportError(detail))
        elif isinstance(event, TransactionTerminated):
            del self._waiters[txn]
            resolve(RequestDropped(_DROPPED))
        elif isinstance(event, TargetFailed | TargetsExhausted):
            return False
        return True

    # -- the single wake-up ----------------------------------------------------------------------

    def _arm(self, deadline: float | None) -> None:
        # After every pump: under load the armed wake-up is nearly always earlier
        # already, so that is checked first (rounding up cannot move a deadline earlier).
        if deadline is None or self.closed:
            return
        armed = self.deadline
        if armed is not None and armed <= deadline:
            return
        step = self.timer_resolution
        if step:
            # Up to the next multiple of the resolution (never below the deadline, or
            # the wake-up would find nothing due and re-arm for the same instant).
            slot = math.ceil(deadline / step) * step
            deadline = slot if slot >= deadline else slot + step
        if armed is not None and armed <= deadline:
            return  # a wake-up as early is armed; it re-arms for this one when it fires
        wake_at = self.wake_at
        if wake_at is None:
            return  # no loop yet: the first pump once there is one arms it
        self.deadline = deadline
        wake_at(deadline)

    def fire(self) -> None:
        """The wake-up came: tell the core (which may want the next one at once)."""
        deadline, self.deadline = self.deadline, None
        if deadline is not None and not self.closed:
            self.timer_fired(deadline)

    def close(self) -> None:
        """The sockets are closing: send nothing and arm nothing from now on."""
        self.closed = True

    # -- inputs from the I/O layer -------------------------------------------------------------

    def datagram_in(
        self, data: bytes, remote: Address, local: Address | None, transport: str = "UDP"
    ) -> None:
        self.feed_datagram(data, remote, local, transport)
        self.pump()

    def feed_datagram(
        self, data: bytes, remote: Address, local: Address | None, transport: str = "UDP"
    ) -> None:
        """Give the core a datagram without pumping (the caller pumps soon: several
        datagrams read in one go then cost one pump)."""
        now = self.now()
        if self.trace is not None:
            self.trace.datagram_in(now, data, transport, remote, local)
        try:
            self.core.receive_datagram(
                data, remote=remote, local=local, transport=transport, now=now
            )
        except Exception:
            log.exception("the core raised on a datagram from %s: %r (going on)", remote, data[:64])

    def conn_open(self, transport: str, remote: Address, local: Address | None) -> ConnHandle:
        now = self.now()
        handle = self.core.connection_made(transport=transport, remote=remote, local=local, now=now)
        if self.trace is not None:
            self.trace.stream_open(now, handle.id, transport, remote, local)
        return handle

    def stream_in(self, handle: ConnHandle, data: bytes) -> bool:
        """Bytes read from a stream connection (``b""``: EOF). Returns whether the core
        acted on them: it did for each complete message (an event, an answer, a pong),
        not for a part of one (an idle timeout counts messages, not bytes)."""
        now = self.now()
        if self.trace is not None:
            self.trace.stream_in(now, handle.id, data)
        try:
            self.core.receive_stream(handle, data, now=now)
        except Exception:
            log.exception("the core raised on connection %d: %r (going on)", handle.id, data[:64])
        return self.pump()

    def conn_lost(self, handle: ConnHandle) -> None:
        now = self.now()
        if self.trace is not None:
            self.trace.stream_closed(now, handle.id)
        try:
            self.core.connection_lost(handle, now=now)
        except Exception:
            log.exception("the core raised on the loss of connection %d (going on)", handle.id)
        self.pump()

    def send_failed(self, token: int, detail: str) -> None:
        """A transmit could not be sent: tell the core (which tells the transaction)."""
        log.warning("send failed: %s", detail)
        if token:
            self.send_errors[token] = detail
            if len(self.send_errors) > 1024:  # bounded: details nobody asked for
                self.send_errors.pop(next(iter(self.send_errors)))
        now = self.now()
        if self.trace is not None:
            self.trace.transport_error(now, token, detail)
        try:
            self.core.transport_error(token, now=now, reason=detail)
        except Exception:
            log.exception("the core raised on the failed send %d (going on)", token)
        self.pump()

    def timer_fired(self, deadline: float) -> None:
        now = self.now(at_least=deadline)
        if self.trace is not None:
            self.trace.timer(now)
        try:
            self.core.handle_timer(now=now)
        except Exception:
            log.exception("the core raised while firing its timers (going on)")
            # Whatever raised may raise again at once: wake up a little later.
            self.pump()
            if self.deadline is None or self.deadline < now + ERROR_BACKOFF:
                self.deadline = None
                self._arm(now + ERROR_BACKOFF)
            return
        self.pump()
