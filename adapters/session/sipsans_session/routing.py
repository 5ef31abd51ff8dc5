"""Where each transmit goes: a UDP socket, or a stream connection reused or opened.

:class:`Router` is the driver's ``send``: it hands a UDP transmit to the session's UDP
sending, writes a stream transmit on the connection the core named, or, when the core
named none (a request to a new peer, RFC 3261 §18.1.1), on the connection open to that
``(transport, remote)``, dialling one when there is none yet and holding the sends that
wait for it. It keeps the connection tables and tells the core when a connection starts
or stops carrying SIP. The session supplies the loop's part as callables: sending a
datagram, starting a dial, opening a connection.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sipsans import ConnHandle, Transmit

from .addresses import SECURE_TRANSPORTS, STREAM_TRANSPORTS, Address
from .driver import Driver
from .errors import TransportError, describe_connect_error

__all__ = ["SWEEP_INTERVAL", "Conn", "ConnKey", "Dial", "Router"]

log = logging.getLogger("sipsans.adapter")

#: Longest seconds between two sweeps for idle connections (or half the idle timeout).
SWEEP_INTERVAL = 5.0

#: A connection's SIP transport and remote address: what the core reuses it for.
ConnKey = tuple[str, Address]


class Conn(Protocol):
    """A stream connection as the router sees it (TCP, TLS, WS or WSS)."""

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


class Router(Generic[ConnT]):
    """Transmit routing and the connection tables of one session.

    ``send_udp(transmit)`` sends a datagram on the session's loop; ``dial(key)`` starts
    a task that calls :meth:`connect` for ``key``; ``open_connection(dial)`` opens (and
    :meth:`attach`-es) a connection ready for SIP, raising OSError/SSLError if it cannot.
    TLS and WSS connections are opened with ``ssl_client`` (by default
    ``ssl.create_default_context()``) and verify ``tls_server_name`` (by default the
    host dialled). Connections quiet for ``idle_timeout`` seconds are closed by
    :meth:`close_idle`.
    """

    __slots__ = (
        "_by_peer",
        "_connecting",
        "_conns",
        "_dial",
        "_driver",
        "_open_connection",
        "_send_udp",
        "idle_timeout",
        "server_names",
        "ssl_client",
        "tls_server_name",
    )

    def __init__(
        self,
        driver: Driver[Any],
        *,
        send_udp: Callable[[Transmit], None],
        dial: Callable[[ConnKey], None],
        open_connection: Callable[[Dial], Awaitable[ConnT]],
        ssl_client: ssl.SSLContext | None = None,
        tls_server_name: str | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self._driver = driver
        self._send_udp = send_udp
        self._dial = dial
        self._open_connection = open_connection
        self.ssl_client = ssl_client
        self.tls_server_name = tls_server_name
        self.idle_timeout = idle_timeout
        #: The name to verify a TLS/WSS peer's certificate against, by (transport,
        #: address), when not its host: the URI's domain a resolver found it for
        #: (RFC 5922 §4). ``tls_server_name`` wins over it.
        self.server_names: dict[ConnKey, str] = {}
        self._conns: dict[int, ConnT] = {}
        self._by_peer: dict[ConnKey, ConnT] = {}
        #: Sends waiting for a connection being opened: ``(data, token)`` per key.
        self._connecting: dict[ConnKey, list[tuple[bytes, int]]] = {}

    # -- sending --------------------------------------------------------------------------------

    def send(self, transmit: Transmit) -> None:
        """Send one transmit of the core (nothing once the driver is closed)."""
        if self._driver.closed:
            return
        name = transmit.transport
        if name == "UDP" or (name := name.upper()) == "UDP":
            self._send_udp(transmit)
        elif name in STREAM_TRANSPORTS:
            self._send_stream(name, transmit)
        else:
            self._driver.send_failed(
                transmit.token, f"transport {name} is not supported by this adapter"
            )

    def udp_for(self, sockets: Sequence[UdpT], transmit: Transmit) -> UdpT | None:
        """The UDP socket bound to ``transmit.local`` (the core's choice), else the first
        one; None (and the send fails) when the session has none."""
        if len(sockets) == 1:
            return sockets[0]  # (the usual case, whatever transmit.local says)
        if transmit.local is not None:
            for sock in sockets:
                if sock.local == transmit.local:
                    return sock
        if not sockets:
            self._driver.send_failed(
                transmit.token, "no UDP socket: add Listen('udp', ...) to send UDP"
            )
            return None
        return sockets[0]

    def _send_stream(self, name: str, transmit: Transmit) -> None:
        if transmit.conn is not None:
            conn = self._conns.get(transmit.conn.id)
            if conn is None:
                if not transmit.close:
                    self._driver.send_failed(
                        transmit.token, f"connection {transmit.conn.id} is closed"
                    )
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

    async def connect(self, key: ConnKey) -> ConnT | None:
        """Open the connection ``key`` names and flush the sends waiting for it; on
        failure each of them fails with the reason (refused, TLS verification, ...)."""
        try:
            conn = await self._open(key)
        except TransportError as exc:
            for _, token in self._connecting.pop(key, []):
                self._driver.send_failed(token, str(exc))
            return None
        self._by_peer[key] = conn
        for data, _ in self._connecting.pop(key, []):
            conn.send(data)
        return conn

    async def connection_to(self, key: ConnKey) -> ConnT:
        """The connection open to ``key``, opened now when there is none (for a client
        that must know where its connection ends before it sends: the address a TLS
        client without a certificate of its own advertises). Raises TransportError."""
        existing = self._by_peer.get(key)
        if existing is not None:
            return existing
        conn = await self._open(key)
        self._by_peer.setdefault(key, conn)
        return conn

    async def _open(self, key: ConnKey) -> ConnT:
        name, (host, port) = key
        dial = Dial(name, host.strip("[]"), port)
        if name in SECURE_TRANSPORTS:
            dial.context = self.ssl_client or ssl.create_default_context()
            dial.server_hostname = (
                self.tls_server_name or self.server_names.get((name, (host, port))) or dial.host
            )
        try:
            return await self._open_connection(dial)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise TransportError(describe_connect_error(name, host, port, exc)) from exc

    # -- connection bookkeeping -------------------------------------------------------------

    def attach(self, conn: ConnT) -> ConnHandle:
        """A connection can carry SIP: tell the core, which names it by the handle."""
        handle = conn.handle = self._driver.conn_open(conn.name, conn.remote, conn.local)
        self._conns[handle.id] = conn
        self._by_peer.setdefault((conn.name, conn.remote), conn)
        return handle

    def detach(self, conn: ConnT) -> None:
        """A connection is gone: forget it and tell the core (unless closed)."""
        handle = conn.handle
        if handle is None or self._conns.pop(handle.id, None) is None:
            return
        for key, value in list(self._by_peer.items()):
            if value is conn:
                del self._by_peer[key]
        if not self._driver.closed:
            self._driver.conn_lost(handle)

    def connections(self) -> list[ConnT]:
        """Every connection that carries SIP now."""
        return list(self._conns.values())

    def stats(self) -> dict[str, int]:
        """Sizes of the connection tables."""
        return {
            "stream_connections": len(self._conns),
            "stream_peers": len(self._by_peer),
            "dialling": len(self._connecting),
        }

    @property
    def sweep_interval(self) -> float | None:
        """Seconds between two :meth:`close_idle` sweeps (None: no idle timeout): a
        connection is closed at most this long after its idle timeout."""
        if self.idle_timeout is None:
            return None
        return min(self.idle_timeout / 2, SWEEP_INTERVAL)

    def close_idle(self) -> None:
        """Close the connections over which no complete message passed for longer than
        ``idle_timeout`` (their ``last_activity``: see the session's I/O objects)."""
        if self.idle_timeout is None:
            return
        now = self._driver.now()
        for conn in list(self._conns.values()):
            if now - conn.last_activity > self.idle_timeout:
                log.debug("closing idle %s connection to %s", conn.name, conn.remote)
                conn.close()
