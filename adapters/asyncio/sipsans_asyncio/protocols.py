"""asyncio protocol objects: one UDP socket, one stream connection (TCP/TLS, or WS/WSS).

They only move bytes between sockets and the :class:`~sipsans_asyncio.session.Session`;
the session talks to the core.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from sipsans import ConnHandle

from .base import WS_TRANSPORTS, set_receive_buffer
from .driver import Address

if TYPE_CHECKING:
    from .session import Session

__all__ = ["StreamConn", "UdpSocket", "make_conn"]


def _addr(info: Any) -> Address:
    return (str(info[0]), int(info[1]))


class UdpSocket(asyncio.DatagramProtocol):
    """One bound UDP socket."""

    def __init__(self, session: Session[Any]) -> None:
        self.session = session
        self.transport: asyncio.DatagramTransport | None = None
        self.local: Address = ("0.0.0.0", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.local = _addr(transport.get_extra_info("sockname"))
        set_receive_buffer(transport.get_extra_info("socket"), self.session._udp_receive_buffer)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.session.datagram_in(data, (str(addr[0]), int(addr[1])), self.local)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors carry no address we could map to a transaction; log only.
        self.session.udp_error(self, exc)

    def sendto(self, data: bytes, remote: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(data, remote)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class StreamConn(asyncio.Protocol):
    """One TCP or TLS connection, accepted or opened; the core knows it as ``handle``."""

    def __init__(self, session: Session[Any], name: str, *, client: bool) -> None:
        self.session = session
        self.name = name  # "TCP", "TLS", "WS" or "WSS": the SIP transport
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.handle: ConnHandle | None = None
        self.remote: Address = ("", 0)
        self.local: Address = ("", 0)
        self.last_activity = 0.0
        #: Set when the connection can carry SIP (at once for TCP/TLS, after the
        #: WebSocket handshake for WS/WSS), or failed before that.
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.remote = _addr(transport.get_extra_info("peername"))
        self.local = _addr(transport.get_extra_info("sockname"))
        self.last_activity = self.session.now()
        self.opened()

    def opened(self) -> None:
        self._become_ready()

    def _become_ready(self) -> None:
        self.handle = self.session.attach(self)
        if not self.ready.done():
            self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.session.now()
        self.sip_in(data)

    def sip_in(self, data: bytes) -> None:
        if self.handle is not None:
            self.session.stream_in(self.handle, data, self.remote, self.name)

    def eof_received(self) -> bool | None:
        self.sip_in(b"")
        return None  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.not_ready(f"connection closed: {exc}")
        self.session.detach(self)

    def not_ready(self, reason: str) -> None:
        """The connection failed before it could carry SIP: fail the dialler's wait."""
        if self.client and not self.ready.done():  # (nobody waits on an accepted one)
            self.ready.set_exception(ConnectionError(reason))

    def send(self, data: bytes) -> None:
        """Write SIP bytes."""
        if self.transport is not None and not self.transport.is_closing():
            self.last_activity = self.session.now()
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def make_conn(
    session: Session[Any], name: str, *, client: bool, host: str = "", port: int = 0
) -> StreamConn:
    if name in WS_TRANSPORTS:
        from .ws import WsConn  # noqa: PLC0415  (wsproto is the optional `ws` extra)

        return WsConn(session, name, client=client, host=host, port=port)
    return StreamConn(session, name, client=client)
