"""The UA's alarms: the :class:`~sipsans.ua.alarms.Wheel` that keeps far-ahead alarms
(session timers) by the second runs each at its exact deadline, in deadline order, and
leaves nothing behind once its items are gone."""

from __future__ import annotations

import random

from sipsans.ua.alarms import Alarms, Wheel


class Item:
    """Something with a deadline, as a dialog with a session timer."""

    def __init__(self, name: str, due: float) -> None:
        self.name = name
        self.due = due


def due_of(item: Item) -> float:
    return item.due


def run(alarms: Alarms, now: float) -> None:
    """Fire every alarm due by ``now``, as UserAgent.handle_timer does."""
    while (due := alarms.pop_due(now)) is not None:
        deadline, action, arg = due
        action(arg, deadline)


def test_items_fire_at_their_exact_deadlines_in_order_whatever_the_wake_ups() -> None:
    rng = random.Random(4)
    alarms = Alarms()
    wheel: Wheel[Item] = Wheel(alarms, due_of)
    fired: list[tuple[str, float]] = []

    def record(item: Item, at: float) -> None:
        fired.append((item.name, at))

    items = [Item(f"i{n}", round(rng.uniform(45.0, 1800.0), 3)) for n in range(300)]
    items += [Item("same-a", 100.25), Item("same-b", 100.25), Item("whole", 101.0)]
    for item in items:
        wheel.add(item, record)
    # One heap alarm per second that has items, none per item.
    seconds = {int(item.due) for item in items}
    assert len(alarms) == len(seconds) == wheel.buckets()
    assert len(wheel) == len(items)
    now = 0.0
    while now < 2000.0:
        now += rng.uniform(0.1, 7.0)  # late and irregular wake-ups
        run(alarms, now)
    expected = sorted(items, key=lambda item: item.due)  # stable: same instant, added order
    assert fired == [(item.name, item.due) for item in expected]
    assert (len(wheel), wheel.buckets(), len(alarms)) == (0, 0, 0)


def test_an_item_discarded_before_or_within_its_second_never_fires() -> None:
    alarms = Alarms()
    wheel: Wheel[Item] = Wheel(alarms, due_of)
    fired: list[str] = []

    def record(item: Item, at: float) -> None:
        fired.append(item.name)

    early, within, kept = Item("early", 50.5), Item("within", 60.5), Item("kept", 60.7)
    for item in (early, within, kept):
        wheel.add(item, record)
    wheel.discard(early)  # its second held nothing else: gone with its alarm
    assert wheel.buckets() == 1 and len(alarms) == 1
    run(alarms, 60.1)  # second 60 began: its items wait in the heap at their deadlines
    assert wheel.buckets() == 0 and len(alarms) == 2 and not fired
    wheel.discard(within)
    wheel.discard(within)  # twice is fine
    run(alarms, 61.0)
    assert fired == ["kept"]
    assert (len(wheel), wheel.buckets(), len(alarms)) == (0, 0, 0)


def test_an_action_may_schedule_its_item_again() -> None:
    """As a refresh does: at half the interval it schedules the expiry."""
    alarms = Alarms()
    wheel: Wheel[Item] = Wheel(alarms, due_of)
    fired: list[float] = []

    def again(item: Item, at: float) -> None:
        fired.append(at)
        if len(fired) < 3:
            item.due = at + 0.4  # within the same second, or the next
            wheel.add(item, again)

    wheel.add(Item("x", 10.5), again)
    run(alarms, 100.0)
    assert fired == [10.5, 10.9, 11.3]
    assert (len(wheel), wheel.buckets(), len(alarms)) == (0, 0, 0)
