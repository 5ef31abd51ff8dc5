"""The loop-agnostic half of every adapter: the pump around a sans-IO core.

:class:`Driver` owns the core and does the three things DESIGN.md §2 asks after every
input or command: drain the events to the application, hand every transmit to the
I/O layer, and re-arm the single wake-up at ``core.get_next_timer()``. It knows nothing
about sockets or event loops; :class:`sipsans_asyncio.Session` and
:class:`sipsans_anyio.Session` subclass it and provide the clock, the sending and the
timer. It holds no SIP logic either: it only routes what the core produces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from sipsans import (
    ClientTxn,
    ConnHandle,
    Request,
    Response,
    ResponseReceived,
    Target,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
)
from sipsans.transaction.surface import SipCore

from .tracing import TraceWriter

__all__ = [
    "Address",
    "Driver",
    "RequestCore",
    "RequestDropped",
    "RequestTimeout",
    "SansIOCore",
    "SipCore",
    "TransportError",
]

log = logging.getLogger("sipsans.adapter")

Address = tuple[str, int]


#: The core's pull surface (``sipsans.transaction.surface.SipCore``), older name.
SansIOCore = SipCore


class RequestCore(SipCore, Protocol):
    """A core that starts client transactions (``sipsans.Endpoint``)."""

    def send_request(self, request: Request, *, target: Target, now: float) -> ClientTxn: ...


class TransportError(Exception):
    """A request could not be sent (refused connection, TLS verification, no socket)."""


class RequestDropped(TransportError):
    """The core dropped a request without ever sending it: its dialog (or the INVITE it
    was to cancel) ended first. A BYE held for the ACK of our 2xx (RFC 3261 §15) is
    dropped when the peer's BYE ends the dialog; a CANCEL held for a provisional (§9.1)
    when the INVITE's final response comes. ``bye()``, ``hangup()`` and ``cancel()``
    return None then (the call ended all the same); other requests raise it."""


class RequestTimeout(Exception):
    """No final response arrived before the transaction timed out (Timer B or F)."""


_DROPPED = (
    "request dropped unsent: the dialog ended (or the INVITE to cancel got its final"
    " response) before the request could be sent, so no response will come"
)

CoreT = TypeVar("CoreT", bound=SipCore)
#: Called with the final Response, or with the exception that ends the wait.
Resolver = Callable[[Response | Exception], None]


class Driver(Generic[CoreT]):
    """Pump, clock guard, trace and response waiters around ``core``.

    Subclasses implement :meth:`_clock`, :meth:`_send`, :meth:`_arm` and
    :meth:`_deliver`, and call the ``*_in`` methods when the outside world speaks.
    """

    # Slots (here and in SessionBase): a session has some forty attributes, and past
    # thirty a CPython 3.11 instance dict stops being the compact kind its attribute and
    # method look-ups are specialised for; the pump does dozens of them per call.
    __slots__ = (
        "_last",
        "_pumping",
        "_waiters",
        "core",
        "on_event",
        "send_errors",
        "trace",
    )

    #: The core; a subclass sets it (possibly only once its sockets are bound).
    core: CoreT

    def __init__(
        self,
        *,
        trace: TraceWriter | None = None,
        on_event: Callable[[object], None] | None = None,
    ) -> None:
        self.trace = trace
        self.on_event = on_event
        self._last = float("-inf")
        self._pumping = False
        self._waiters: dict[ClientTxn, Resolver] = {}
        #: Adapter-level detail of failed sends, by transmit token (for error messages).
        self.send_errors: dict[int, str] = {}

    # -- hooks for the I/O layer -------------------------------------------------------

    def _clock(self) -> float:
        raise NotImplementedError

    def _send(self, transmit: Transmit) -> None:
        raise NotImplementedError

    def _arm(self, deadline: float | None) -> None:
        raise NotImplementedError

    def _deliver(self, event: object) -> None:
        raise NotImplementedError

    # -- clock ----------------------------------------------------------------------------

    def now(self, at_least: float | None = None) -> float:
        """The loop's clock, never going backwards (the core rejects that)."""
        t = self._clock()
        if at_least is not None and t < at_least:
            t = at_least
        if t < self._last:
            return self._last
        self._last = t
        return t

    # -- the pump ---------------------------------------------------------------------------

    def pump(self) -> None:
        """Drain events and transmits until both are empty, then re-arm the timer.

        A pump asked for while one runs (a command issued from an event handler)
        returns at once: the running pump asks the core again after every batch, so it
        sends whatever that command produced.
        """
        if self._pumping:
            return
        self._pumping = True
        core = self.core
        try:
            # Runs four times per call at a UAS, the last batch of each empty: the bound
            # methods are only made for a batch that needs them.
            while True:
                events = core.events()
                transmits = core.transmits()
                if events:
                    dispatch = self._dispatch
                    for event in events:
                        dispatch(event)
                elif not transmits:
                    break
                if transmits:
                    send, trace = self._send, self.trace
                    for transmit in transmits:
                        if trace is not None:
                            trace.transmit(self._last, transmit)
                        send(transmit)
        finally:
            self._pumping = False
        self._arm(core.get_next_timer())

    def command(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Call a core command with ``now=`` filled in, then pump; returns its result."""
        result = fn(*args, now=self.now(), **kwargs)
        if not self._pumping:  # (from an event handler: the running pump sends it)
            self.pump()
        return result

    def _dispatch(self, event: object) -> None:
        resolve = None
        if self._waiters:  # (a server usually waits for none: skip the look-up)
            txn = getattr(event, "txn", None)
            if isinstance(txn, ClientTxn):
                resolve = self._waiters.get(txn)
        if resolve is None:
            if self.on_event is not None:
                self.on_event(event)
            else:
                self._deliver(event)
            return
        assert isinstance(txn, ClientTxn)
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

    def wait_for(self, txn: ClientTxn, resolve: Resolver) -> None:
        """Route the outcome of ``txn`` to ``resolve`` instead of the event stream."""
        self._waiters[txn] = resolve

    def forget(self, txn: ClientTxn) -> None:
        self._waiters.pop(txn, None)

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
        self.core.receive_datagram(data, remote=remote, local=local, transport=transport, now=now)

    def conn_open(self, transport: str, remote: Address, local: Address | None) -> ConnHandle:
        now = self.now()
        handle = self.core.connection_made(transport=transport, remote=remote, local=local, now=now)
        if self.trace is not None:
            self.trace.stream_open(now, handle.id, transport, remote, local)
        return handle

    def stream_in(self, handle: ConnHandle, data: bytes, remote: Address, transport: str) -> None:
        now = self.now()
        if self.trace is not None:
            self.trace.stream_in(now, handle.id, data)
        self.core.receive_stream(handle, data, now=now)
        self.pump()

    def conn_lost(self, handle: ConnHandle, remote: Address, transport: str) -> None:
        now = self.now()
        if self.trace is not None:
            self.trace.stream_closed(now, handle.id)
        self.core.connection_lost(handle, now=now)
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
            self.trace.transport_error(now, token)
        self.core.transport_error(token, now=now)
        self.pump()

    def timer_fired(self, deadline: float) -> None:
        now = self.now(at_least=deadline)
        if self.trace is not None:
            self.trace.timer(now)
        self.core.handle_timer(now=now)
        self.pump()
