"""The transaction tables resolved against one configuration, for the Endpoint's runner.

:mod:`.tables` states the machines symbolically (``Start(Timer L, 64*T1)``), and the
runner applies several inputs per transaction. Resolving the same symbols on every
input (which timers a reliable transport skips, what ``64*T1`` is, whether the next
state is settled) was a third of the runner's work. :func:`compile_machines` does it
once per Endpoint: every row becomes a :class:`Step` whose timer starts carry their
duration in seconds. Nothing here decides anything the tables do not say; the
tables stay the one place where the machines are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from .machine import KEEPS_RESPONSE, SETTLED, timer_duration, transition
from .tables import (
    INITIAL,
    RETRANSMIT_TIMERS,
    TABLES,
    Do,
    Dur,
    Input,
    Machine,
    Start,
    State,
    Stop,
    Transition,
)
from .timers import TimerKind

if TYPE_CHECKING:
    from ..config import EndpointConfig

__all__ = ["Arm", "CompiledMachine", "Op", "Step", "compile_machines"]

# Durations that depend on the interval armed before (Timers A, E, G doubling).
_DYNAMIC = frozenset({Dur.DOUBLE, Dur.DOUBLE_CAPPED})


@dataclass(frozen=True, slots=True)
class Arm:
    """A resolved ``Start``: arm ``timer`` in ``seconds`` (0: fire at once)."""

    timer: TimerKind
    #: None when it doubles the previous interval: resolved (with ``dur``) when run.
    seconds: float | None
    dur: Dur
    #: A retransmission timer (A, E, G): its duration is the next interval to double.
    retransmit: bool


#: What a Step does, in the table's order: a Do, a Stop or an Arm.
Op: TypeAlias = Do | Stop | Arm


class Step:
    """One table row, resolved: the next state and the operations to run."""

    __slots__ = ("next", "ops", "settles", "terminates")

    def __init__(self, row: Transition, config: EndpointConfig, reliable: bool) -> None:
        self.next = row.next
        ops: list[Op] = []
        for action in row.actions:
            if isinstance(action, Start):
                seconds = None
                # Doubling depends on the interval before; a reliable transport never
                # arms the retransmission timers that double (timer_duration says None).
                if action.dur not in _DYNAMIC or (reliable and action.timer in RETRANSMIT_TIMERS):
                    seconds = timer_duration(action.timer, action.dur, 0.0, config, reliable)
                    if seconds is None:
                        continue  # never armed here (retransmissions on reliable, no 100)
                retransmit = action.timer in RETRANSMIT_TIMERS
                ops.append(Arm(action.timer, seconds, action.dur, retransmit))
            else:
                ops.append(action)
        self.ops = tuple(ops)
        self.terminates = row.next is State.TERMINATED
        #: The row leaves the transaction lingering (see Transaction.settle).
        self.settles = row.next in SETTLED


class CompiledMachine:
    """One machine's rows resolved for one configuration and kind of transport."""

    __slots__ = ("absorbed", "initial", "keeps_response", "machine", "rows")

    def __init__(self, machine: Machine, config: EndpointConfig, reliable: bool) -> None:
        self.machine = machine
        self.initial = Step(INITIAL[machine], config, reliable)
        self.rows: dict[tuple[State, Input], Step] = {
            key: Step(row, config, reliable) for key, row in TABLES[machine].items()
        }
        #: Absorbing rows (no table entry for a network, timer or transport input).
        self.absorbed = {state: Step(Transition(state), config, reliable) for state in State}
        #: States whose rows can resend the last response (KEEPS_RESPONSE).
        self.keeps_response = frozenset(state for (m, state) in KEEPS_RESPONSE if m is machine)

    def missing(self, state: State, inp: Input) -> Step:
        """The Step for a pair the table does not list (raises for TU misuse)."""
        transition(self.machine, state, inp)  # LocalProtocolError for a TU input
        return self.absorbed[state]


def compile_machines(config: EndpointConfig) -> dict[tuple[Machine, bool], CompiledMachine]:
    """Every machine, for ``config``, on unreliable (False) and reliable (True) transports."""
    return {
        (machine, reliable): CompiledMachine(machine, config, reliable)
        for machine in Machine
        for reliable in (False, True)
    }
