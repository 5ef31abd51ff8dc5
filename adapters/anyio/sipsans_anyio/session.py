"""The anyio Session: a sans-IO core in a task group, on asyncio or trio.

Tasks: one receive loop per UDP socket and stream connection, one writer per socket
and connection (fed by an unbounded memory stream, so that the pump never blocks),
listener tasks for TCP/TLS, one timer task sleeping until ``core.get_next_timer()``
on ``anyio.current_time()``, and an idle-connection sweeper. The pump itself is the
shared :class:`sipsans_asyncio.driver.Driver`; no SIP logic lives here.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import math
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TextIO, TypeVar, cast

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from anyio.streams.tls import TLSListener

from sipsans import ConnHandle, Request, Response, Target, Transmit
from sipsans.trace import Recorder
from sipsans_asyncio.calls import UAMixin, Waiter
from sipsans_asyncio.driver import Address, CoreT, RequestCore, TransportError
from sipsans_asyncio.session import STREAM_TRANSPORTS, Listen, describe_connect_error
from sipsans_asyncio.tracing import TraceSink, TraceWriter

__all__ = ["Session"]

log = logging.getLogger("sipsans.adapter")

_SECURE = frozenset({"TLS", "WSS"})
_END = object()
RC = TypeVar("RC", bound=RequestCore)


def _addr(value: Any) -> Address:
    return (str(value[0]), int(value[1]))


@functools.lru_cache(maxsize=1024)
def _is_ip(host: str) -> bool:
    """True for an IP literal (cached: it is asked for every datagram sent)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _Udp:
    def __init__(self, sock: anyio.abc.UDPSocket) -> None:
        self.sock = sock
        self.local = _addr(sock.extra(anyio.abc.SocketAttribute.local_address))
        #: The non-blocking OS socket: datagrams to IP literals are sent on it at once
        #: (no task hop, and they still leave while the session's tasks are cancelled).
        raw = sock.extra(anyio.abc.SocketAttribute.raw_socket, None)
        self.dup: socket.socket | None = None
        if raw is not None and not isinstance(raw, socket.socket):
            # asyncio hands out a TransportSocket (no sendto): send on a duplicate.
            self.dup = socket.fromfd(raw.fileno(), raw.family, raw.type)
            self.dup.setblocking(False)
        self.raw: socket.socket | None = self.dup or raw
        self.out_send, self.out_recv = anyio.create_memory_object_stream[
            tuple[bytes, Address, int]
        ](math.inf)
        #: Datagrams waiting for the writer task (direct sends wait behind them).
        self.queued = 0


class _Conn:
    def __init__(self, stream: anyio.abc.ByteStream, name: str, now: float) -> None:
        self.stream = stream
        self.name = name
        self.remote = _addr(stream.extra(anyio.abc.SocketAttribute.remote_address))
        self.local = _addr(stream.extra(anyio.abc.SocketAttribute.local_address))
        self.handle: ConnHandle | None = None
        self.last_activity = now
        self.out_send: MemoryObjectSendStream[bytes | None]
        self.out_recv: MemoryObjectReceiveStream[bytes | None]
        self.out_send, self.out_recv = anyio.create_memory_object_stream[bytes | None](math.inf)

    def send(self, data: bytes | None) -> None:
        """Queue SIP bytes for the writer task; None closes the connection."""
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.out_send.send_nowait(data)

    def close(self) -> None:
        self.send(None)


class _EventWaiter:
    __slots__ = ("_event", "_outcome")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._outcome: list[object] = []

    def resolve(self, outcome: object) -> None:
        if not self._outcome:
            self._outcome.append(outcome)
            self._event.set()

    async def wait(self, timeout: float | None = None) -> object:
        with anyio.fail_after(timeout):
            await self._event.wait()
        outcome = self._outcome[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class Session(UAMixin[CoreT], Generic[CoreT]):
    """A sans-IO core on anyio; same arguments as :class:`sipsans_asyncio.Session`
    (WebSocket listeners are asyncio-only for now)."""

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
        for spec in self._listen:
            if spec.transport.upper() in ("WS", "WSS"):
                raise ValueError("WebSocket listeners need sipsans_asyncio for now")
        self._advertise = advertise
        self._ssl_server = ssl_server
        self._ssl_client = ssl_client
        self._tls_server_name = tls_server_name
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._events_send, self._events_recv = anyio.create_memory_object_stream[object](math.inf)
        self._tg: anyio.abc.TaskGroup | None = None
        self._deadline: float | None = None
        self._wake = anyio.Event()
        self._udp: list[_Udp] = []
        self._listeners: list[anyio.abc.Listener[Any]] = []
        self._conns: dict[int, _Conn] = {}
        self._by_peer: dict[tuple[str, Address], _Conn] = {}
        self._connecting: dict[tuple[str, Address], list[tuple[bytes, int]]] = {}
        self._closed = False
        self.addresses: dict[str, Address] = {}
        self.advertised: Address = ("127.0.0.1", 0)

    def _set_core(self, core: CoreT) -> None:
        sink = self._sink
        if sink is None:
            self.core = core
        elif hasattr(core, "send_response") and hasattr(core, "config"):
            self.core = cast(CoreT, Recorder(core, seed=self._trace_seed or 0, write=sink.write))
        else:
            self.core = core
            self.trace = TraceWriter(sink, seed=self._trace_seed)

    # -- life cycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Session[CoreT]:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        try:
            for spec in self._listen:
                await self._bind(tg, spec)
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        if self._advertise is not None:
            self.advertised = self._advertise
        elif self.addresses:
            host, port = next(iter(self.addresses.values()))
            self.advertised = ("127.0.0.1" if host in ("0.0.0.0", "::") else host, port)
        if self._factory is not None:
            self._set_core(self._factory(self.advertised))
        tg.start_soon(self._timer_task)
        if self._idle_timeout is not None:
            tg.start_soon(self._sweep_idle, self._idle_timeout)
        self.pump()
        return self

    async def _bind(self, tg: anyio.abc.TaskGroup, spec: Listen) -> None:
        name = spec.transport.upper()
        try:
            if name == "UDP":
                sock = await anyio.create_udp_socket(local_host=spec.host, local_port=spec.port)
                udp = _Udp(sock)
                self._udp.append(udp)
                bound = udp.local
                tg.start_soon(self._udp_reader, udp)
                tg.start_soon(self._udp_writer, udp)
            else:
                context = self._ssl_server if name in _SECURE else None
                if name in _SECURE and context is None:
                    raise ValueError(f"listening on {name} needs ssl_server= (an SSLContext)")
                tcp = await anyio.create_tcp_listener(local_host=spec.host, local_port=spec.port)
                bound = _addr(tcp.extra(anyio.abc.SocketAttribute.local_address))
                listener: anyio.abc.Listener[Any] = tcp
                if context is not None:
                    listener = TLSListener(tcp, context, standard_compatible=False)
                self._listeners.append(listener)

                async def handler(stream: anyio.abc.ByteStream, name: str = name) -> None:
                    await self._serve(_Conn(stream, name, self.now()))

                tg.start_soon(listener.serve, handler)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot listen on {name} {spec.host}:{spec.port}: {exc.strerror}"
            ) from exc
        self.addresses.setdefault(name, bound)

    async def aclose(self) -> None:
        await self.__aexit__(None, None, None)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._closed:
            return
        if self._tg is not None and not self._closing and hasattr(self, "core"):
            with anyio.CancelScope(shield=True):
                await self._end_dialogs()
        self._closing = True
        self._closed = True
        tg = self._tg
        if tg is not None:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            for listener in self._listeners:
                await listener.aclose()
            for udp in self._udp:
                if udp.dup is not None:
                    udp.dup.close()
                udp.raw = None
                udp.out_send.close()
                udp.out_recv.close()
                await udp.sock.aclose()
            for conn in list(self._conns.values()):
                conn.out_send.close()
                conn.out_recv.close()
                await conn.stream.aclose()
        for txn, resolve in list(self._waiters.items()):
            del self._waiters[txn]
            resolve(TransportError("session closed"))
        if self._sink is not None:
            self._sink.close()
        self._events_send.close()

    def __del__(self) -> None:
        # The receiving end of the event stream lives as long as the session.
        self._events_recv.close()

    # -- events ---------------------------------------------------------------------------

    def _deliver(self, event: object) -> None:
        self._events_send.send_nowait(event)

    async def next_event(self) -> object:
        """The next event; raises EOFError once the session is closed."""
        try:
            return await self._events_recv.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise EOFError("session closed") from None

    def __aiter__(self) -> AsyncIterator[object]:
        return self

    async def __anext__(self) -> object:
        try:
            return await self.next_event()
        except EOFError:
            raise StopAsyncIteration from None

    async def request(self: Session[RC], request: Request, *, target: Target) -> Response:
        """Send ``request`` and return its final response (see the asyncio Session)."""
        done = anyio.Event()
        outcome: list[Response | Exception] = []

        def resolve(result: Response | Exception) -> None:
            if not outcome:
                outcome.append(result)
                done.set()

        txn = self.core.send_request(request, target=target, now=self.now())
        self.wait_for(txn, resolve)
        self.pump()
        try:
            await done.wait()
        finally:
            self.forget(txn)
        result = outcome[0]
        if isinstance(result, Exception):
            raise result
        return result

    def _waiter(self) -> Waiter:
        return _EventWaiter()

    # -- Driver hooks ------------------------------------------------------------------------

    def _clock(self) -> float:
        return anyio.current_time()

    def _arm(self, deadline: float | None) -> None:
        if deadline is None or self._closed:
            return
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
            self._wake.set()

    async def _timer_task(self) -> None:
        while True:
            deadline = self._deadline
            if deadline is None:
                await self._wake.wait()
            else:
                with anyio.move_on_after(deadline - anyio.current_time()):
                    await self._wake.wait()
            self._wake = anyio.Event()
            deadline = self._deadline
            if deadline is not None and anyio.current_time() >= deadline:
                self._deadline = None
                self.timer_fired(deadline)

    def _send(self, transmit: Transmit) -> None:
        if self._closed:
            return
        name = transmit.transport.upper()
        if name == "UDP":
            udp = self._udp[0] if self._udp else None
            for candidate in self._udp:
                if candidate.local == transmit.local:
                    udp = candidate
            if udp is None:
                self.send_failed(transmit.token, "no UDP socket: add Listen('udp', ...)")
                return
            host, port = transmit.remote
            if udp.raw is not None and not udp.queued and _is_ip(host):
                try:
                    udp.raw.sendto(transmit.data, (host.strip("[]"), port))
                except BlockingIOError:
                    pass  # the socket buffer is full: queue it for the writer task
                except OSError as exc:
                    self.send_failed(transmit.token, f"UDP send to {host}:{port} failed: {exc}")
                    return
                else:
                    return
            udp.queued += 1
            udp.out_send.send_nowait((transmit.data, transmit.remote, transmit.token))
        elif name in STREAM_TRANSPORTS and name not in ("WS", "WSS"):
            self._send_stream(name, transmit)
        else:
            self.send_failed(transmit.token, f"transport {name} is not supported by this adapter")

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
            assert self._tg is not None
            self._tg.start_soon(self._connect, key)
        pending.append((transmit.data, transmit.token))

    # -- tasks ---------------------------------------------------------------------------------

    async def _udp_reader(self, udp: _Udp) -> None:
        try:
            async for data, addr in udp.sock:
                self.datagram_in(data, _addr(addr), udp.local)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    async def _udp_writer(self, udp: _Udp) -> None:
        async for data, (name, port), token in udp.out_recv:
            udp.queued -= 1
            host = name.strip("[]")
            try:
                if not _is_ip(host):
                    infos = await anyio.getaddrinfo(host, port, type=2)  # SOCK_DGRAM
                    host = str(infos[0][4][0])
                await udp.sock.sendto(data, host, port)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            except OSError as exc:
                self.send_failed(token, f"UDP send to {host}:{port} failed: {exc}")

    async def _connect(self, key: tuple[str, Address]) -> None:
        name, (host, port) = key
        context: ssl.SSLContext | None = None
        if name in _SECURE:
            context = self._ssl_client or ssl.create_default_context()
        try:
            with anyio.fail_after(self._connect_timeout):
                stream: anyio.abc.ByteStream
                if context is None:
                    stream = await anyio.connect_tcp(host.strip("[]"), port)
                else:
                    stream = await anyio.connect_tcp(
                        host.strip("[]"),
                        port,
                        ssl_context=context,
                        tls_hostname=self._tls_server_name or host.strip("[]"),
                        tls_standard_compatible=False,
                    )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            detail = describe_connect_error(name, host, port, exc)
            for _, token in self._connecting.pop(key, []):
                self.send_failed(token, detail)
            return
        conn = _Conn(stream, name, self.now())
        self._attach(conn)
        self._by_peer[key] = conn
        for data, _ in self._connecting.pop(key, []):
            conn.send(data)
        await self._serve(conn, attached=True)

    def _attach(self, conn: _Conn) -> None:
        conn.handle = self.conn_open(conn.name, conn.remote, conn.local)
        self._conns[conn.handle.id] = conn
        self._by_peer.setdefault((conn.name, conn.remote), conn)

    async def _serve(self, conn: _Conn, *, attached: bool = False) -> None:
        if not attached:
            self._attach(conn)
        handle = conn.handle
        assert handle is not None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._conn_writer, conn)
                try:
                    while True:
                        data = await conn.stream.receive()
                        conn.last_activity = self.now()
                        self.stream_in(handle, data, conn.remote, conn.name)
                except anyio.EndOfStream:
                    self.stream_in(handle, b"", conn.remote, conn.name)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                    pass
                except ssl.SSLError as exc:
                    log.warning("TLS error on %s: %s", conn.remote, exc)
                conn.close()
        finally:
            self._detach(conn)

    async def _conn_writer(self, conn: _Conn) -> None:
        try:
            async for data in conn.out_recv:
                if data is None:
                    break
                conn.last_activity = self.now()
                await conn.stream.send(data)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            pass
        finally:
            conn.out_send.close()
            conn.out_recv.close()
            with anyio.CancelScope(shield=True):
                await conn.stream.aclose()

    def _detach(self, conn: _Conn) -> None:
        handle = conn.handle
        if handle is None or self._conns.pop(handle.id, None) is None:
            return
        for key, value in list(self._by_peer.items()):
            if value is conn:
                del self._by_peer[key]
        if not self._closed:
            self.conn_lost(handle, conn.remote, conn.name)

    async def _sweep_idle(self, idle: float) -> None:
        while True:
            await anyio.sleep(idle / 2)
            now = self.now()
            for conn in list(self._conns.values()):
                if now - conn.last_activity > idle:
                    conn.close()
