"""The stream connections an Endpoint knows (RFC 3261 §18: TCP, TLS, WebSocket).

The adapter registers each connection it accepts or opens; the Endpoint reads its
bytes through the connection's framer, sends a request's retransmissions and its ACK
on the connection the request went out on, and sends responses back on the connection
the request came in on (§18.2.2). :class:`Connections` is that bookkeeping: handles,
the connection of each peer (reused for new requests, §18.1.1), and the transactions
that send on each connection, so that losing it can be reported to each (§17.1.4).
"""

from __future__ import annotations

from ..config import ParserLimits
from ..errors import LocalProtocolError
from ..message.framing import StreamFramer
from .transport import Address, ConnHandle, Source

__all__ = ["Connection", "Connections"]


class Connection:
    """A stream connection registered by the adapter."""

    __slots__ = ("framer", "handle", "local", "remote", "transport", "txns")

    def __init__(
        self,
        handle: ConnHandle,
        transport: str,
        remote: Address,
        local: Address | None,
        framer: StreamFramer,
    ) -> None:
        self.handle = handle
        self.transport = transport
        self.remote = remote
        self.local = local
        self.framer = framer
        #: Ids of the transactions that send on this connection.
        self.txns: set[int] = set()

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
