"""What the asyncio and anyio sessions share: everything that does not touch the loop.

:class:`SessionBase` holds the settings, makes (and, when tracing, wraps) the core once
the listeners are bound, delivers events to ``async for``, keeps the single timer's
deadline, routes each transmit to a UDP socket or a stream connection (reused per
``(transport, remote)``, opened on demand, with the sends that wait for it), and keeps
the connection tables. A session subclass supplies only the loop's part: binding,
dialling, writing, sleeping and a one-shot :class:`~sipsans_asyncio.calls.Waiter`.
Like the :class:`~sipsans_asyncio.driver.Driver` beneath it, it holds no SIP logic.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TextIO, TypeVar, cast

from sipsans import ConnHandle, Request, Response, Target, Transmit
from sipsans.tools.trace import Recorder
from sipsans.transaction.transport import Address

from .calls import UAMixin, Waiter
from .driver import CoreT, RequestCore, TransportError
from .tracing import TraceSink, TraceWriter

__all__ = [
    "SECURE_TRANSPORTS",
    "STREAM_TRANSPORTS",
    "TIMER_RESOLUTION",
    "TRANSPORTS",
    "UDP_RECEIVE_BUFFER",
    "Conn",
    "Dial",
    "Listen",
    "SessionBase",
    "describe_connect_error",
    "is_ip",
    "set_receive_buffer",
]

TRANSPORTS = ("UDP", "TCP", "TLS", "WS", "WSS")
STREAM_TRANSPORTS = frozenset({"TCP", "TLS", "WS", "WSS"})
SECURE_TRANSPORTS = frozenset({"TLS", "WSS"})
WS_TRANSPORTS = frozenset({"WS", "WSS"})
RC = TypeVar("RC", bound=RequestCore)

log = logging.getLogger("sipsans.adapter")

#: Bytes of kernel receive buffer asked for each UDP socket (the kernel caps it at
#: ``net.core.rmem_max``). Linux's default (``rmem_default``, 208 KiB) holds only about
#: 160 SIP datagrams, as each costs some 1.3 KiB of buffer: a burst, a collection or a
#: moment without the CPU fills it in a tenth of a second at 500 calls/s, and every
#: datagram dropped there is a request the peer retransmits half a second later.
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024


def set_receive_buffer(sock: socket.socket | Any, size: int | None) -> None:
    """Ask for ``size`` bytes of receive buffer on ``sock`` (best effort: a refusal
    leaves the system default, which works, only with less slack)."""
    if size is None:
        return
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < size:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    except (OSError, AttributeError) as exc:
        log.debug("cannot set SO_RCVBUF to %d: %s", size, exc)


#: Seconds: the session's wake-up is rounded up to a multiple of this, so that the core's
#: timers due within one such slot are fired by one ``handle_timer`` (under load every call
#: leaves two transactions whose timers end 32 s later, each at its own instant; without
#: rounding that is two wake-ups per call). SIP timers are no more precise than this: the
#: shortest, T1, is 500 ms by default. 0 wakes up at each deadline exactly.
TIMER_RESOLUTION = 0.01


@dataclass(frozen=True, slots=True)
class Listen:
    """A listening socket: ``Listen("udp", "0.0.0.0", 5060)``; port 0 picks a free one."""

    transport: str = "UDP"
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.transport.upper() not in TRANSPORTS:
            raise ValueError(f"unknown transport {self.transport!r}; use one of {TRANSPORTS}")


@functools.lru_cache(maxsize=1024)
def is_ip(host: str) -> bool:
    """True for an IP literal (cached: it is asked for every datagram sent)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def describe_connect_error(transport: str, host: str, port: int, exc: BaseException) -> str:
    """A one-line explanation of why a connection could not be opened."""
    where = f"{transport} connection to {host}:{port}"
    # anyio wraps the per-address failures: explain the underlying one.
    while exc.__cause__ is not None and not isinstance(
        exc, ssl.SSLError | ConnectionRefusedError | TimeoutError
    ):
        exc = exc.__cause__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"{where}: TLS certificate verification failed ({exc.verify_message}); trust the"
            " peer's CA in the client SSL context (or disable verification for tests only)"
        )
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused (nothing listening there?)"
    if isinstance(exc, TimeoutError):
        return f"{where} timed out"
    return f"{where} failed: {exc}"


class Conn(Protocol):
    """A stream connection as the session sees it (TCP, TLS, WS or WSS)."""

    name: str  # the SIP transport
    remote: Address
    local: Address
    handle: ConnHandle | None
    last_activity: float

    def send(self, data: bytes) -> None:
        """Write one chunk of SIP bytes (a whole message on WebSocket)."""

    def close(self) -> None: ...


@dataclass(slots=True)
class Dial:
    """A connection to open: transport, address (IPv6 without brackets) and, for TLS and
    WSS, the client context and the name to verify the certificate against."""

    name: str
    host: str
    port: int
    context: ssl.SSLContext | None = None
    server_hostname: str | None = None


class _HasLocal(Protocol):
    @property
    def local(self) -> Address: ...


ConnT = TypeVar("ConnT", bound=Conn)
UdpT = TypeVar("UdpT", bound=_HasLocal)


class SessionBase(UAMixin[CoreT], Generic[CoreT, ConnT]):
    """A sans-IO core (``sipsans.Endpoint`` or ``sipsans.UserAgent``) on some loop.

    ``core`` is the core itself, or a factory called with the advertised address once
    the listeners are bound (handy with port 0). ``advertise`` overrides the address
    put in Via/Contact (bind and advertised addresses are separate settings).
    ``ssl_server`` is needed to listen on TLS/WSS; ``ssl_client`` defaults to
    ``ssl.create_default_context()`` (certificates verified). ``trace`` is a path or
    text file receiving the JSONL transcript (:mod:`sipsans.tools.trace` format; an Endpoint
    core is wrapped in ``sipsans.tools.trace.Recorder``, so ``session.core`` is then that
    recorder, and ``trace_seed`` should be the seed of the Endpoint's rng). With
    ``on_event`` every event is passed to that callback synchronously inside the pump;
    otherwise it is queued for ``async for event in session`` / :meth:`next_event`.
    Stream connections idle for ``idle_timeout`` seconds are closed. Each UDP socket
    asks for ``udp_receive_buffer`` bytes of kernel receive buffer
    (:data:`UDP_RECEIVE_BUFFER`; None keeps the system default). Timers fire up to
    ``timer_resolution`` seconds late, grouped (:data:`TIMER_RESOLUTION`).

    With a ``sipsans.UserAgent`` core the session also offers ``await session.invite()``,
    ``session.wrap(dialog)`` and awaitable dialogs (:mod:`sipsans_asyncio.calls`), and
    closing it hangs up every dialog first.
    """

    __slots__ = (  # (see Driver.__slots__ for why)
        "_advertise",
        "_by_peer",
        "_closed",
        "_connect_timeout",
        "_connecting",
        "_conns",
        "_deadline",
        "_events",
        "_factory",
        "_idle_timeout",
        "_listen",
        "_readers",
        "_sink",
        "_ssl_client",
        "_ssl_server",
        "_started",
        "_timer_resolution",
        "_tls_server_name",
        "_trace_seed",
        "_udp_receive_buffer",
        "addresses",
        "advertised",
    )

    def __init__(
        self,
        core: CoreT | Callable[[Address], CoreT],
        *,
        listen: Iterable[Listen] = (Listen(),),
        advertise: Address | None = None,
        ssl_server: ssl.SSLContext | None = None,
        ssl_client: ssl.SSLContext | None = None,
        tls_server_name: str | None = None,
        trace: str | Path | TextIO | None = None,
        trace_seed: int | None = None,
        on_event: Callable[[object], None] | None = None,
        idle_timeout: float | None = 120.0,
        connect_timeout: float = 10.0,
        udp_receive_buffer: int | None = UDP_RECEIVE_BUFFER,
        timer_resolution: float = TIMER_RESOLUTION,
    ) -> None:
        super().__init__(on_event=on_event)
        self._ua_init()
        self._sink = TraceSink(trace) if trace is not None else None
        self._trace_seed = trace_seed
        self._factory: Callable[[Address], CoreT] | None = None
        if hasattr(core, "transmits"):
            self._set_core(cast(CoreT, core))
        else:
            self._factory = core
        self._listen = list(listen)
        self._advertise = advertise
        self._ssl_server = ssl_server
        self._ssl_client = ssl_client
        self._tls_server_name = tls_server_name
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._udp_receive_buffer = udp_receive_buffer
        self._timer_resolution = timer_resolution
        self._events: deque[object] = deque()
        self._readers: list[Waiter] = []
        self._deadline: float | None = None
        self._conns: dict[int, ConnT] = {}
        self._by_peer: dict[tuple[str, Address], ConnT] = {}
        #: Sends waiting for a connection being opened: ``(data, token)`` per key.
        self._connecting: dict[tuple[str, Address], list[tuple[bytes, int]]] = {}
        self._started = False
        self._closed = False
        #: Bound address of each listening transport (the first one of each kind).
        self.addresses: dict[str, Address] = {}
        self.advertised: Address = ("127.0.0.1", 0)
        self._init_io()

    def _set_core(self, core: CoreT) -> None:
        sink = self._sink
        if sink is None:
            self.core = core
        elif hasattr(core, "send_response") and hasattr(core, "config"):
            # An Endpoint: record commands too, so that the transcript replays.
            recorder = Recorder(core, seed=self._trace_seed or 0, write=sink.write)
            self.core = cast(CoreT, recorder)
        else:
            self.core = core
            self.trace = TraceWriter(sink, seed=self._trace_seed)

    # -- the loop's part ----------------------------------------------------------------

    def _init_io(self) -> None:
        """Set the loop's own attributes (called at the end of ``__init__``)."""

    async def _open_io(self) -> None:
        """Before binding (e.g. enter the task group)."""

    async def _listen_on(
        self, name: str, host: str, port: int, context: ssl.SSLContext | None
    ) -> Address:
        """Bind one listener and start serving it; returns the bound address."""
        raise NotImplementedError

    def _run_io(self) -> None:
        """Once the core exists: start the timer and the idle sweeper."""

    async def _close_io(self) -> None:
        """Close every socket, listener and connection; stop the session's tasks."""
        raise NotImplementedError

    def _wake_at(self, deadline: float) -> None:
        """Have :meth:`_fire` called at ``deadline`` (an earlier one than before)."""
        raise NotImplementedError

    def _send_udp(self, transmit: Transmit) -> None:
        raise NotImplementedError

    def _dial(self, key: tuple[str, Address]) -> None:
        """Start a task that opens a connection for ``key`` with :meth:`_connect`."""
        raise NotImplementedError

    async def _open_connection(self, dial: Dial) -> ConnT:
        """Open (and attach) a connection ready for SIP; raise OSError/SSLError if not."""
        raise NotImplementedError

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind every listener, make the core if a factory was given, start pumping."""
        try:
            await self._open_io()
            for spec in self._listen:
                await self._bind(spec)
        except BaseException:
            await self.aclose()
            raise
        if self._advertise is not None:
            self.advertised = self._advertise
        elif self.addresses:
            host, port = next(iter(self.addresses.values()))
            self.advertised = ("127.0.0.1" if host in ("0.0.0.0", "::") else host, port)
        if self._factory is not None:
            self._set_core(self._factory(self.advertised))
        self._started = True
        self._run_io()
        self.pump()
        return self

    async def _bind(self, spec: Listen) -> None:
        name = spec.transport.upper()
        context = self._ssl_server if name in SECURE_TRANSPORTS else None
        if name in SECURE_TRANSPORTS and context is None:
            raise ValueError(f"listening on {name} needs ssl_server= (an SSLContext)")
        try:
            bound = await self._listen_on(name, spec.host, spec.port, context)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot listen on {name} {spec.host}:{spec.port}: {exc.strerror}"
            ) from exc
        self.addresses.setdefault(name, bound)

    async def aclose(self) -> None:
        """Hang up every dialog (UserAgent cores), then close every socket and
        connection; pending requests fail with TransportError, and the waits for a state
        (``dialog.closed()``, ``established()``, ...) end: they return if the close
        brought that state, else raise TransportError ("session closed")."""
        if self._closed:
            return
        try:
            if self._started and not self._closing:
                await self._end_dialogs()
        finally:  # (even when cancelled meanwhile: the sockets must not leak)
            self._closing = True
            self._closed = True
            try:
                await self._close_io()
            finally:
                for txn, resolve in list(self._waiters.items()):
                    del self._waiters[txn]
                    resolve(TransportError("session closed"))
                self._end_waits()
                if self._sink is not None:
                    self._sink.close()
                self._wake_readers()

    async def close(self) -> None:
        """The same as :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- events -----------------------------------------------------------------------------

    def _deliver(self, event: object) -> None:
        self._events.append(event)
        self._wake_readers()

    def _wake_readers(self) -> None:
        if self._readers:
            readers, self._readers = self._readers, []
            for reader in readers:
                reader.resolve(None)

    async def next_event(self) -> object:
        """The next event; raises EOFError once the session is closed (and drained)."""
        while not self._events:
            if self._closed:
                raise EOFError("session closed")
            reader = self._waiter()
            self._readers.append(reader)
            try:
                await reader.wait()
            finally:
                if reader in self._readers:
                    self._readers.remove(reader)
        return self._events.popleft()

    def __aiter__(self) -> AsyncIterator[object]:
        return self

    async def __anext__(self) -> object:
        try:
            return await self.next_event()
        except EOFError:
            raise StopAsyncIteration from None

    async def request(self: SessionBase[RC, Any], request: Request, *, target: Target) -> Response:
        """Send ``request`` in a client transaction and return its final response.

        Raises :class:`RequestTimeout` (Timer B/F) or :class:`TransportError`.
        """
        return await self._request(self.core.send_request, request, target=target)

    # -- the timer ------------------------------------------------------------------------------

    def _arm(self, deadline: float | None) -> None:
        # After every pump: under load the armed wake-up is nearly always earlier
        # already, so that is checked first (rounding up cannot move a deadline earlier).
        if deadline is None or self._closed:
            return
        armed = self._deadline
        if armed is not None and armed <= deadline:
            return
        step = self._timer_resolution
        if step:
            # Up to the next multiple of the resolution (never below the deadline, or
            # the wake-up would find nothing due and re-arm for the same instant).
            slot = math.ceil(deadline / step) * step
            deadline = slot if slot >= deadline else slot + step
        if armed is not None and armed <= deadline:
            return  # a wake-up as early is armed; it re-arms for this one when it fires
        self._deadline = deadline
        self._wake_at(deadline)

    def _fire(self) -> None:
        """The wake-up came: tell the core (which may want the next one at once)."""
        deadline, self._deadline = self._deadline, None
        if deadline is not None and not self._closed:
            self.timer_fired(deadline)

    # -- sending --------------------------------------------------------------------------------

    def _send(self, transmit: Transmit) -> None:
        if self._closed:
            return
        name = transmit.transport
        if name == "UDP" or (name := name.upper()) == "UDP":
            self._send_udp(transmit)
        elif name in STREAM_TRANSPORTS:
            self._send_stream(name, transmit)
        else:
            self.send_failed(transmit.token, f"transport {name} is not supported by this adapter")

    def _udp_for(self, sockets: Sequence[UdpT], transmit: Transmit) -> UdpT | None:
        """The UDP socket bound to ``transmit.local`` (the core's choice), else the first
        one; None (and the send fails) when the session has none."""
        if len(sockets) == 1:
            return sockets[0]  # (the usual case, whatever transmit.local says)
        if transmit.local is not None:
            for sock in sockets:
                if sock.local == transmit.local:
                    return sock
        if not sockets:
            self.send_failed(transmit.token, "no UDP socket: add Listen('udp', ...) to send UDP")
            return None
        return sockets[0]

    def _send_stream(self, name: str, transmit: Transmit) -> None:
        if transmit.conn is not None:
            conn = self._conns.get(transmit.conn.id)
            if conn is None:
                if not transmit.close:
                    self.send_failed(transmit.token, f"connection {transmit.conn.id} is closed")
                return
            if transmit.data:
                conn.send(transmit.data)
            if transmit.close:
                conn.close()
            return
        if transmit.close:
            return
        key = (name, transmit.remote)
        pending = self._connecting.get(key)
        if pending is None:
            existing = self._by_peer.get(key)
            if existing is not None:
                existing.send(transmit.data)
                return
            pending = self._connecting[key] = []
            self._dial(key)
        pending.append((transmit.data, transmit.token))

    async def _connect(self, key: tuple[str, Address]) -> ConnT | None:
        """Open the connection ``key`` names and flush the sends waiting for it; on
        failure each of them fails with the reason (refused, TLS verification, ...)."""
        name, (host, port) = key
        dial = Dial(name, host.strip("[]"), port)
        if name in SECURE_TRANSPORTS:
            dial.context = self._ssl_client or ssl.create_default_context()
            dial.server_hostname = self._tls_server_name or dial.host
        try:
            conn = await self._open_connection(dial)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            detail = describe_connect_error(name, host, port, exc)
            for _, token in self._connecting.pop(key, []):
                self.send_failed(token, detail)
            return None
        self._by_peer[key] = conn
        for data, _ in self._connecting.pop(key, []):
            conn.send(data)
        return conn

    # -- connection bookkeeping -------------------------------------------------------------

    def attach(self, conn: ConnT) -> ConnHandle:
        """A connection can carry SIP: tell the core, which names it by the handle."""
        handle = conn.handle = self.conn_open(conn.name, conn.remote, conn.local)
        self._conns[handle.id] = conn
        self._by_peer.setdefault((conn.name, conn.remote), conn)
        return handle

    def detach(self, conn: ConnT) -> None:
        """A connection is gone: forget it and tell the core."""
        handle = conn.handle
        if handle is None or self._conns.pop(handle.id, None) is None:
            return
        for key, value in list(self._by_peer.items()):
            if value is conn:
                del self._by_peer[key]
        if not self._closed:
            self.conn_lost(handle, conn.remote, conn.name)

    def _close_idle(self) -> None:
        """Close the connections quiet for longer than ``idle_timeout``."""
        if self._idle_timeout is None:
            return
        now = self.now()
        for conn in list(self._conns.values()):
            if now - conn.last_activity > self._idle_timeout:
                log.debug("closing idle %s connection to %s", conn.name, conn.remote)
                conn.close()
