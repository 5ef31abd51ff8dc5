"""The anyio Session: a sans-IO core in a task group, on asyncio or trio.

Tasks: one receive loop per UDP socket and stream connection, one writer per socket
and connection (fed by an unbounded memory stream, so that the pump never blocks),
listener tasks for TCP/TLS/WS/WSS, one timer task sleeping until
``core.get_next_timer()`` on ``anyio.current_time()``, and an idle-connection sweeper.
WebSocket connections (RFC 7118, the ``ws`` extra) go through the same
:class:`~sipsans_session.rfc7118.SipWebSocket` as the asyncio adapter's. Everything
that does not touch the loop (settings, event delivery, send routing, connection reuse,
the awaitable calls) is the shared :class:`~sipsans_session.session.SessionBase`; no SIP
logic lives here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import ssl
from typing import TYPE_CHECKING, Any, Generic, cast

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from anyio.streams.tls import TLSStream

from sipsans import ConnHandle, Transmit
from sipsans_session.addresses import WS_TRANSPORTS, Address, is_ip, set_receive_buffer
from sipsans_session.driver import CoreT
from sipsans_session.limits import ACCEPT_RETRY_DELAY, Ticket
from sipsans_session.routing import ConnKey, Dial
from sipsans_session.session import SessionBase
from sipsans_session.waits import Waiter

if TYPE_CHECKING:
    from sipsans_session.rfc7118 import SipWebSocket

__all__ = ["Session"]

log = logging.getLogger("sipsans.adapter")

_GONE = (anyio.ClosedResourceError, anyio.BrokenResourceError)


def _addr(value: Any) -> Address:
    return (str(value[0]), int(value[1]))


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
    """One stream connection; a WebSocket one frames each SIP message it sends."""

    def __init__(
        self, stream: anyio.abc.ByteStream, name: str, now: float, ws: SipWebSocket | None
    ) -> None:
        self.stream = stream
        self.name = name
        self.ws = ws
        self.remote = _addr(stream.extra(anyio.abc.SocketAttribute.remote_address))
        self.local = _addr(stream.extra(anyio.abc.SocketAttribute.local_address))
        self.handle: ConnHandle | None = None
        self.last_activity = now
        #: SIP messages that arrived with the WebSocket handshake, for the core.
        self.early: list[bytes] = []
        self.out_send: MemoryObjectSendStream[bytes | None]
        self.out_recv: MemoryObjectReceiveStream[bytes | None]
        self.out_send, self.out_recv = anyio.create_memory_object_stream[bytes | None](math.inf)

    def send(self, data: bytes) -> None:
        """Queue one SIP message (one WebSocket message on WS/WSS) for the writer task."""
        self.write(self.ws.frame(data) if self.ws is not None else data)

    def write(self, data: bytes | None) -> None:
        """Queue raw bytes for the writer task; None closes the connection."""
        with contextlib.suppress(*_GONE):
            self.out_send.send_nowait(data)

    def close(self) -> None:
        """Close (a WebSocket with a Close frame first, RFC 6455 §7.1.2)."""
        if self.ws is not None and (frame := self.ws.close()):
            self.write(frame)
        self.write(None)


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


def _websocket(name: str, *, client: bool, host: str = "", port: int = 0) -> SipWebSocket | None:
    if name not in WS_TRANSPORTS:
        return None
    from sipsans_session.rfc7118 import SipWebSocket  # noqa: PLC0415  (the optional `ws` extra)

    return SipWebSocket(client=client, host=host, port=port)


async def _ws_handshake(stream: anyio.abc.ByteStream, ws: SipWebSocket) -> list[bytes]:
    """The RFC 7118 upgrade on a new connection; returns the SIP messages that came
    with it. Raises ConnectionError when it fails."""
    try:
        if ws.client:
            await stream.send(ws.handshake())
        while True:
            got = ws.receive(await stream.receive())
            if got.send:
                await stream.send(got.send)
            if got.error is not None:
                raise ConnectionError(got.error)
            if got.ready:
                return got.messages
    except (anyio.EndOfStream, *_GONE):
        raise ConnectionError("connection closed during the WebSocket handshake") from None


class Session(SessionBase[CoreT, _Conn], Generic[CoreT]):
    """A sans-IO core on anyio (asyncio or trio); the arguments are those of
    :class:`~sipsans_session.session.SessionBase`."""

    def _init_io(self) -> None:
        self.driver.clock = anyio.current_time
        self.driver.wake_at = self._wake_at
        self._tg: anyio.abc.TaskGroup | None = None
        self._wake = anyio.Event()
        #: Set by _pump_soon: the timer task pumps when it next runs.
        self._pump_asked = False
        self._udp: list[_Udp] = []
        self._listeners: list[anyio.abc.SocketListener] = []

    def _waiter(self) -> Waiter:
        return _EventWaiter()

    # -- life cycle ----------------------------------------------------------------------

    async def _open_io(self) -> None:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg

    async def _listen_on(
        self, name: str, host: str, port: int, context: ssl.SSLContext | None
    ) -> Address:
        assert self._tg is not None
        if name == "UDP":
            udp = _Udp(await anyio.create_udp_socket(local_host=host, local_port=port))
            set_receive_buffer(udp.raw, self._udp_receive_buffer)
            self._udp.append(udp)
            self._tg.start_soon(self._udp_reader, udp)
            self._tg.start_soon(self._udp_writer, udp)
            return udp.local
        tcp = await anyio.create_tcp_listener(local_host=host, local_port=port)
        for each in tcp.listeners:  # (a host name may give one per address family)
            listener = cast(anyio.abc.SocketListener, each)  # (what create_tcp_listener makes)
            self._listeners.append(listener)
            self._tg.start_soon(self._accept_loop, listener, name, context)
        return _addr(tcp.listeners[0].extra(anyio.abc.SocketAttribute.local_address))

    def _run_io(self) -> None:
        assert self._tg is not None
        self._tg.start_soon(self._timer_task)
        interval = self._router.sweep_interval
        if interval is not None:
            self._tg.start_soon(self._sweep_idle, interval)

    async def _end_dialogs(self) -> None:
        # Closing may come from a cancelled scope: the BYEs and CANCELs still go out.
        with anyio.CancelScope(shield=True):
            await super()._end_dialogs()

    async def _close_io(self) -> None:
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
            for conn in self._router.connections():
                conn.out_send.close()
                conn.out_recv.close()
                await conn.stream.aclose()

    # -- the loop's part of the driver -------------------------------------------------------

    def _wake_at(self, deadline: float) -> None:
        """The driver's ``wake_at``: the timer task reads the new deadline."""
        self._wake.set()

    def _pump_soon(self) -> None:
        self._pump_asked = True
        self._wake.set()

    async def _timer_task(self) -> None:
        driver = self.driver
        while True:
            deadline = driver.deadline
            if deadline is None:
                await self._wake.wait()
            else:
                with anyio.move_on_after(deadline - anyio.current_time()):
                    await self._wake.wait()
            self._wake = anyio.Event()
            if self._pump_asked:
                self._pump_asked = False
                driver.pump()
            deadline = driver.deadline
            if deadline is not None and anyio.current_time() >= deadline:
                driver.fire()

    async def _addresses(self, host: str, family: str) -> list[str]:
        kind = socket.AF_INET6 if family == "AAAA" else socket.AF_INET
        infos = await anyio.getaddrinfo(host, None, family=kind, type=socket.SOCK_DGRAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def _send_udp(self, transmit: Transmit) -> None:
        udp = self._router.udp_for(self._udp, transmit)
        if udp is None:
            return
        host, port = transmit.remote
        if udp.raw is not None and not udp.queued and is_ip(host):
            try:
                udp.raw.sendto(transmit.data, (host.strip("[]"), port))
            except BlockingIOError:
                pass  # the socket buffer is full: queue it for the writer task
            except OSError as exc:
                self.driver.send_failed(transmit.token, f"UDP send to {host}:{port} failed: {exc}")
                return
            else:
                return
        udp.queued += 1
        udp.out_send.send_nowait((transmit.data, transmit.remote, transmit.token))

    def _dial(self, key: ConnKey) -> None:
        assert self._tg is not None
        self._tg.start_soon(self._connect_and_serve, key)

    async def _open_connection(self, dial: Dial) -> _Conn:
        ws = _websocket(dial.name, client=True, host=dial.host, port=dial.port)
        with anyio.fail_after(self._connect_timeout):
            stream: anyio.abc.ByteStream
            if dial.context is None:
                stream = await anyio.connect_tcp(dial.host, dial.port)
            else:
                stream = await anyio.connect_tcp(
                    dial.host,
                    dial.port,
                    ssl_context=dial.context,
                    tls_hostname=dial.server_hostname or dial.host,
                    tls_standard_compatible=False,
                )
            early = await self._upgrade(stream, ws)
        conn = _Conn(stream, dial.name, self.now(), ws)
        conn.early = early
        self._router.attach(conn)
        return conn

    async def _upgrade(self, stream: anyio.abc.ByteStream, ws: SipWebSocket | None) -> list[bytes]:
        """The WebSocket handshake when ``ws`` is set (closing the stream if it fails)."""
        if ws is None:
            return []
        try:
            return await _ws_handshake(stream, ws)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise

    # -- tasks ---------------------------------------------------------------------------------

    async def _udp_reader(self, udp: _Udp) -> None:
        try:
            datagram_in = self.driver.datagram_in
            async for data, addr in udp.sock:
                datagram_in(data, _addr(addr), udp.local)
        except _GONE:
            pass

    async def _udp_writer(self, udp: _Udp) -> None:
        async for data, (name, port), token in udp.out_recv:
            udp.queued -= 1
            host = name.strip("[]")
            try:
                if not is_ip(host):
                    infos = await anyio.getaddrinfo(host, port, type=2)  # SOCK_DGRAM
                    host = str(infos[0][4][0])
                await udp.sock.sendto(data, host, port)
            except _GONE:
                return
            except OSError as exc:
                self.driver.send_failed(token, f"UDP send to {host}:{port} failed: {exc}")

    async def _connect_and_serve(self, key: ConnKey) -> None:
        conn = await self._router.connect(key)
        if conn is not None:
            await self._serve(conn)

    async def _accept_loop(
        self,
        listener: anyio.abc.SocketListener,
        name: str,
        context: ssl.SSLContext | None,
    ) -> None:
        """Accept connections on ``listener`` (the session's own loop rather than
        ``Listener.serve``, which ends at the first failed accept): each one admitted by
        the connection limits is set up in a task of its own; out of file descriptors,
        wait and try again (:mod:`sipsans_session.limits`)."""
        assert self._tg is not None
        local = _addr(listener.extra(anyio.abc.SocketAttribute.local_address))
        where = f"{name} {local[0]}:{local[1]}"
        admission = self._admission
        while True:
            try:
                stream = await listener.accept()
            except anyio.ClosedResourceError:
                return
            except (OSError, anyio.BrokenResourceError) as exc:
                # (anyio on trio reports an OSError of accept() as BrokenResourceError)
                error = exc if isinstance(exc, OSError) else exc.__cause__
                if not isinstance(error, OSError):
                    return
                if not admission.accept_failed(listener, where, error):
                    log.warning("accept on %s failed: %s", where, error)
                await anyio.sleep(ACCEPT_RETRY_DELAY)
                continue
            admission.accepted(listener, where)
            remote = stream.extra(anyio.abc.SocketAttribute.remote_address)
            ticket = admission.admit(listener, name, str(remote[0]))
            if ticket is None:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
                continue
            self._tg.start_soon(self._accept, stream, name, context, ticket)

    async def _accept(
        self,
        stream: anyio.abc.ByteStream,
        name: str,
        context: ssl.SSLContext | None,
        ticket: Ticket,
    ) -> None:
        """Set up an admitted connection (TLS and WebSocket handshakes, bounded by
        ``connect_timeout``) and serve it; its place in the limits goes when it ends."""
        try:
            ws = _websocket(name, client=False)
            try:
                with anyio.fail_after(self._connect_timeout):
                    if context is not None:
                        stream = await TLSStream.wrap(
                            stream, server_side=True, ssl_context=context,
                            standard_compatible=False,
                        )  # fmt: skip
                    early = await self._upgrade(stream, ws)
            except (OSError, TimeoutError, ssl.SSLError, anyio.EndOfStream, *_GONE) as exc:
                log.debug("%s connection not set up: %s", name, exc)
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
                return
            conn = _Conn(stream, name, self.now(), ws)
            conn.early = early
            self._router.attach(conn)
            await self._serve(conn)
        finally:
            ticket.release()

    async def _serve(self, conn: _Conn) -> None:
        """Read an attached connection until it ends, feeding the core."""
        handle = conn.handle
        assert handle is not None
        stream_in = self.driver.stream_in
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._conn_writer, conn)
                for message in conn.early:
                    stream_in(handle, message)
                try:
                    while await self._read(conn):
                        pass
                except anyio.EndOfStream:
                    stream_in(handle, b"")
                except (*_GONE, OSError):
                    pass
                except ssl.SSLError as exc:
                    log.warning("TLS error on %s: %s", conn.remote, exc)
                conn.close()
        finally:
            self._router.detach(conn)

    async def _read(self, conn: _Conn) -> bool:
        """Feed one received chunk to the core; False once the connection must end. A
        complete message among it (the core acted on it) or a WebSocket ping is
        activity; bytes of an unfinished message are not."""
        data = await conn.stream.receive()
        handle = conn.handle
        assert handle is not None
        stream_in = self.driver.stream_in
        if conn.ws is None:
            if stream_in(handle, data):
                conn.last_activity = self.now()
            return True
        got = conn.ws.receive(data)
        if got.send:
            conn.write(got.send)
            conn.last_activity = self.now()
        for message in got.messages:
            if stream_in(handle, message):
                conn.last_activity = self.now()
        if got.error is not None:
            log.warning("%s connection to %s: %s", conn.name, conn.remote, got.error)
            return False
        if got.closed:
            self.driver.stream_in(handle, b"")
            return False
        return True

    async def _conn_writer(self, conn: _Conn) -> None:
        try:
            async for data in conn.out_recv:
                if data is None:
                    break
                conn.last_activity = self.now()
                await conn.stream.send(data)
        except (*_GONE, anyio.EndOfStream, OSError):
            pass  # (EndOfStream: the peer ended its TLS stream, e.g. before our Close frame)
        finally:
            conn.out_send.close()
            conn.out_recv.close()
            with anyio.CancelScope(shield=True):
                await conn.stream.aclose()

    async def _sweep_idle(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            self._router.close_idle()
