"""The UserAgent's own timers: ring and answer timeouts, 2xx retransmission, the §14.1
glare back-off, subscription and registration refreshes, session timers.

The core never sleeps: an alarm is an absolute deadline on the caller's clock and an
action; the UserAgent runs the actions that are due when the caller wakes it
(``handle_timer``), each at its own deadline. :class:`Wheel` holds the alarms of many
items that are due far ahead (the session timer of each idle dialog) in less memory.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Alarm", "Alarms", "Wheel"]

K = TypeVar("K", bound=Hashable)


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


class Wheel(Generic[K]):
    """Alarms for many items due far ahead, kept by the whole second until their last.

    Each idle confirmed dialog with a session timer waits 45 s or more (RFC 4028 §4,
    §10: half of an interval of at least 90 s) for its refresh or its BYE. An alarm in
    the :class:`Alarms` heap costs a tuple, its number and a slot in the live set (about
    170 bytes); here an item waiting costs one entry in the dict of the second its
    deadline falls in (about 40). Each such second (bucket) has one alarm in the heap,
    at its start; when it fires, the bucket's items move into the heap, each at its own
    deadline. So every action still runs at its exact deadline, in deadline order with
    everything else, and only the items due within the second cost a heap alarm.

    ``due_of(item)`` is the item's deadline; it must not change while the item is
    here (:meth:`discard` it first). An item is here at most once.
    """

    __slots__ = ("_alarms", "_bucket_alarms", "_buckets", "_due_of", "_fire", "_near", "_open")

    def __init__(self, alarms: Alarms, due_of: Callable[[K], float]) -> None:
        self._alarms = alarms
        self._due_of = due_of
        #: The waiting items by the whole second their deadline falls in (insertion
        #: order: items due at the same instant run in the order they were added).
        self._buckets: dict[int, dict[K, Callable[[K, float], None]]] = {}
        #: Each bucket's alarm, at the start of its second.
        self._bucket_alarms: dict[int, Alarm] = {}
        #: Items moved into the heap (due within the current second): their alarm and
        #: action.
        self._near: dict[K, tuple[Alarm, Callable[[K, float], None]]] = {}
        # Bound once, not at each arming (a new bound method per alarm otherwise).
        self._open = self._opened
        self._fire = self._fired

    def __len__(self) -> int:
        """Items waiting (zero when idle)."""
        return len(self._near) + sum(map(len, self._buckets.values()))

    def buckets(self) -> int:
        """Seconds with items waiting in them (zero when idle)."""
        return len(self._buckets)

    def add(self, item: K, action: Callable[[K, float], None]) -> None:
        """Run ``action(item, deadline)`` at ``due_of(item)``."""
        second = math.floor(self._due_of(item))
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = {}
            self._bucket_alarms[second] = self._alarms.at(float(second), self._open, second)
        bucket[item] = action

    def discard(self, item: K) -> None:
        """Forget ``item`` (fine if it is not here); a second left empty is dropped with
        its alarm."""
        near = self._near.pop(item, None)
        if near is not None:
            self._alarms.cancel(near[0])
            return
        second = math.floor(self._due_of(item))
        bucket = self._buckets.get(second)
        if bucket is not None and bucket.pop(item, None) is not None and not bucket:
            del self._buckets[second]
            self._alarms.cancel(self._bucket_alarms.pop(second))

    def _opened(self, second: int, at: float) -> None:
        """A bucket's second began: its items go into the heap at their deadlines."""
        bucket = self._buckets.pop(second)
        del self._bucket_alarms[second]
        alarms, near, due_of, fire = self._alarms, self._near, self._due_of, self._fire
        for item, action in bucket.items():
            near[item] = (alarms.at(due_of(item), fire, item), action)

    def _fired(self, item: K, at: float) -> None:
        _, action = self._near.pop(item)
        action(item, at)
