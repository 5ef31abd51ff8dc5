"""asyncio I/O objects: one UDP socket, one stream listener, one stream connection
(TCP/TLS, or WS/WSS).

They only move bytes between sockets and the session's parts: what they read goes to
its :class:`~sipsans_session.driver.Driver` (which talks to the core), a connection
starts and stops carrying SIP through its :class:`~sipsans_session.routing.Router`, and
a listener admits connections through its :class:`~sipsans_session.limits.Admission`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import select
import socket
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, cast

from sipsans import ConnHandle
from sipsans_session.addresses import Address
from sipsans_session.driver import Driver
from sipsans_session.icmp import IcmpErrors
from sipsans_session.limits import ACCEPT_RETRY_DELAY, Admission, Ticket
from sipsans_session.routing import Router

__all__ = ["MAX_ACCEPTS", "MAX_BURST", "StreamConn", "StreamListener", "UdpSocket"]

#: Datagrams read at most each time a UDP socket wakes the loop, before one pump (so that
#: a busy socket still lets the loop's other callbacks and timers run in between).
MAX_BURST = 32
log = logging.getLogger("sipsans.adapter")

#: Connections accepted at most each time a listening socket wakes the loop.
MAX_ACCEPTS = 32
#: Backlog of a listening socket (as asyncio's create_server).
LISTEN_BACKLOG = 100

#: The largest UDP payload (RFC 768 length field, minus the headers, rounded up).
_MAX_DATAGRAM = 65535


def _addr(info: Any) -> Address:
    return (str(info[0]), int(info[1]))


class UdpSocket:
    """One bound, non-blocking UDP socket, read and written directly by the session.

    The loop wakes :meth:`_read_ready` when datagrams wait; it feeds every one of them
    (up to :data:`MAX_BURST`) to the core and then pumps once. A burst thus costs one
    pump rather than one per datagram, and no other callback can run between the core
    taking a datagram and its events being delivered (the core's state and the events
    the application has seen never drift apart). Sends go straight to ``sendto``; only
    when the kernel's send buffer is full are datagrams queued until it drains.

    After the first datagram a zero-timeout ``poll`` tells whether another one waits:
    the other way to find the end of a burst, one more ``recvfrom``, raises
    BlockingIOError, which costs about eight times the instructions (some 8,000 against
    1,000 on CPython 3.11; 1.7 against 0.7 µs), and at a light load a wake-up finds a
    single datagram. When one more waits, it is a burst, and the rest is read until
    ``recvfrom`` finds none: under ``sipp -sn uac`` at 2,000 calls/s a wake-up finds
    13 datagrams on average, and one failing ``recvfrom`` per wake-up is two system
    calls per call less than a ``poll`` per datagram.
    """

    def __init__(self, driver: Driver[Any], sock: socket.socket) -> None:
        self.driver = driver
        self.sock = sock
        self.local: Address = _addr(sock.getsockname())
        self._loop = asyncio.get_running_loop()
        self._backlog: deque[tuple[bytes, Address, int]] = deque()
        #: ICMP errors about what we sent (RFC 3261 §18.4), where the socket reports them.
        self._icmp = IcmpErrors(sock, driver.send_failed)
        #: Truthy when a datagram waits (None without ``select.poll``: read to EAGAIN).
        self._waiting: Callable[[], object] | None = None
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            self._waiting = functools.partial(poller.poll, 0)
        self._loop.add_reader(sock.fileno(), self._read_ready)

    def _read_ready(self) -> None:
        recvfrom, waiting = self.sock.recvfrom, self._waiting
        driver, local = self.driver, self.local
        fed = False
        try:
            for _ in range(MAX_BURST):
                try:
                    data, addr = recvfrom(_MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # an ICMP error queued on the socket
                    log.debug("UDP error on %s: %s", local, exc)
                    self._icmp.drain()
                    continue
                # IPv4 gives (host, port) already; IPv6 adds flowinfo and scope id.
                driver.feed_datagram(data, addr if len(addr) == 2 else addr[:2], local)
                fed = True
                if waiting is not None:
                    if not waiting():
                        break
                    waiting = None  # a burst: read on until recvfrom finds nothing
        finally:
            if fed:
                driver.pump()

    def sendto(self, data: bytes, remote: Address, token: int = 0) -> None:
        """Send one datagram now, or queue it behind those waiting for buffer space."""
        if token:
            self._icmp.sent(remote, token)
        if self._backlog:
            self._backlog.append((data, remote, token))
            return
        try:
            self.sock.sendto(data, remote)
        except (BlockingIOError, InterruptedError):
            self._backlog.append((data, remote, token))
            self._loop.add_writer(self.sock.fileno(), self._write_ready)
        except OSError as exc:
            if self._send_failed(data, remote, token, exc):
                self._backlog.append((data, remote, token))
                self._loop.add_writer(self.sock.fileno(), self._write_ready)

    def _write_ready(self) -> None:
        backlog = self._backlog
        while backlog:
            data, remote, token = backlog[0]
            try:
                self.sock.sendto(data, remote)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if self._send_failed(data, remote, token, exc):
                    return
            backlog.popleft()
        self._loop.remove_writer(self.sock.fileno())

    def _send_failed(self, data: bytes, remote: Address, token: int, exc: OSError) -> bool:
        """``sendto`` raised ``exc``. With ICMP errors reported, that may be the error
        of an earlier datagram (Linux hands a pending one to the next send, wherever it
        goes): the queue is read, which fails the request it was about, and the
        datagram sent again. Returns True when it must wait for buffer space."""
        if self._icmp.reported:
            self._icmp.drain()
            try:
                self.sock.sendto(data, remote)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as again:
                exc = again
            else:
                return False
        self.driver.send_failed(token, f"UDP send to {remote[0]}:{remote[1]} failed: {exc}")
        return False

    def close(self) -> None:
        if self.sock.fileno() < 0:
            return
        self._loop.remove_reader(self.sock.fileno())
        self._loop.remove_writer(self.sock.fileno())
        self._backlog.clear()
        self.sock.close()


class StreamListener:
    """A listening TCP socket (for TCP, TLS, WS or WSS) whose accepts the session does
    itself rather than through ``loop.create_server``, for two reasons (DESIGN.md §6,
    :mod:`sipsans_session.limits`): a connection over the limits is closed before any
    TLS handshake, and running out of file descriptors costs one log line a second.
    (asyncio's own accept loop logs a traceback for each of up to 100 failed accepts per
    wake-up and re-arms as many retries: some 20 MB of log a minute.)

    ``start(sock, ticket)`` makes the connection's protocol over an accepted socket (a
    coroutine, run as a task); ``spawn`` runs it."""

    def __init__(
        self,
        sock: socket.socket,
        name: str,
        admission: Admission,
        start: Callable[[socket.socket, Ticket], Coroutine[Any, Any, None]],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.sock = sock
        self.name = name
        self.local: Address = _addr(sock.getsockname())
        self.where = f"{name} {self.local[0]}:{self.local[1]}"
        self._admission = admission
        self._start = start
        self._spawn = spawn
        self._loop = asyncio.get_running_loop()
        self._retry: asyncio.TimerHandle | None = None
        self._loop.add_reader(sock.fileno(), self._accept_ready)

    def _accept_ready(self) -> None:
        admission, accept = self._admission, self.sock.accept
        for _ in range(MAX_ACCEPTS):
            try:
                conn, addr = accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if admission.accept_failed(self, self.where, exc):
                    self._pause()  # out of descriptors: the kernel keeps the backlog
                else:
                    log.warning("accept on %s failed: %s", self.where, exc)
                return
            admission.accepted(self, self.where)
            ticket = admission.admit(self, self.name, str(addr[0]))
            if ticket is None:
                conn.close()
                continue
            conn.setblocking(False)
            self._spawn(self._start(conn, ticket))

    def _pause(self) -> None:
        self._loop.remove_reader(self.sock.fileno())
        self._retry = self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume)

    def _resume(self) -> None:
        self._retry = None
        if self.sock.fileno() >= 0:
            self._loop.add_reader(self.sock.fileno(), self._accept_ready)
            self._accept_ready()

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        if self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()


class StreamConn(asyncio.Protocol):
    """One TCP or TLS connection, accepted or opened; the core knows it as ``handle``.

    ``last_activity`` is the time of the last complete message received (or sent): the
    core acted on what came in, so a peer dribbling bytes of a message it never ends is
    idle (:meth:`~sipsans_session.routing.Router.close_idle`). An accepted connection
    holds its ``ticket`` (its place in the connection limits) until it is lost."""

    def __init__(
        self, driver: Driver[Any], router: Router[StreamConn], name: str, *, client: bool
    ) -> None:
        self.driver = driver
        self.router = router
        self.name = name  # "TCP", "TLS", "WS" or "WSS": the SIP transport
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.handle: ConnHandle | None = None
        self.remote: Address = ("", 0)
        self.local: Address = ("", 0)
        self.last_activity = 0.0
        self.ticket: Ticket | None = None
        #: Set when the connection can carry SIP (at once for TCP/TLS, after the
        #: WebSocket handshake for WS/WSS), or failed before that.
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.remote = _addr(transport.get_extra_info("peername"))
        self.local = _addr(transport.get_extra_info("sockname"))
        self.last_activity = self.driver.now()
        self.opened()

    def opened(self) -> None:
        self._become_ready()

    def _become_ready(self) -> None:
        self.handle = self.router.attach(self)
        if not self.ready.done():
            self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.sip_in(data)

    def sip_in(self, data: bytes) -> None:
        """SIP bytes for the core; a complete message among them is activity."""
        if self.handle is not None and self.driver.stream_in(self.handle, data):
            self.last_activity = self.driver.now()

    def eof_received(self) -> bool | None:
        self.sip_in(b"")
        return None  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.not_ready(f"connection closed: {exc}")
        self.router.detach(self)
        if self.ticket is not None:
            self.ticket.release()

    def not_ready(self, reason: str) -> None:
        """The connection failed before it could carry SIP: fail the dialler's wait."""
        if self.client and not self.ready.done():  # (nobody waits on an accepted one)
            self.ready.set_exception(ConnectionError(reason))

    def send(self, data: bytes) -> None:
        """Write SIP bytes."""
        if self.transport is not None and not self.transport.is_closing():
            self.last_activity = self.driver.now()
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
