"""The stream connections an Endpoint knows (RFC 3261 §18: TCP, TLS, WebSocket), and
their CRLF keep-alives (RFC 5626 §3.5.1, §4.4.1).

The adapter registers each connection it accepts or opens; the Endpoint reads its
bytes through the connection's framer, sends a request's retransmissions and its ACK
on the connection the request went out on, and sends responses back on the connection
the request came in on (§18.2.2). :class:`Connections` is that bookkeeping: handles,
the connection of each peer (reused for new requests, §18.1.1), and the transactions
that send on each connection, so that losing it can be reported to each (§17.1.4).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..config import ParserLimits
from ..errors import LocalProtocolError
from ..message.framing import StreamFramer
from .timers import TimerEntry, TimerHeap, TimerKind
from .transport import Address, ConnHandle, Source, Transmit

__all__ = ["NO_PONG", "Connection", "Connections", "KeepAlives"]

#: RFC 5626 §3.5.1: a ping is a double CRLF, its pong a single one.
PING, PONG = b"\r\n\r\n", b"\r\n"
#: Why the Endpoint closes a connection whose keep-alive ping got no answer.
NO_PONG = "no answer to a CRLF keep-alive ping (RFC 5626 §4.4.1): the flow failed"


@dataclass(slots=True, eq=False)
class Connection:
    """A stream connection registered by the adapter (compared by identity)."""

    handle: ConnHandle
    transport: str
    remote: Address
    local: Address | None
    framer: StreamFramer
    #: Ids of the transactions that send on this connection.
    txns: set[int] = field(default_factory=set)

    def source(self) -> Source:
        """Where a message read from this connection came from."""
        return Source(self.transport, self.remote, self.local, self.handle)


class Connections:
    """The open connections of one Endpoint, by handle and by peer."""

    __slots__ = ("_by_id", "_by_peer", "_limits", "_next")

    def __init__(self, limits: ParserLimits) -> None:
        self._limits = limits
        self._next = 1
        self._by_id: dict[int, Connection] = {}
        #: The latest connection to each (transport, remote address).
        self._by_peer: dict[tuple[str, Address], int] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def open(self, transport: str, remote: Address, local: Address | None) -> Connection:
        """Register a new connection (``transport`` in upper case)."""
        handle = ConnHandle(self._next)
        self._next += 1
        conn = Connection(handle, transport, remote, local, StreamFramer(limits=self._limits))
        self._by_id[handle.id] = conn
        self._by_peer[(transport, remote)] = handle.id
        return conn

    def get(self, handle: ConnHandle) -> Connection | None:
        """The open connection of ``handle``; None once it closed.

        Raises LocalProtocolError for a handle this table never issued.
        """
        conn = self._by_id.get(handle.id)
        if conn is None and not 0 < handle.id < self._next:
            raise LocalProtocolError(f"{handle!r} was never registered with connection_made")
        return conn

    def handles(self) -> list[ConnHandle]:
        """The handles of the open connections, oldest first."""
        return [conn.handle for conn in self._by_id.values()]

    def is_open(self, handle: ConnHandle) -> bool:
        return handle.id in self._by_id

    def for_peer(self, transport: str, remote: Address) -> ConnHandle | None:
        """The open connection to ``remote`` over ``transport`` to send on, or None
        (the adapter then opens one)."""
        known = self._by_peer.get((transport, remote))
        return self._by_id[known].handle if known is not None else None

    def attach(self, handle: ConnHandle, txn_id: int) -> None:
        """Record that transaction ``txn_id`` sends on ``handle`` (if still open)."""
        conn = self._by_id.get(handle.id)
        if conn is not None:
            conn.txns.add(txn_id)

    def detach(self, handle: ConnHandle, txn_id: int) -> None:
        conn = self._by_id.get(handle.id)
        if conn is not None:
            conn.txns.discard(txn_id)

    def remove(self, conn: Connection) -> None:
        """Forget ``conn`` (closed or lost)."""
        del self._by_id[conn.handle.id]
        peer = (conn.transport, conn.remote)
        if self._by_peer.get(peer) == conn.handle.id:
            del self._by_peer[peer]


class _Flow:
    """The keep-alive of one connection: its interval, its armed timer (the next ping,
    or the wait for the pong of the last one), and whether a pong is awaited."""

    __slots__ = ("awaiting", "entry", "interval")

    def __init__(self, interval: float, entry: TimerEntry) -> None:
        self.interval = interval
        self.entry = entry
        self.awaiting = False


class KeepAlives:
    """CRLF keep-alives on the connections asked for (RFC 5626 §3.5.1, §4.4.1).

    A connection kept alive gets a ping (``CRLF CRLF``) every ``interval`` seconds, each
    time drawn between 80 % and 100 % of it (§4.4.1, so that clients started together
    do not ping together). After a ping, the next bytes received on the connection end
    the wait: the pong (``CRLF``) or, leniently, any message (the flow evidently works
    both ways). None within ``timeout`` seconds (§4.4.1: 10) and the flow has failed:
    :meth:`fire` hands the connection back to be closed (the Endpoint reports
    ``ConnectionClosed`` with :data:`NO_PONG`). Pings from the peer are answered with
    a pong, kept alive or not.

    Its timers live in the Endpoint's heap, owned by the negated connection id (no
    transaction has a negative id), so that they cost the transactions nothing.
    """

    __slots__ = ("_conns", "_flows", "_rng", "_timers", "timeout")

    def __init__(
        self, conns: Connections, timers: TimerHeap, rng: random.Random, timeout: float
    ) -> None:
        self._conns = conns
        self._timers = timers
        self._rng = rng
        self.timeout = timeout
        self._flows: dict[int, _Flow] = {}

    def __len__(self) -> int:
        return len(self._flows)

    def keep_alive(self, conn: Connection | None, interval: float | None, now: float) -> None:
        """Ping ``conn`` every ``interval`` seconds from now on (None: stop)."""
        if interval is not None and not interval > 0:
            raise LocalProtocolError(f"a keep-alive interval is > 0 seconds, not {interval!r}")
        if conn is None:
            return  # closed already: nothing to keep alive
        flow = self._flows.pop(conn.handle.id, None)
        if flow is not None:
            self._timers.cancel(flow.entry)
        if interval is not None:
            self._flows[conn.handle.id] = _Flow(interval, self._arm(conn, interval, now))

    def _arm(self, conn: Connection, interval: float, now: float) -> TimerEntry:
        delay = interval * self._rng.uniform(0.8, 1.0)
        return self._timers.push(now + delay, -conn.handle.id, TimerKind.KEEPALIVE)

    def fire(self, entry: TimerEntry, now: float, transmits: list[Transmit]) -> Connection | None:
        """A keep-alive timer is due: send the ping (to ``transmits``), or, when its
        pong did not come, return the connection to close."""
        flow = self._flows.get(-entry.owner)
        if flow is None or flow.entry is not entry:
            return None
        conn = self._conns.get(ConnHandle(-entry.owner))
        if conn is None or flow.awaiting:
            del self._flows[-entry.owner]
            return conn  # (None: the connection closed meanwhile)
        transmits.append(Transmit(PING, conn.transport, conn.remote, conn.local, conn.handle))
        conn.framer.expect_pong()
        flow.awaiting = True
        flow.entry = self._timers.push(now + self.timeout, entry.owner, TimerKind.KEEPALIVE)
        return None

    def received(
        self, conn: Connection, data: bytes, pings: int, now: float, transmits: list[Transmit]
    ) -> None:
        """Bytes arrived on ``conn``, holding ``pings`` pings from the peer: answer each
        with a pong (§3.5.1), and end the wait for our own ping's pong."""
        if pings:
            pong = Transmit(PONG, conn.transport, conn.remote, conn.local, conn.handle)
            transmits.extend([pong] * pings)
        flow = self._flows.get(conn.handle.id) if self._flows and data else None
        if flow is not None and flow.awaiting:
            flow.awaiting = False
            self._timers.cancel(flow.entry)
            flow.entry = self._arm(conn, flow.interval, now)
