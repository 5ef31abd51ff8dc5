"""The timer heap and the duration rules of RFC 3261 §17 (Table 4)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sipsans import EndpointConfig, TimerKind
from sipsans.transaction.compiled import Arm, compile_machines
from sipsans.transaction.machine import timer_duration
from sipsans.transaction.tables import (
    INITIAL,
    RETRANSMIT_TIMERS,
    TABLES,
    ZERO_WHEN_RELIABLE,
    Dur,
    Input,
    Machine,
    Start,
    State,
)
from sipsans.transaction.timers import TimerHeap

CFG = EndpointConfig()


def test_pop_due_returns_entries_in_deadline_then_insertion_order() -> None:
    heap = TimerHeap()
    heap.push(2.0, 1, TimerKind.A)
    heap.push(1.0, 2, TimerKind.B)
    heap.push(1.0, 3, TimerKind.E)
    assert heap.next_deadline() == 1.0
    due = []
    while (entry := heap.pop_due(1.5)) is not None:
        due.append(entry.owner)
    assert due == [2, 3]
    assert heap.next_deadline() == 2.0 and len(heap) == 1


def test_cancelled_entries_never_fire_and_do_not_count() -> None:
    heap = TimerHeap()
    a = heap.push(1.0, 1, TimerKind.A)
    heap.push(2.0, 2, TimerKind.B)
    heap.cancel(a)
    heap.cancel(a)  # idempotent
    assert len(heap) == 1 and heap.next_deadline() == 2.0
    assert heap.pop_due(1.5) is None


def test_mass_cancellation_is_swept() -> None:
    heap = TimerHeap()
    entries = [heap.push(float(i), i, TimerKind.F) for i in range(5000)]
    for entry in entries[:4000]:
        heap.cancel(entry)
    assert len(heap) == 1000
    assert len(heap._heap) < 5000  # swept, not just marked
    assert heap.next_deadline() == 4000.0


@given(st.lists(st.tuples(st.floats(0, 100), st.booleans()), max_size=200))
def test_heap_pops_exactly_the_live_entries_sorted(items: list[tuple[float, bool]]) -> None:
    heap = TimerHeap()
    live = []
    for i, (deadline, keep) in enumerate(items):
        entry = heap.push(deadline, i, TimerKind.G)
        if keep:
            live.append((deadline, i))
        else:
            heap.cancel(entry)
    popped = []
    while (due := heap.pop_due(100.0)) is not None:
        popped.append((due.deadline, due.owner))
    assert popped == sorted(live)
    assert len(heap) == 0 and heap.next_deadline() is None


def test_default_durations_match_rfc_3261_table_4() -> None:
    def d(kind: TimerKind, dur: Dur, prev: float = 0.0, reliable: bool = False) -> float | None:
        return timer_duration(kind, dur, prev, CFG, reliable)

    assert d(TimerKind.A, Dur.T1) == 0.5
    assert d(TimerKind.A, Dur.DOUBLE, 8.0) == 16.0  # Timer A is not capped
    assert d(TimerKind.E, Dur.DOUBLE_CAPPED, 2.0) == 4.0
    assert d(TimerKind.E, Dur.DOUBLE_CAPPED, 4.0) == 4.0  # capped at T2
    assert d(TimerKind.B, Dur.TIMES_64_T1) == 32.0
    assert d(TimerKind.D, Dur.TIMER_D) == 32.0
    assert d(TimerKind.K, Dur.T4) == 5.0
    assert d(TimerKind.I, Dur.T4) == 5.0
    assert d(TimerKind.J, Dur.TIMES_64_T1) == 32.0
    assert d(TimerKind.TRYING, Dur.TRYING_DELAY) == 0.2


def test_reliable_transports_arm_no_retransmit_timer_and_zero_d_i_j_k() -> None:
    for kind in RETRANSMIT_TIMERS:
        assert timer_duration(kind, Dur.T1, 0.0, CFG, True) is None
    for kind in ZERO_WHEN_RELIABLE:
        assert timer_duration(kind, Dur.T4, 0.0, CFG, True) == 0.0
    for kind in (TimerKind.B, TimerKind.F, TimerKind.H, TimerKind.L, TimerKind.M):
        assert timer_duration(kind, Dur.TIMES_64_T1, 0.0, CFG, True) == 32.0


def test_compiled_rows_arm_what_timer_duration_says() -> None:
    """The Endpoint runs the tables resolved once per configuration (compiled.py):
    every Start of a row becomes an Arm with timer_duration's answer, or nothing
    when the timer is not armed at all (no 100 Trying with trying_delay=None)."""
    cfg = EndpointConfig(trying_delay=None)
    machines = compile_machines(cfg)
    for (machine, reliable), compiled in machines.items():
        rows = [(INITIAL[machine], compiled.initial)]
        rows += [(row, compiled.rows[key]) for key, row in TABLES[machine].items()]
        for row, step in rows:
            assert step.next is row.next
            assert step.terminates == (row.next is State.TERMINATED)
            expected: list[tuple[object, object]] = []
            for action in row.actions:
                if not isinstance(action, Start):
                    expected.append((action, None))
                    continue
                seconds = timer_duration(action.timer, action.dur, 1.0, cfg, reliable)
                if seconds is not None:
                    expected.append((action.timer, seconds))
            got = [
                (
                    op.timer,
                    op.seconds
                    if op.seconds is not None
                    else timer_duration(op.timer, op.dur, 1.0, cfg, reliable),
                )
                if isinstance(op, Arm)
                else (op, None)
                for op in step.ops
            ]
            assert got == expected, (machine, reliable, row)
    # Doubling (Timer A) depends on the interval before: resolved when run.
    (again,) = machines[Machine.ICT, False].rows[State.CALLING, Input.TIMER_A].ops[1:]
    assert isinstance(again, Arm) and again.seconds is None and again.retransmit
