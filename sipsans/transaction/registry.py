"""The live transactions of an Endpoint and the indexes that match messages to them.

A received response is matched by its top Via branch and CSeq method (RFC 3261
§17.1.3), a received request by :func:`~.matching.server_key` (§17.2.3), a CANCEL in an
index of its own (§9.2), and a request that forked and merged by its From tag, Call-ID
and CSeq (§8.2.2.2). A transaction that got its final response lingers, absorbing
retransmissions until a timer ends it; :class:`Transactions` counts those apart, so
that ``EndpointConfig.max_transactions`` limits the transactions in flight and
``max_lingering`` the ones that linger.
"""

from __future__ import annotations

from collections import deque

from ..errors import LocalProtocolError
from .record import Transaction
from .tables import CLIENT_MACHINES

__all__ = ["Transactions"]

Key = tuple[object, ...]

#: Transactions at once below which the tables are not started afresh when they empty
#: (a few hundred entries' room is not worth the churn of a call that empties them).
_SMALL = 1024


class Transactions:
    """Transactions by id and by matching key; the Endpoint runs them."""

    __slots__ = (
        "_grown",
        "_lingering",
        "by_id",
        "client",
        "merge",
        "server",
        "server_cancel",
        "settled",
    )

    def __init__(self) -> None:
        self.by_id: dict[int, Transaction] = {}
        #: Client transactions by (branch, method) (§17.1.3).
        self.client: dict[Key, Transaction] = {}
        #: Server transactions by server_key (§17.2.3); CANCELs have their own map.
        self.server: dict[Key, Transaction] = {}
        self.server_cancel: dict[Key, Transaction] = {}
        #: Server transactions by (From tag, Call-ID, CSeq), for merged requests.
        self.merge: dict[Key, Transaction] = {}
        #: Ids of settled transactions in the order they settled (some may have ended
        #: since), and how many of ``by_id`` are settled (``len(by_id) - settled`` are
        #: in flight).
        self._lingering: deque[int] = deque()
        self.settled = 0
        #: Whether the tables grew past :data:`_SMALL` since they were last empty (only
        #: then is starting them afresh worth it).
        self._grown = False

    def in_flight(self) -> int:
        """How many transactions have not settled yet."""
        return len(self.by_id) - self.settled

    def check_room(self, limit: int) -> None:
        """Raise LocalProtocolError when ``limit`` transactions are in flight."""
        if self.in_flight() >= limit:
            raise LocalProtocolError(
                f"{self.in_flight()} transactions in flight, the limit set by "
                "EndpointConfig.max_transactions; raise it or wait for some to end"
            )

    def linger(self, txn: Transaction, limit: int) -> Transaction | None:
        """Count ``txn`` (just settled) as lingering; returns the transaction that settled
        first when more than ``limit`` linger, for the Endpoint to end early (what its
        timer would have done, sooner), or None."""
        self.settled += 1
        self._lingering.append(txn.id)
        if len(self.by_id) > _SMALL:  # (counted here: every transaction settles once)
            self._grown = True
        if self.settled > limit:
            oldest = self.by_id[self._lingering[0]]
            if oldest is not txn:  # (limit >= 1: another one is older)
                return oldest
        return None

    def remove(self, txn: Transaction) -> None:
        """Forget the ended ``txn`` and its index entries."""
        del self.by_id[txn.id]
        if txn.request is None:  # settled (see Transaction.settle)
            self.settled -= 1
            # Usually the oldest ends first; ids of any that ended out of order are
            # dropped once they reach the front.
            lingering, by_id = self._lingering, self.by_id
            while lingering and lingering[0] not in by_id:
                lingering.popleft()
        if txn.machine in CLIENT_MACHINES:
            index = self.client
        else:
            index = self.server_cancel if txn.method == "CANCEL" else self.server
        if index.get(txn.key) is txn:
            del index[txn.key]
        if txn.merge_key is not None and self.merge.get(txn.merge_key) is txn:
            del self.merge[txn.merge_key]
        if not self.by_id and self._grown:
            self._release()

    def _release(self) -> None:
        """Every table is empty: start them afresh. A dict never gives back the room a
        burst made it grow to (10,000 INVITEs at once leave some 150 bytes per call
        behind in these tables, idle), and the first transaction after this grows
        them again from the smallest size, as needed."""
        self.by_id, self.client, self.server = {}, {}, {}
        self.server_cancel, self.merge = {}, {}
        self._grown = False

    def sizes(self) -> dict[str, int]:
        """The size of each table (see Endpoint.stats)."""
        return {
            "transactions": len(self.by_id),
            "lingering": self.settled,
            "client_index": len(self.client),
            "server_index": len(self.server),
            "cancel_index": len(self.server_cancel),
            "merge_index": len(self.merge),
        }
