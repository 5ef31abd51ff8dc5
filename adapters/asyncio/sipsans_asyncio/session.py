"""The asyncio Session: a sans-IO core wired to sockets and ``loop.call_at``.

.. code-block:: python

    async with Session(endpoint, listen=[Listen("udp", "127.0.0.1", 5060)]) as session:
        async for event in session:
            ...

The session binds its listeners, sends every transmit of the core, keeps one timer
armed at ``core.get_next_timer()`` and delivers events to an ``on_event`` callback or
to ``async for``. Stream connections are opened on demand, reused per remote address
and closed after ``idle_timeout`` seconds without traffic.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TextIO, TypeVar, cast

from sipsans import ConnHandle, Request, Response, Target, Transmit
from sipsans.trace import Recorder

from .calls import UAMixin, Waiter
from .driver import Address, CoreT, RequestCore, TransportError
from .protocols import StreamConn, UdpSocket, make_conn
from .tracing import TraceSink, TraceWriter

__all__ = ["STREAM_TRANSPORTS", "TRANSPORTS", "Listen", "Session", "describe_connect_error"]

log = logging.getLogger("sipsans.adapter")

TRANSPORTS = ("UDP", "TCP", "TLS", "WS", "WSS")
STREAM_TRANSPORTS = frozenset({"TCP", "TLS", "WS", "WSS"})
_SECURE = frozenset({"TLS", "WSS"})
_END = object()
RC = TypeVar("RC", bound=RequestCore)


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
def _is_ip(host: str) -> bool:
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


class _FutureWaiter:
    __slots__ = ("_future",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._future: asyncio.Future[object] = loop.create_future()

    def resolve(self, outcome: object) -> None:
        if self._future.done():
            return
        if isinstance(outcome, BaseException):
            self._future.set_exception(outcome)
        else:
            self._future.set_result(outcome)

    async def wait(self, timeout: float | None = None) -> object:
        if timeout is None:
            return await self._future
        return await asyncio.wait_for(asyncio.shield(self._future), timeout)


class Session(UAMixin[CoreT], Generic[CoreT]):
    """A sans-IO core (``sipsans.Endpoint`` or ``sipsans.UserAgent``) on asyncio.

    ``core`` is the core itself, or a factory called with the advertised address once
    the listeners are bound (handy with port 0). ``advertise`` overrides the address
    put in Via/Contact (bind and advertised addresses are separate settings).
    ``ssl_server`` is needed to listen on TLS/WSS; ``ssl_client`` defaults to
    ``ssl.create_default_context()`` (certificates verified). ``trace`` is a path or
    text file receiving the JSONL transcript (:mod:`sipsans.trace` format; an Endpoint
    core is wrapped in ``sipsans.trace.Recorder``, so ``session.core`` is then that
    recorder, and ``trace_seed`` should be the seed of the Endpoint's rng). With
    ``on_event`` every event is passed to that callback synchronously inside the pump;
    otherwise it is queued for ``async for event in session`` / :meth:`next_event`.

    With a ``sipsans.UserAgent`` core the session also offers ``await session.invite()``,
    ``session.wrap(dialog)`` and awaitable dialogs (:mod:`sipsans_asyncio.calls`), and
    closing it hangs up every dialog first.
    """

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
    ) -> None:
        super().__init__(on_event=on_event)
        self._ua_init()
        self._sink = TraceSink(trace) if trace is not None else None
        self._trace_seed = trace_seed
        if hasattr(core, "transmits"):
            self._set_core(cast(CoreT, core))
            self._factory: Callable[[Address], CoreT] | None = None
        else:
            self._factory = core
        self._listen = list(listen)
        self._advertise = advertise
        self._ssl_server = ssl_server
        self._ssl_client = ssl_client
        self._tls_server_name = tls_server_name
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._udp: list[UdpSocket] = []
        self._servers: list[asyncio.Server] = []
        self._conns: dict[int, StreamConn] = {}
        self._by_peer: dict[tuple[str, Address], StreamConn] = {}
        self._connecting: dict[tuple[str, Address], list[tuple[bytes, int, bool]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._closed = False
        #: Bound address of each listening transport (the first one of each kind).
        self.addresses: dict[str, Address] = {}
        self.advertised: Address = ("127.0.0.1", 0)

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> Session[CoreT]:
        """Bind every listener, make the core if a factory was given, start pumping."""
        loop = self._loop = asyncio.get_running_loop()
        try:
            for spec in self._listen:
                await self._bind(loop, spec)
        except BaseException:
            await self.close()
            raise
        if self._advertise is not None:
            self.advertised = self._advertise
        elif self.addresses:
            host, port = next(iter(self.addresses.values()))
            self.advertised = ("127.0.0.1" if host in ("0.0.0.0", "::") else host, port)
        if self._factory is not None:
            self._set_core(self._factory(self.advertised))
        self._started = True
        if self._idle_timeout is not None:
            self._idle = loop.call_later(self._idle_timeout / 2, self._sweep_idle)
        self.pump()
        return self

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

    async def _bind(self, loop: asyncio.AbstractEventLoop, spec: Listen) -> None:
        name = spec.transport.upper()
        try:
            if name == "UDP":
                _, proto = await loop.create_datagram_endpoint(
                    lambda: UdpSocket(self), local_addr=(spec.host, spec.port)
                )
                self._udp.append(proto)
                bound = proto.local
            else:
                context = self._ssl_server if name in _SECURE else None
                if name in _SECURE and context is None:
                    raise ValueError(f"listening on {name} needs ssl_server= (an SSLContext)")
                server = await loop.create_server(
                    lambda: make_conn(self, name, client=False), spec.host, spec.port, ssl=context
                )
                self._servers.append(server)
                sockname = server.sockets[0].getsockname()
                bound = (str(sockname[0]), int(sockname[1]))
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot listen on {name} {spec.host}:{spec.port}: {exc.strerror}"
            ) from exc
        self.addresses.setdefault(name, bound)

    async def close(self) -> None:
        """Close every socket and connection; pending requests fail with TransportError."""
        if self._closed:
            return
        if self._started and not self._closing:
            await self._end_dialogs()
        self._closing = True
        self._closed = True
        for handle in (self._timer, self._idle):
            if handle is not None:
                handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._conns.values()):
            conn.close()
        for udp in self._udp:
            udp.close()
        for server in self._servers:
            server.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost callbacks run
        for txn, resolve in list(self._waiters.items()):
            del self._waiters[txn]
            resolve(TransportError("session closed"))
        if self._sink is not None:
            self._sink.close()
        self._queue.put_nowait(_END)

    async def __aenter__(self) -> Session[CoreT]:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- events ---------------------------------------------------------------------------------

    def _deliver(self, event: object) -> None:
        self._queue.put_nowait(event)

    async def next_event(self) -> object:
        """The next event; raises EOFError once the session is closed."""
        event = await self._queue.get()
        if event is _END:
            self._queue.put_nowait(_END)
            raise EOFError("session closed")
        return event

    def __aiter__(self) -> AsyncIterator[object]:
        return self

    async def __anext__(self) -> object:
        try:
            return await self.next_event()
        except EOFError:
            raise StopAsyncIteration from None

    async def request(self: Session[RC], request: Request, *, target: Target) -> Response:
        """Send ``request`` in a client transaction and return its final response.

        Raises :class:`RequestTimeout` (Timer B/F) or :class:`TransportError`.
        """
        assert self._loop is not None, "start the session first"
        future: asyncio.Future[Response] = self._loop.create_future()

        def resolve(outcome: Response | Exception) -> None:
            if future.done():
                return
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        txn = self.core.send_request(request, target=target, now=self.now())
        self.wait_for(txn, resolve)
        self.pump()
        try:
            return await future
        finally:
            self.forget(txn)

    def _waiter(self) -> Waiter:
        assert self._loop is not None, "start the session first"
        return _FutureWaiter(self._loop)

    # -- Driver hooks ---------------------------------------------------------------------------

    def _clock(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _arm(self, deadline: float | None) -> None:
        if deadline is None or self._closed or self._loop is None:
            return
        current = self._deadline
        if current is not None and current <= deadline and self._timer is not None:
            return  # an earlier wake-up is armed; it re-arms for this one when it fires
        if self._timer is not None:
            self._timer.cancel()
        self._deadline = deadline
        self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        deadline = self._deadline
        self._timer = None
        self._deadline = None
        if deadline is not None and not self._closed:
            self.timer_fired(deadline)

    def _send(self, transmit: Transmit) -> None:
        if self._closed:
            return
        name = transmit.transport.upper()
        if name == "UDP":
            self._send_udp(transmit)
        elif name in STREAM_TRANSPORTS:
            self._send_stream(name, transmit)
        else:
            self.send_failed(transmit.token, f"transport {name} is not supported by this adapter")

    def _send_udp(self, transmit: Transmit) -> None:
        sock = self._udp[0] if self._udp else None
        if transmit.local is not None:
            for candidate in self._udp:
                if candidate.local == transmit.local:
                    sock = candidate
                    break
        if sock is None:
            self.send_failed(transmit.token, "no UDP socket: add Listen('udp', ...) to send UDP")
            return
        host, port = transmit.remote
        if _is_ip(host):
            sock.sendto(transmit.data, (host.strip("[]"), port))
        else:
            self._spawn(self._resolve_and_send(sock, transmit))

    async def _resolve_and_send(self, sock: UdpSocket, transmit: Transmit) -> None:
        assert self._loop is not None
        host, port = transmit.remote
        try:
            infos = await self._loop.getaddrinfo(host, port, type=2)  # SOCK_DGRAM
        except OSError as exc:
            self.send_failed(transmit.token, f"cannot resolve {host}: {exc}")
            return
        sock.sendto(transmit.data, _addr_of(infos[0][4]))

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
            self._spawn(self._connect(key))
        pending.append((transmit.data, transmit.token, transmit.close))

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, key: tuple[str, Address]) -> None:
        assert self._loop is not None
        name, (host, port) = key
        context: ssl.SSLContext | None = None
        server_hostname: str | None = None
        if name in _SECURE:
            context = self._ssl_client or ssl.create_default_context()
            server_hostname = self._tls_server_name or host.strip("[]")
        conn: StreamConn | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await self._loop.create_connection(
                    lambda: make_conn(self, name, client=True, host=host, port=port),
                    host.strip("[]"),
                    port,
                    ssl=context,
                    server_hostname=server_hostname,
                )
                await conn.ready
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            if conn is not None:
                conn.close()
            detail = describe_connect_error(name, host, port, exc)
            for _, token, _ in self._connecting.pop(key, []):
                self.send_failed(token, detail)
            return
        self._by_peer[key] = conn
        for data, _, _ in self._connecting.pop(key, []):
            conn.send(data)

    # -- connection bookkeeping (called by the protocols) -------------------------------------

    def attach(self, conn: StreamConn) -> ConnHandle:
        handle = self.conn_open(conn.name, conn.remote, conn.local)
        self._conns[handle.id] = conn
        self._by_peer.setdefault((conn.name, conn.remote), conn)
        return handle

    def detach(self, conn: StreamConn) -> None:
        handle = conn.handle
        if handle is None or self._conns.pop(handle.id, None) is None:
            return
        for key, value in list(self._by_peer.items()):
            if value is conn:
                del self._by_peer[key]
        if not self._closed:
            self.conn_lost(handle, conn.remote, conn.name)

    def udp_error(self, sock: UdpSocket, exc: Exception) -> None:
        log.debug("UDP error on %s: %s", sock.local, exc)

    def _sweep_idle(self) -> None:
        assert self._loop is not None and self._idle_timeout is not None
        now = self.now()
        for conn in list(self._conns.values()):
            if now - conn.last_activity > self._idle_timeout:
                log.debug("closing idle %s connection to %s", conn.name, conn.remote)
                conn.close()
        self._idle = self._loop.call_later(self._idle_timeout / 2, self._sweep_idle)


def _addr_of(sockaddr: Any) -> Address:
    return (str(sockaddr[0]), int(sockaddr[1]))
