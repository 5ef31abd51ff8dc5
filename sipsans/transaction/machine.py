"""Table lookup: what the transaction tables say for a state, an input and a timer.

:func:`transition` is the only way a transaction changes state; it reads
:mod:`sipsans.transaction.tables`. :func:`timer_duration` resolves the symbolic
durations of the tables against the configuration and the transport. The record each
transaction keeps is :class:`sipsans.transaction.record.Transaction`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import LocalProtocolError
from .tables import (
    RETRANSMIT_TIMERS,
    TABLES,
    TU_INPUTS,
    ZERO_WHEN_RELIABLE,
    Do,
    Dur,
    Input,
    Machine,
    State,
    Transition,
)
from .timers import TimerKind

if TYPE_CHECKING:
    from ..config import EndpointConfig

__all__ = ["KEEPS_RESPONSE", "SETTLED", "timer_duration", "transition"]

_ABSORBED = {state: Transition(state) for state in State}

#: States reached with the final response: the transaction only absorbs
#: retransmissions until a timer ends it (see :meth:`Transaction.settle`).
SETTLED = frozenset({State.COMPLETED, State.ACCEPTED, State.CONFIRMED})

#: ``(machine, state)`` pairs with a table row that resends the last response: the
#: only states in which a server transaction keeps that response's bytes.
KEEPS_RESPONSE = frozenset(
    (machine, state)
    for machine, table in TABLES.items()
    for (state, _inp), row in table.items()
    if Do.RESEND_RESPONSE in row.actions
)


def transition(machine: Machine, state: State, inp: Input) -> Transition:
    """The table row for ``(state, inp)``.

    Network, timer and transport inputs the table does not list are absorbed (state
    unchanged, no action); TU inputs it does not list raise LocalProtocolError.
    """
    found = TABLES[machine].get((state, inp))
    if found is not None:
        return found
    if inp in TU_INPUTS:
        raise LocalProtocolError(
            f"{inp.value} is not allowed in state {state.value} of an {machine.value} "
            f"transaction (RFC 3261 §17); check the transaction's events before answering"
        )
    return _ABSORBED[state]


def timer_duration(
    timer: TimerKind, dur: Dur, previous: float, config: EndpointConfig, reliable: bool
) -> float | None:
    """Seconds until ``timer`` fires, or None when it is not armed at all."""
    if reliable:
        if timer in RETRANSMIT_TIMERS:
            return None
        if timer in ZERO_WHEN_RELIABLE:
            return 0.0
    if dur is Dur.T1:
        return config.t1
    if dur is Dur.T2:
        return config.t2
    if dur is Dur.T4:
        return config.t4
    if dur is Dur.TIMES_64_T1:
        return 64 * config.t1
    if dur is Dur.DOUBLE:
        return 2 * previous
    if dur is Dur.DOUBLE_CAPPED:
        return min(2 * previous, config.t2)
    if dur is Dur.TIMER_D:
        return config.timer_d
    # Dur.TRYING_DELAY
    return config.trying_delay
