"""The four transaction state machines of RFC 3261 §17 (with RFC 6026) as tables.

Each machine is one dict ``(state, input) -> Transition`` below; nothing else in
sipsans decides a transaction's next state. The docs diagrams are generated from
these dicts (:mod:`sipsans.transaction.diagrams`).

A pair that is not in a table means:

* for a TU input (:data:`TU_INPUTS`, the TU handing the transaction a response):
  misuse, so :func:`~sipsans.transaction.machine.transition` raises
  :class:`~sipsans.errors.LocalProtocolError`;
* for anything from the network, a timer or the transport: the RFC defines no
  transition, so the input is absorbed (dropped, state unchanged). A peer must never
  be able to make the core raise. Absorptions the RFC states explicitly are listed as
  self-transitions without actions, with the section that says so.

Timer durations are symbolic (:class:`Dur`). Two rules, applied by the machine
runner and not repeated in every row, come from §17.1.1.2, §17.1.2.2, §17.2.1 and
§17.2.2: retransmission timers (A, E, G) are never armed on a reliable transport,
and Timers D, I, J and K are zero there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .._speed import IdentityHashedEnum
from .timers import TimerKind

__all__ = [
    "CLIENT_MACHINES",
    "INITIAL",
    "INPUTS",
    "RETRANSMIT_TIMERS",
    "STATES",
    "TABLES",
    "TIMER_INPUT",
    "TU_INPUTS",
    "ZERO_WHEN_RELIABLE",
    "Do",
    "Dur",
    "Input",
    "Machine",
    "Start",
    "State",
    "Stop",
    "Transition",
]


class Machine(IdentityHashedEnum):
    ICT = "INVITE client"  #: §17.1.1, RFC 6026 §8.4
    NICT = "non-INVITE client"  #: §17.1.2
    IST = "INVITE server"  #: §17.2.1, RFC 6026 §8.7
    NIST = "non-INVITE server"  #: §17.2.2


#: The client machines (§17.1); the others are server machines (§17.2).
CLIENT_MACHINES = (Machine.ICT, Machine.NICT)


class State(IdentityHashedEnum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"  #: RFC 6026
    TERMINATED = "Terminated"


class Input(IdentityHashedEnum):
    # from the network (client side): a response matched to the transaction
    RESP_1XX = "1xx"
    RESP_2XX = "2xx"
    RESP_3456 = "300-699"
    # from the network (server side)
    REQUEST = "request retransmission"
    ACK = "ACK"
    # from the TU (server side)
    TU_1XX = "1xx from TU"
    TU_2XX = "2xx from TU"
    TU_3456 = "300-699 from TU"
    # from the TU (client side): the CANCEL for this INVITE was sent (§9.1)
    CANCEL_SENT = "CANCEL sent"
    # from the transport (§17.1.4, §17.2.4)
    TRANSPORT_ERROR = "transport error"
    # timers
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TIMER_TRYING = "200 ms"
    TIMER_CANCEL_WAIT = "64*T1 after CANCEL"
    TIMER_UNANSWERED = "64*T1 unanswered"
    # from the Endpoint itself: a settled transaction (it only absorbs retransmissions
    # until a timer ends it) ended early to bound memory (EndpointConfig.max_lingering)
    EVICTED = "evicted (max_lingering)"


#: The input each timer delivers when it fires.
TIMER_INPUT: dict[TimerKind, Input] = {
    TimerKind.A: Input.TIMER_A,
    TimerKind.B: Input.TIMER_B,
    TimerKind.D: Input.TIMER_D,
    TimerKind.E: Input.TIMER_E,
    TimerKind.F: Input.TIMER_F,
    TimerKind.G: Input.TIMER_G,
    TimerKind.H: Input.TIMER_H,
    TimerKind.I: Input.TIMER_I,
    TimerKind.J: Input.TIMER_J,
    TimerKind.K: Input.TIMER_K,
    TimerKind.L: Input.TIMER_L,
    TimerKind.M: Input.TIMER_M,
    TimerKind.TRYING: Input.TIMER_TRYING,
    TimerKind.CANCEL_WAIT: Input.TIMER_CANCEL_WAIT,
    TimerKind.UNANSWERED: Input.TIMER_UNANSWERED,
}

#: Inputs that come from the TU; absent from a table they are misuse.
TU_INPUTS = frozenset({Input.TU_1XX, Input.TU_2XX, Input.TU_3456, Input.CANCEL_SENT})

#: Never armed on a reliable transport (§17.1.1.2, §17.1.2.2, §17.2.1).
RETRANSMIT_TIMERS = frozenset({TimerKind.A, TimerKind.E, TimerKind.G})
#: Zero on a reliable transport: there are no retransmissions to absorb.
ZERO_WHEN_RELIABLE = frozenset({TimerKind.D, TimerKind.I, TimerKind.J, TimerKind.K})


class Dur(IdentityHashedEnum):
    """Symbolic timer durations, resolved against the config by the runner."""

    T1 = "T1"
    T2 = "T2"
    T4 = "T4"
    TIMES_64_T1 = "64*T1"
    DOUBLE = "2x"  #: twice the previous interval, uncapped (Timer A)
    DOUBLE_CAPPED = "min(2x, T2)"  #: Timers E (Trying) and G
    TIMER_D = "32 s"  #: EndpointConfig.timer_d (§17.1.1.2: at least 32 s)
    TRYING_DELAY = "200 ms"  #: EndpointConfig.trying_delay


class Do(IdentityHashedEnum):
    SEND_REQUEST = "send request"
    SEND_ACK = "send ACK"
    PASS_TO_TU = "pass to TU"
    SEND_RESPONSE = "send response"
    RESEND_RESPONSE = "resend last response"
    SEND_TRYING = "send 100 Trying"
    INFORM_TIMEOUT = "inform TU of timeout"
    INFORM_TRANSPORT_ERROR = "inform TU of transport error"


@dataclass(frozen=True, slots=True)
class Start:
    timer: TimerKind
    dur: Dur

    def __str__(self) -> str:
        return f"start {self.timer.value}={self.dur.value}"


@dataclass(frozen=True, slots=True)
class Stop:
    timer: TimerKind

    def __str__(self) -> str:
        return f"stop {self.timer.value}"


Action: TypeAlias = Do | Start | Stop


@dataclass(frozen=True, slots=True)
class Transition:
    next: State
    actions: tuple[Action, ...] = ()
    #: Where the RFC says so (shown in the docs).
    ref: str = ""


_S = State
_I = Input
_T = TimerKind
T = Transition


#: Creating a transaction: the entry arrow of each machine.
INITIAL: dict[Machine, Transition] = {
    Machine.ICT: T(
        _S.CALLING,
        (Do.SEND_REQUEST, Start(_T.A, Dur.T1), Start(_T.B, Dur.TIMES_64_T1)),
        "§17.1.1.2",
    ),
    Machine.NICT: T(
        _S.TRYING,
        (Do.SEND_REQUEST, Start(_T.E, Dur.T1), Start(_T.F, Dur.TIMES_64_T1)),
        "§17.1.2.2",
    ),
    Machine.IST: T(_S.PROCEEDING, (Do.PASS_TO_TU, Start(_T.TRYING, Dur.TRYING_DELAY)), "§17.2.1"),
    # Timer Unanswered is ours, not the RFC's (see TimerKind.UNANSWERED).
    Machine.NIST: T(_S.TRYING, (Do.PASS_TO_TU, Start(_T.UNANSWERED, Dur.TIMES_64_T1)), "§17.2.2"),
}

_ICT_FINAL_NON2XX = (Do.PASS_TO_TU, Do.SEND_ACK, Stop(_T.A), Stop(_T.B), Start(_T.D, Dur.TIMER_D))
_ICT_2XX = (Do.PASS_TO_TU, Stop(_T.A), Stop(_T.B), Start(_T.M, Dur.TIMES_64_T1))

ICT: dict[tuple[State, Input], Transition] = {
    (_S.CALLING, _I.TIMER_A): T(
        _S.CALLING, (Do.SEND_REQUEST, Start(_T.A, Dur.DOUBLE)), "§17.1.1.2"
    ),
    (_S.CALLING, _I.TIMER_B): T(_S.TERMINATED, (Do.INFORM_TIMEOUT,), "§17.1.1.2"),
    (_S.CALLING, _I.RESP_1XX): T(
        _S.PROCEEDING, (Do.PASS_TO_TU, Stop(_T.A), Stop(_T.B)), "§17.1.1.2"
    ),
    (_S.CALLING, _I.RESP_2XX): T(_S.ACCEPTED, _ICT_2XX, "RFC 6026 §8.4"),
    (_S.CALLING, _I.RESP_3456): T(_S.COMPLETED, _ICT_FINAL_NON2XX, "§17.1.1.2"),
    (_S.CALLING, _I.TRANSPORT_ERROR): T(_S.TERMINATED, (Do.INFORM_TRANSPORT_ERROR,), "§17.1.4"),
    (_S.PROCEEDING, _I.RESP_1XX): T(_S.PROCEEDING, (Do.PASS_TO_TU,), "§17.1.1.2"),
    (_S.PROCEEDING, _I.RESP_2XX): T(
        _S.ACCEPTED, (*_ICT_2XX, Stop(_T.CANCEL_WAIT)), "RFC 6026 §8.4"
    ),
    (_S.PROCEEDING, _I.RESP_3456): T(
        _S.COMPLETED, (*_ICT_FINAL_NON2XX, Stop(_T.CANCEL_WAIT)), "§17.1.1.2"
    ),
    (_S.PROCEEDING, _I.CANCEL_SENT): T(
        _S.PROCEEDING, (Start(_T.CANCEL_WAIT, Dur.TIMES_64_T1),), "§9.1"
    ),
    # §9.1: no final response 64*T1 after the CANCEL: consider the INVITE cancelled.
    (_S.PROCEEDING, _I.TIMER_CANCEL_WAIT): T(_S.TERMINATED, (Do.INFORM_TIMEOUT,), "§9.1"),
    # §17.1.4: the connection the INVITE went over (and its final response would come
    # back on) is gone. No timer runs in Proceeding, so absorbing this would leave the
    # transaction waiting for ever.
    (_S.PROCEEDING, _I.TRANSPORT_ERROR): T(_S.TERMINATED, (Do.INFORM_TRANSPORT_ERROR,), "§17.1.4"),
    # Retransmitted final responses get the same ACK again, not the TU (§17.1.1.2).
    (_S.COMPLETED, _I.RESP_3456): T(_S.COMPLETED, (Do.SEND_ACK,), "§17.1.1.2"),
    (_S.COMPLETED, _I.TRANSPORT_ERROR): T(_S.TERMINATED, (Do.INFORM_TRANSPORT_ERROR,), "§17.1.4"),
    (_S.COMPLETED, _I.TIMER_D): T(_S.TERMINATED, (), "§17.1.1.2"),
    # RFC 6026 §8.4: every 2xx in Accepted goes to the TU, which ACKs it (§13.2.2.4).
    (_S.ACCEPTED, _I.RESP_2XX): T(_S.ACCEPTED, (Do.PASS_TO_TU,), "RFC 6026 §8.4"),
    (_S.ACCEPTED, _I.TIMER_M): T(_S.TERMINATED, (), "RFC 6026 §8.4"),
}

# §17.1.2.2: any final response, 2xx or not, ends Timers E and F and starts Timer K.
_NICT_FINAL = (Do.PASS_TO_TU, Stop(_T.E), Stop(_T.F), Start(_T.K, Dur.T4))


def _nict_waiting(state: State, timer_e: Dur) -> dict[tuple[State, Input], Transition]:
    """The rows of Trying and Proceeding, alike but for how Timer E is reset (§17.1.2.2:
    doubled up to T2 in Trying, T2 in Proceeding)."""
    return {
        (state, _I.TIMER_E): Transition(
            state, (Do.SEND_REQUEST, Start(_T.E, timer_e)), "§17.1.2.2"
        ),
        (state, _I.TIMER_F): Transition(_S.TERMINATED, (Do.INFORM_TIMEOUT,), "§17.1.2.2"),
        (state, _I.TRANSPORT_ERROR): Transition(
            _S.TERMINATED, (Do.INFORM_TRANSPORT_ERROR,), "§17.1.4"
        ),
        (state, _I.RESP_1XX): Transition(_S.PROCEEDING, (Do.PASS_TO_TU,), "§17.1.2.2"),
        (state, _I.RESP_2XX): Transition(_S.COMPLETED, _NICT_FINAL, "§17.1.2.2"),
        (state, _I.RESP_3456): Transition(_S.COMPLETED, _NICT_FINAL, "§17.1.2.2"),
    }


NICT: dict[tuple[State, Input], Transition] = {
    **_nict_waiting(_S.TRYING, Dur.DOUBLE_CAPPED),
    **_nict_waiting(_S.PROCEEDING, Dur.T2),
    # §17.1.2.2: Completed buffers response retransmissions without telling the TU.
    (_S.COMPLETED, _I.RESP_1XX): T(_S.COMPLETED, (), "§17.1.2.2"),
    (_S.COMPLETED, _I.RESP_2XX): T(_S.COMPLETED, (), "§17.1.2.2"),
    (_S.COMPLETED, _I.RESP_3456): T(_S.COMPLETED, (), "§17.1.2.2"),
    (_S.COMPLETED, _I.TIMER_K): T(_S.TERMINATED, (), "§17.1.2.2"),
}

_IST_2XX = (Do.SEND_RESPONSE, Stop(_T.TRYING), Start(_T.L, Dur.TIMES_64_T1))
_IST_FINAL = (
    Do.SEND_RESPONSE,
    Stop(_T.TRYING),
    Start(_T.G, Dur.T1),
    Start(_T.H, Dur.TIMES_64_T1),
)

IST: dict[tuple[State, Input], Transition] = {
    # §17.2.1: a retransmitted INVITE gets the most recent provisional response again.
    (_S.PROCEEDING, _I.REQUEST): T(_S.PROCEEDING, (Do.RESEND_RESPONSE,), "§17.2.1"),
    (_S.PROCEEDING, _I.TIMER_TRYING): T(_S.PROCEEDING, (Do.SEND_TRYING,), "§17.2.1"),
    (_S.PROCEEDING, _I.TU_1XX): T(_S.PROCEEDING, (Do.SEND_RESPONSE, Stop(_T.TRYING)), "§17.2.1"),
    (_S.PROCEEDING, _I.TU_2XX): T(_S.ACCEPTED, _IST_2XX, "RFC 6026 §8.7"),
    (_S.PROCEEDING, _I.TU_3456): T(_S.COMPLETED, _IST_FINAL, "§17.2.1"),
    (_S.PROCEEDING, _I.TRANSPORT_ERROR): T(_S.TERMINATED, (Do.INFORM_TRANSPORT_ERROR,), "§17.2.4"),
    (_S.COMPLETED, _I.REQUEST): T(_S.COMPLETED, (Do.RESEND_RESPONSE,), "§17.2.1"),
    (_S.COMPLETED, _I.TIMER_G): T(
        _S.COMPLETED, (Do.RESEND_RESPONSE, Start(_T.G, Dur.DOUBLE_CAPPED)), "§17.2.1"
    ),
    (_S.COMPLETED, _I.TIMER_H): T(_S.TERMINATED, (Do.INFORM_TIMEOUT,), "§17.2.1"),
    (_S.COMPLETED, _I.ACK): T(
        _S.CONFIRMED, (Stop(_T.G), Stop(_T.H), Start(_T.I, Dur.T4)), "§17.2.1"
    ),
    (_S.COMPLETED, _I.TRANSPORT_ERROR): T(_S.TERMINATED, (Do.INFORM_TRANSPORT_ERROR,), "§17.2.4"),
    # §17.2.1: Confirmed absorbs ACK retransmissions until Timer I.
    (_S.CONFIRMED, _I.ACK): T(_S.CONFIRMED, (), "§17.2.1"),
    (_S.CONFIRMED, _I.REQUEST): T(_S.CONFIRMED, (), "§17.2.1"),
    (_S.CONFIRMED, _I.TIMER_I): T(_S.TERMINATED, (), "§17.2.1"),
    # RFC 6026 §8.7: Accepted absorbs INVITE retransmissions, passes ACKs up and
    # lets the TU retransmit its 2xx through the transaction.
    (_S.ACCEPTED, _I.REQUEST): T(_S.ACCEPTED, (), "RFC 6026 §8.7"),
    (_S.ACCEPTED, _I.ACK): T(_S.ACCEPTED, (Do.PASS_TO_TU,), "RFC 6026 §8.7"),
    (_S.ACCEPTED, _I.TU_2XX): T(_S.ACCEPTED, (Do.SEND_RESPONSE,), "RFC 6026 §8.7"),
    (_S.ACCEPTED, _I.TRANSPORT_ERROR): T(
        _S.ACCEPTED, (Do.INFORM_TRANSPORT_ERROR,), "RFC 6026 §8.7"
    ),
    (_S.ACCEPTED, _I.TIMER_L): T(_S.TERMINATED, (), "RFC 6026 §8.7"),
}

_NIST_FINAL = (Do.SEND_RESPONSE, Stop(_T.UNANSWERED), Start(_T.J, Dur.TIMES_64_T1))
# The TU never answered and the client gave up (Timer F, §17.1.2.2): end, and say so.
_NIST_UNANSWERED = T(_S.TERMINATED, (Do.INFORM_TIMEOUT,), "§17.1.2.2 Timer F")

NIST: dict[tuple[State, Input], Transition] = {
    # §17.2.2: retransmissions in Trying are discarded.
    (_S.TRYING, _I.REQUEST): T(_S.TRYING, (), "§17.2.2"),
    (_S.TRYING, _I.TU_1XX): T(_S.PROCEEDING, (Do.SEND_RESPONSE,), "§17.2.2"),
    (_S.TRYING, _I.TU_2XX): T(_S.COMPLETED, _NIST_FINAL, "§17.2.2"),
    (_S.TRYING, _I.TU_3456): T(_S.COMPLETED, _NIST_FINAL, "§17.2.2"),
    (_S.PROCEEDING, _I.REQUEST): T(_S.PROCEEDING, (Do.RESEND_RESPONSE,), "§17.2.2"),
    (_S.PROCEEDING, _I.TU_1XX): T(_S.PROCEEDING, (Do.SEND_RESPONSE,), "§17.2.2"),
    (_S.PROCEEDING, _I.TU_2XX): T(_S.COMPLETED, _NIST_FINAL, "§17.2.2"),
    (_S.PROCEEDING, _I.TU_3456): T(_S.COMPLETED, _NIST_FINAL, "§17.2.2"),
    (_S.PROCEEDING, _I.TRANSPORT_ERROR): T(_S.TERMINATED, (Do.INFORM_TRANSPORT_ERROR,), "§17.2.4"),
    (_S.TRYING, _I.TIMER_UNANSWERED): _NIST_UNANSWERED,
    (_S.PROCEEDING, _I.TIMER_UNANSWERED): _NIST_UNANSWERED,
    (_S.COMPLETED, _I.REQUEST): T(_S.COMPLETED, (Do.RESEND_RESPONSE,), "§17.2.2"),
    (_S.COMPLETED, _I.TRANSPORT_ERROR): T(_S.TERMINATED, (Do.INFORM_TRANSPORT_ERROR,), "§17.2.4"),
    (_S.COMPLETED, _I.TIMER_J): T(_S.TERMINATED, (), "§17.2.2"),
}

# A settled transaction only absorbs retransmissions until its timer ends it; past
# EndpointConfig.max_lingering the oldest ends early, silently (the TU has its answer).
_EVICTABLE = {
    Machine.ICT: (_S.COMPLETED, _S.ACCEPTED),
    Machine.NICT: (_S.COMPLETED,),
    Machine.IST: (_S.COMPLETED, _S.CONFIRMED, _S.ACCEPTED),
    Machine.NIST: (_S.COMPLETED,),
}
for _table, _states in (
    (ICT, _EVICTABLE[Machine.ICT]),
    (NICT, _EVICTABLE[Machine.NICT]),
    (IST, _EVICTABLE[Machine.IST]),
    (NIST, _EVICTABLE[Machine.NIST]),
):
    for _state in _states:
        _table[_state, _I.EVICTED] = T(_S.TERMINATED, (), "sipsans: max_lingering")

TABLES: dict[Machine, dict[tuple[State, Input], Transition]] = {
    Machine.ICT: ICT,
    Machine.NICT: NICT,
    Machine.IST: IST,
    Machine.NIST: NIST,
}

#: The states of each machine, in diagram order.
STATES: dict[Machine, tuple[State, ...]] = {
    Machine.ICT: (_S.CALLING, _S.PROCEEDING, _S.COMPLETED, _S.ACCEPTED, _S.TERMINATED),
    Machine.NICT: (_S.TRYING, _S.PROCEEDING, _S.COMPLETED, _S.TERMINATED),
    Machine.IST: (_S.PROCEEDING, _S.COMPLETED, _S.CONFIRMED, _S.ACCEPTED, _S.TERMINATED),
    Machine.NIST: (_S.TRYING, _S.PROCEEDING, _S.COMPLETED, _S.TERMINATED),
}

#: The inputs each machine can be given.
INPUTS: dict[Machine, tuple[Input, ...]] = {
    Machine.ICT: (
        _I.RESP_1XX,
        _I.RESP_2XX,
        _I.RESP_3456,
        _I.CANCEL_SENT,
        _I.TRANSPORT_ERROR,
        _I.TIMER_A,
        _I.TIMER_B,
        _I.TIMER_D,
        _I.TIMER_M,
        _I.TIMER_CANCEL_WAIT,
        _I.EVICTED,
    ),
    Machine.NICT: (
        _I.RESP_1XX,
        _I.RESP_2XX,
        _I.RESP_3456,
        _I.TRANSPORT_ERROR,
        _I.TIMER_E,
        _I.TIMER_F,
        _I.TIMER_K,
        _I.EVICTED,
    ),
    Machine.IST: (
        _I.REQUEST,
        _I.ACK,
        _I.TU_1XX,
        _I.TU_2XX,
        _I.TU_3456,
        _I.TRANSPORT_ERROR,
        _I.TIMER_TRYING,
        _I.TIMER_G,
        _I.TIMER_H,
        _I.TIMER_I,
        _I.TIMER_L,
        _I.EVICTED,
    ),
    Machine.NIST: (
        _I.REQUEST,
        _I.TU_1XX,
        _I.TU_2XX,
        _I.TU_3456,
        _I.TRANSPORT_ERROR,
        _I.TIMER_J,
        _I.TIMER_UNANSWERED,
        _I.EVICTED,
    ),
}

del T
