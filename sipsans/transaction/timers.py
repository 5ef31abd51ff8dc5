"""Transaction timers (RFC 3261 §17, Table 4 of Appendix A; RFC 6026 §8) and the timer heap.

The core never sleeps: it records absolute deadlines on the caller's clock and the
caller wakes it at :meth:`TimerHeap.next_deadline` (``Endpoint.get_next_timer()``).

:class:`TimerHeap` is a binary heap with lazy cancellation: cancelling only marks an
entry dead, and dead entries are skipped when they reach the top (or swept out when
they outnumber the live ones). Push, cancel and pop are O(log n) or O(1), so the cost
per timer stays flat from a thousand to a hundred thousand transactions in flight.
"""

from __future__ import annotations

import heapq

from .._speed import IdentityHashedEnum

__all__ = ["TimerEntry", "TimerHeap", "TimerKind"]


class TimerKind(IdentityHashedEnum):
    """The timers of RFC 3261 §17 (Table 4), RFC 6026 and two sipsans timers."""

    A = "A"  #: ICT request retransmit, T1 doubling (§17.1.1.2); unreliable only
    B = "B"  #: ICT transaction timeout, 64*T1 (§17.1.1.2)
    D = "D"  #: ICT wait for response retransmits, >32 s unreliable, 0 reliable (§17.1.1.2)
    E = "E"  #: NICT request retransmit, T1 doubling capped at T2 (§17.1.2.2); unreliable only
    F = "F"  #: NICT transaction timeout, 64*T1 (§17.1.2.2)
    G = "G"  #: IST response retransmit, T1 doubling capped at T2 (§17.2.1); unreliable only
    H = "H"  #: IST wait for ACK, 64*T1 (§17.2.1)
    I = "I"  #: IST wait for ACK retransmits, T4 unreliable, 0 reliable (§17.2.1)  # noqa: E741
    J = "J"  #: NIST wait for request retransmits, 64*T1 unreliable, 0 reliable (§17.2.2)
    K = "K"  #: NICT wait for response retransmits, T4 unreliable, 0 reliable (§17.1.2.2)
    L = "L"  #: IST wait for INVITE retransmits in Accepted, 64*T1 (RFC 6026 §8.7)
    M = "M"  #: ICT wait for 2xx retransmits in Accepted, 64*T1 (RFC 6026 §8.4)
    #: IST: send 100 Trying if the TU has not answered within 200 ms (§17.2.1).
    TRYING = "Trying"
    #: ICT: give up 64*T1 after a CANCEL if no final response arrived (§9.1).
    CANCEL_WAIT = "CancelWait"
    #: NIST: the TU has given no final response 64*T1 after the request arrived. The
    #: client's Timer F has fired by then (§17.1.2.2), so no answer can reach it any more;
    #: the transaction ends instead of being held for ever by a TU that forgot it.
    #: Not in RFC 3261, which trusts the TU to answer (§17.2.2).
    UNANSWERED = "Unanswered"
    #: A stream connection's CRLF keep-alive: the next ping, or the wait for its pong
    #: (RFC 5626 §4.4.1); owned by the connection (see connections.KeepAlives).
    KEEPALIVE = "KeepAlive"


class TimerEntry:
    """One armed timer. Ordered by (deadline, sequence number), never by payload."""

    __slots__ = ("alive", "deadline", "kind", "owner", "seq")

    def __init__(self, deadline: float, seq: int, owner: int, kind: TimerKind) -> None:
        self.deadline = deadline
        self.seq = seq
        self.owner = owner
        self.kind = kind
        self.alive = True

    def __lt__(self, other: TimerEntry) -> bool:
        if self.deadline != other.deadline:
            return self.deadline < other.deadline
        return self.seq < other.seq

    def __repr__(self) -> str:
        state = "" if self.alive else " cancelled"
        return f"<Timer {self.kind.value} of {self.owner} at {self.deadline}{state}>"


class TimerHeap:
    """Deadlines of every armed timer, earliest first.

    The heap holds ``(deadline, seq, entry)`` tuples, so that ordering them is a
    C-level tuple comparison (a float, then an int) rather than a call of
    :meth:`TimerEntry.__lt__` at every step of every push and pop. :attr:`deadline` is
    kept up to date as timers come and go: the Endpoint is asked for it after every
    input.
    """

    __slots__ = ("_dead", "_heap", "_seq", "deadline")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerEntry]] = []
        self._seq = 0
        self._dead = 0
        #: The earliest live deadline, or None when no timer is armed.
        self.deadline: float | None = None

    def __len__(self) -> int:
        """Number of live (armed, not cancelled) timers."""
        return len(self._heap) - self._dead

    def push(self, deadline: float, owner: int, kind: TimerKind) -> TimerEntry:
        seq = self._seq = self._seq + 1
        entry = TimerEntry(deadline, seq, owner, kind)
        heap = self._heap
        heapq.heappush(heap, (deadline, seq, entry))
        self.deadline = heap[0][0]
        return entry

    def cancel(self, entry: TimerEntry) -> None:
        if not entry.alive:
            return
        entry.alive = False
        self._dead += 1
        heap = self._heap
        if heap[0][2] is entry:
            self._drop_dead_top()
        # Sweep when dead entries dominate, so memory tracks the live timers.
        elif self._dead > 1024 and self._dead * 2 > len(heap):
            self._heap = [item for item in heap if item[2].alive]
            heapq.heapify(self._heap)
            self._dead = 0

    def _drop_dead_top(self) -> None:
        heap = self._heap
        while heap and not heap[0][2].alive:
            heapq.heappop(heap)
            self._dead -= 1
        self.deadline = heap[0][0] if heap else None

    def next_deadline(self) -> float | None:
        """The earliest live deadline (:attr:`deadline`)."""
        return self.deadline

    def pop_due(self, now: float) -> TimerEntry | None:
        """Remove and return the earliest live entry due at or before ``now``."""
        deadline = self.deadline
        if deadline is None or deadline > now:
            return None
        entry = heapq.heappop(self._heap)[2]
        entry.alive = False
        self._drop_dead_top()
        return entry
