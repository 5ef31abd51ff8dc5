"""The asyncio Session: a sans-IO core wired to sockets and ``loop.call_at``.

.. code-block:: python

    async with Session(endpoint, listen=[Listen("udp", "127.0.0.1", 5060)]) as session:
        async for event in session:
            ...

UDP sockets are read and written directly (``loop.add_reader``, ``sock.sendto``: a burst
of datagrams costs one pump), TCP/TLS/WS/WSS go through stream protocols
(:mod:`sipsans_asyncio.protocols`), the single timer is a ``loop.call_at`` handle
re-armed after every pump, and ``now = loop.time()``. Everything else (settings, event
delivery, send routing, connection reuse, the awaitable calls) is
:class:`~sipsans_session.session.SessionBase`, shared with the anyio session.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any, Generic

from sipsans import Transmit
from sipsans_session.addresses import WS_TRANSPORTS, Address, is_ip, set_receive_buffer
from sipsans_session.driver import CoreT
from sipsans_session.limits import Ticket
from sipsans_session.routing import ConnKey, Dial
from sipsans_session.session import SessionBase
from sipsans_session.waits import Waiter

from .protocols import LISTEN_BACKLOG, StreamConn, StreamListener, UdpSocket

__all__ = ["Session"]

log = logging.getLogger("sipsans.adapter")


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


class Session(SessionBase[CoreT, StreamConn], Generic[CoreT]):
    """A sans-IO core on asyncio; the arguments are those of
    :class:`~sipsans_session.session.SessionBase`. ``await session.start()`` and
    ``await session.close()`` do what ``async with`` does."""

    #: Bind the listening sockets with ``SO_REUSEPORT`` (set before starting): several
    #: processes then share one port, the kernel spreading datagrams and connections
    #: among them by their source (``sipsans uas --workers N``). Linux and the BSDs.
    reuse_port = False

    def _init_io(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._udp: list[UdpSocket] = []
        self._listeners: list[StreamListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._soon: asyncio.Handle | None = None

    def _waiter(self) -> Waiter:
        assert self._loop is not None, "start the session first"
        return _FutureWaiter(self._loop)

    # -- life cycle --------------------------------------------------------------------------

    async def _open_io(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.driver.clock = loop.time
        self.driver.wake_at = self._wake_at

    async def _listen_on(
        self, name: str, host: str, port: int, context: ssl.SSLContext | None
    ) -> Address:
        assert self._loop is not None
        if name == "UDP":
            udp = UdpSocket(self.driver, await self._udp_socket(host, port))
            self._udp.append(udp)
            return udp.local
        sock = await self._tcp_socket(host, port)

        async def start(conn: socket.socket, ticket: Ticket) -> None:
            await self._serve_accepted(conn, ticket, name, context)

        listener = StreamListener(sock, name, self._admission, start, self._spawn)
        self._listeners.append(listener)
        return listener.local

    async def _tcp_socket(self, host: str, port: int) -> socket.socket:
        """A non-blocking listening TCP socket bound to ``host:port`` (as create_server
        makes one: SO_REUSEADDR, IPv6 only on an IPv6 address)."""
        assert self._loop is not None
        infos = await self._loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def _serve_accepted(
        self, conn: socket.socket, ticket: Ticket, name: str, context: ssl.SSLContext | None
    ) -> None:
        """Make the protocol of a connection a listener admitted (after its TLS
        handshake, bounded by ``connect_timeout``); its ticket goes with it."""
        assert self._loop is not None

        def protocol() -> StreamConn:
            made = self._protocol(name, client=False)
            made.ticket = ticket
            return made

        try:
            if context is None:
                await self._loop.connect_accepted_socket(protocol, conn)
            else:
                await self._loop.connect_accepted_socket(
                    protocol, conn, ssl=context, ssl_handshake_timeout=self._connect_timeout
                )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            log.debug("%s connection not set up: %s", name, exc)
            ticket.release()
            conn.close()

    async def _udp_socket(self, host: str, port: int) -> socket.socket:
        """A non-blocking UDP socket bound to ``host:port``, its receive buffer enlarged."""
        assert self._loop is not None
        infos = await self._loop.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            set_receive_buffer(sock, self._udp_receive_buffer)
            if self.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
        except BaseException:
            sock.close()
            raise
        return sock

    def _run_io(self) -> None:
        if self._router.idle_timeout is not None:
            self._sweep_idle()

    def _sweep_idle(self) -> None:
        interval = self._router.sweep_interval
        assert self._loop is not None and interval is not None
        self._router.close_idle()
        self._idle = self._loop.call_later(interval, self._sweep_idle)

    async def _close_io(self) -> None:
        for handle in (self._timer, self._idle, self._soon):
            if handle is not None:
                handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        for conn in self._router.connections():
            conn.close()
        for udp in self._udp:
            udp.close()
        for listener in self._listeners:
            listener.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let connection_lost callbacks run

    # -- the loop's part of the driver ---------------------------------------------------

    def _wake_at(self, deadline: float) -> None:
        """The driver's ``wake_at`` (set once the loop is known)."""
        if self._timer is not None:
            self._timer.cancel()
        assert self._loop is not None
        self._timer = self._loop.call_at(deadline, self.driver.fire)

    async def _addresses(self, host: str, family: str) -> list[str]:
        assert self._loop is not None
        kind = socket.AF_INET6 if family == "AAAA" else socket.AF_INET
        infos = await self._loop.getaddrinfo(host, None, family=kind, type=socket.SOCK_DGRAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def _pump_soon(self) -> None:
        if self._soon is None and self._loop is not None:
            self._soon = self._loop.call_soon(self._pump_now)

    def _pump_now(self) -> None:
        self._soon = None
        if not self.driver.closed:
            self.pump()

    def _send_udp(self, transmit: Transmit) -> None:
        udp = self._udp  # (the one-socket case inline: this runs for every datagram sent)
        sock = udp[0] if len(udp) == 1 else self._router.udp_for(udp, transmit)
        if sock is None:
            return
        remote = transmit.remote
        host = remote[0]
        if is_ip(host):
            if host[0] == "[":
                remote = (host[1:-1], remote[1])
            sock.sendto(transmit.data, remote, transmit.token)
        else:
            self._spawn(self._resolve_and_send(sock, transmit))

    async def _resolve_and_send(self, sock: UdpSocket, transmit: Transmit) -> None:
        assert self._loop is not None
        host, port = transmit.remote
        try:
            infos = await self._loop.getaddrinfo(host, port, type=2)  # SOCK_DGRAM
        except OSError as exc:
            self.driver.send_failed(transmit.token, f"cannot resolve {host}: {exc}")
            return
        sock.sendto(transmit.data, (str(infos[0][4][0]), int(infos[0][4][1])), transmit.token)

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dial(self, key: ConnKey) -> None:
        self._spawn(self._router.connect(key))

    async def _open_connection(self, dial: Dial) -> StreamConn:
        assert self._loop is not None
        conn: StreamConn | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await self._loop.create_connection(
                    lambda: self._protocol(dial.name, client=True, host=dial.host, port=dial.port),
                    dial.host,
                    dial.port,
                    ssl=dial.context,
                    server_hostname=dial.server_hostname,
                )
                await conn.ready  # attached once it can carry SIP (after a WS handshake)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return conn

    def _protocol(self, name: str, *, client: bool, host: str = "", port: int = 0) -> StreamConn:
        """The protocol object of a new ``name`` connection (WS/WSS frame their messages)."""
        if name in WS_TRANSPORTS:
            from .ws import WsConn  # noqa: PLC0415  (wsproto is the optional `ws` extra)

            return WsConn(
                self.driver,
                self._router,
                name,
                client=client,
                host=host,
                port=port,
                handshake_timeout=self._connect_timeout,
            )
        return StreamConn(self.driver, self._router, name, client=client)
