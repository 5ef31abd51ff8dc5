"""Table lookup and the per-transaction record.

:func:`transition` is the only way a transaction changes state; it reads
:mod:`sipsans.transaction.tables`. :func:`timer_duration` resolves the symbolic
durations of the tables against the configuration and the transport.
:class:`Transaction` is plain data; the Endpoint performs the actions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import LocalProtocolError
from ..timers import TimerEntry, TimerKind
from ..transport import ClientTxn, ServerTxn
from .tables import (
    RETRANSMIT_TIMERS,
    TABLES,
    TU_INPUTS,
    ZERO_WHEN_RELIABLE,
    Dur,
    Input,
    Machine,
    State,
    Transition,
)

if TYPE_CHECKING:
    from ..config import EndpointConfig
    from ..message import Request, Response
    from ..transport import Address, ConnHandle, Source

__all__ = ["Transaction", "timer_duration", "transition"]

_ABSORBED = {state: Transition(state) for state in State}


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


class Transaction:
    """One transaction's state; handles (ClientTxn/ServerTxn) carry only ``id``."""

    __slots__ = (
        "ack",
        "cancel",
        "conn",
        "handle",
        "id",
        "internal",
        "interval",
        "key",
        "last_response",
        "local",
        "machine",
        "merge_key",
        "method",
        "reliable",
        "remote",
        "request",
        "response",
        "source",
        "state",
        "timers",
        "transport",
        "wire",
    )

    def __init__(
        self,
        id: int,
        machine: Machine,
        request: Request,
        *,
        transport: str,
        reliable: bool,
        remote: Address,
        local: Address | None,
        conn: ConnHandle | None,
        key: tuple[object, ...],
    ) -> None:
        self.id = id
        #: What the TU holds for this transaction (one object, made once).
        self.handle: ClientTxn | ServerTxn = (
            ClientTxn(id) if machine is Machine.ICT or machine is Machine.NICT else ServerTxn(id)
        )
        self.machine = machine
        self.state = State.TERMINATED  # set by the Endpoint from INITIAL
        self.request = request
        self.method = request.method
        self.transport = transport
        self.reliable = reliable
        # Destination of everything this transaction sends.
        self.remote = remote
        self.local = local
        self.conn = conn
        #: Index key in the Endpoint's client or server map.
        self.key = key
        #: Server side: (From tag, Call-ID, CSeq) for merged-request detection (§8.2.2.2).
        self.merge_key: tuple[object, ...] | None = None
        #: Client side: request bytes (retransmitted as is). Server side: unused.
        self.wire = b""
        #: ICT: the ACK for a non-2xx final (§17.1.1.3), built once.
        self.ack: bytes | None = None
        #: Client: latest response received. Server: latest response sent.
        self.response: Response | None = None
        #: Server: bytes of the latest response sent, for retransmission.
        self.last_response: bytes | None = None
        #: Current retransmission interval (Timer A, E or G).
        self.interval = 0.0
        #: Armed timers.
        self.timers: dict[TimerKind, TimerEntry] = {}
        #: ICT: id of the CANCEL client transaction (held or sent), or 0.
        self.cancel = 0
        #: Server: where the request came from. Client: unused.
        self.source: Source | None = None
        #: True for transactions the Endpoint runs on its own (CANCEL, 482, 481):
        #: the TU never sees their requests.
        self.internal = False

    def __repr__(self) -> str:
        return f"<Transaction {self.id} {self.machine.name} {self.method} {self.state.value}>"
