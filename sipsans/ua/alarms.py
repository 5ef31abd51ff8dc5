"""The UserAgent's own timers: ring and answer timeouts, 2xx retransmission, the §14.1
glare back-off, subscription and registration refreshes.

The core never sleeps: an alarm is an absolute deadline on the caller's clock and an
action; the UserAgent runs the actions that are due when the caller wakes it
(``handle_timer``), each at its own deadline.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

__all__ = ["Alarm", "Alarms"]


#: An alarm's number, to cancel it with.
Alarm = int


class Alarms:
    """The UA's own timers, earliest first: ``action(arg, deadline)`` at ``deadline``.

    The heap holds ``(deadline, number, action, arg)`` tuples, ordered by deadline and
    then number (unique, so actions are never compared); the numbers of the alarms still
    armed are kept in a set. Cancelling takes the number out of the set; a cancelled
    alarm is dropped when it reaches the top, and once the heap holds more than twice the
    live alarms (plus some slack) the cancelled ones are all dropped at once (amortised
    O(1) each). So the heap follows the live alarms, not every call's 180 s ring timer
    (call rate x ring_timeout). :attr:`deadline` is kept up to date as alarms come and
    go: the UserAgent reads it after every input.
    """

    __slots__ = ("_heap", "_live", "_next", "deadline")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[Any, float], None], object]] = []
        self._live: set[int] = set()
        self._next = 0
        #: The earliest live deadline, or None when no alarm is armed.
        self.deadline: float | None = None

    def __len__(self) -> int:
        """Live alarms."""
        return len(self._live)

    def heap_size(self) -> int:
        """Entries in the heap, cancelled ones not yet dropped included."""
        return len(self._heap)

    def at(self, deadline: float, action: Callable[[Any, float], None], arg: object) -> Alarm:
        """Arm ``action(arg, deadline)`` for ``deadline``; keep the number to cancel it."""
        number = self._next = self._next + 1
        self._live.add(number)
        heap = self._heap
        heapq.heappush(heap, (deadline, number, action, arg))
        self.deadline = heap[0][0]
        return number

    def cancel(self, alarm: Alarm | None) -> None:
        """Disarm ``alarm`` (None, or one that already fired or was cancelled, is fine)."""
        live = self._live
        if alarm is None or alarm not in live:
            return
        live.discard(alarm)
        heap = self._heap
        if heap[0][1] == alarm:
            self._drop_dead_top()
        elif len(heap) > 2 * len(live) + 64:
            self._heap = [item for item in heap if item[1] in live]
            heapq.heapify(self._heap)

    def _drop_dead_top(self) -> None:
        heap, live = self._heap, self._live
        while heap and heap[0][1] not in live:
            heapq.heappop(heap)
        self.deadline = heap[0][0] if heap else None

    def pop_due(self, now: float) -> tuple[float, Callable[[Any, float], None], object] | None:
        """Remove the earliest live alarm due at or before ``now``: its deadline, action
        and argument."""
        deadline = self.deadline
        if deadline is None or deadline > now:
            return None
        _, number, action, arg = heapq.heappop(self._heap)
        self._live.discard(number)
        self._drop_dead_top()
        return deadline, action, arg
