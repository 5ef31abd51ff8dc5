"""The transaction tables: totality, RFC rows, and the Endpoint obeying them.

DESIGN.md §7: every (state, input) pair of each machine either transitions, is
absorbed as the RFC says, or raises LocalProtocolError (TU misuse only).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from txhelpers import request

from sipsans import (
    ClientTxn,
    Endpoint,
    EndpointConfig,
    LocalProtocolError,
    RequestReceived,
    Response,
    ServerTxn,
    Target,
    TransactionTerminated,
    make_response,
    parse_message,
)
from sipsans.transaction.machine import transition
from sipsans.transaction.tables import (
    INITIAL,
    INPUTS,
    STATES,
    TABLES,
    TIMER_INPUT,
    TU_INPUTS,
    Do,
    Input,
    Machine,
    Start,
    State,
    Stop,
)

PAIRS = [
    (machine, state, inp)
    for machine in Machine
    for state in STATES[machine]
    for inp in INPUTS[machine]
]


@pytest.mark.parametrize(("machine", "state", "inp"), PAIRS)
def test_every_pair_transitions_absorbs_or_is_misuse(
    machine: Machine, state: State, inp: Input
) -> None:
    row = TABLES[machine].get((state, inp))
    if row is not None:
        assert transition(machine, state, inp) is row
        assert row.next in STATES[machine]
        assert row.ref, "every row cites the RFC"
    elif inp in TU_INPUTS:
        with pytest.raises(LocalProtocolError):
            transition(machine, state, inp)
    else:
        absorbed = transition(machine, state, inp)
        assert absorbed.next is state and absorbed.actions == ()


@given(st.sampled_from(list(Machine)), st.data())
def test_random_walks_stay_inside_the_machine(machine: Machine, data: st.DataObject) -> None:
    state = INITIAL[machine].next
    for _ in range(30):
        inp = data.draw(st.sampled_from(INPUTS[machine]))
        try:
            row = transition(machine, state, inp)
        except LocalProtocolError:
            assert inp in TU_INPUTS
            continue
        assert row.next in STATES[machine]
        state = row.next
        if state is State.TERMINATED:
            break


def test_table_keys_use_only_the_machine_states_and_inputs() -> None:
    for machine, table in TABLES.items():
        for state, inp in table:
            assert state in STATES[machine] and state is not State.TERMINATED
            assert inp in INPUTS[machine]
            for action in table[(state, inp)].actions:
                if isinstance(action, (Start, Stop)):
                    assert TIMER_INPUT[action.timer] in INPUTS[machine]


def test_every_state_is_reachable_and_every_state_can_end() -> None:
    for machine, table in TABLES.items():
        reachable = {INITIAL[machine].next}
        frontier = list(reachable)
        while frontier:
            s = frontier.pop()
            for (state, _), row in table.items():
                if state is s and row.next not in reachable:
                    reachable.add(row.next)
                    frontier.append(row.next)
        assert reachable == set(STATES[machine]), machine
        # ... and from every state some sequence of inputs reaches Terminated.
        for start in STATES[machine]:
            seen, frontier = {start}, [start]
            while frontier:
                s = frontier.pop()
                for (state, _), row in table.items():
                    if state is s and row.next not in seen:
                        seen.add(row.next)
                        frontier.append(row.next)
            assert State.TERMINATED in seen, (machine, start)


def test_rfc_6026_rows() -> None:
    ict, ist = TABLES[Machine.ICT], TABLES[Machine.IST]
    assert ict[(State.CALLING, Input.RESP_2XX)].next is State.ACCEPTED
    assert ict[(State.ACCEPTED, Input.RESP_2XX)].actions == (Do.PASS_TO_TU,)
    assert ist[(State.PROCEEDING, Input.TU_2XX)].next is State.ACCEPTED
    assert ist[(State.ACCEPTED, Input.ACK)].actions == (Do.PASS_TO_TU,)
    assert ist[(State.ACCEPTED, Input.REQUEST)].actions == ()
    # A second final response from the TU after a 2xx is misuse.
    with pytest.raises(LocalProtocolError):
        transition(Machine.IST, State.ACCEPTED, Input.TU_3456)


# -- the Endpoint follows the tables ---------------------------------------------------

UAC = ("192.0.2.1", 5060)
UAS = ("192.0.2.2", 5060)


class Harness:
    """One transaction of ``machine`` driven through the Endpoint into ``state``."""

    def __init__(self, machine: Machine, state: State) -> None:
        self.machine = machine
        client = machine in (Machine.ICT, Machine.NICT)
        method = "INVITE" if machine in (Machine.ICT, Machine.IST) else "OPTIONS"
        uac = Endpoint(EndpointConfig(advertised_host=UAC[0]), rng=random.Random(3))
        uac.send_request(request(method), target=Target("UDP", *UAS), now=0.0)
        self.wire = uac.transmits()[0].data
        parsed = parse_message(self.wire)
        assert not isinstance(parsed, Response)
        self.req = parsed
        self.now = 0.0
        if client:
            self.ep = uac
            self.id = next(iter(uac._txns.by_id))
        else:
            self.ep = Endpoint(EndpointConfig(advertised_host=UAS[0]), rng=random.Random(4))
            self.ep.receive_datagram(self.wire, remote=UAC, local=UAS, now=0.0)
            (event,) = self.ep.events()
            assert isinstance(event, RequestReceived) and event.txn is not None
            self.id = event.txn.id
        path = {
            State.CALLING: [],
            State.TRYING: [],
            State.PROCEEDING: []
            if machine is Machine.IST
            else [Input.RESP_1XX if client else Input.TU_1XX],
            State.COMPLETED: [Input.RESP_3456 if client else Input.TU_3456],
            State.ACCEPTED: [Input.RESP_2XX if client else Input.TU_2XX],
            State.CONFIRMED: [Input.TU_3456, Input.ACK],
        }[state]
        for inp in path:
            self.apply(inp)
        assert self.state is state

    @property
    def handle(self) -> ClientTxn | ServerTxn:
        client = self.machine in (Machine.ICT, Machine.NICT)
        return ClientTxn(self.id) if client else ServerTxn(self.id)

    @property
    def state(self) -> State:
        txn = self.ep._txns.by_id.get(self.id)
        return State.TERMINATED if txn is None else txn.state

    def apply(self, inp: Input) -> None:
        self.now += 0.01
        ep, now = self.ep, self.now
        status = {
            Input.RESP_1XX: 180,
            Input.RESP_2XX: 200,
            Input.RESP_3456: 486,
            Input.TU_1XX: 180,
            Input.TU_2XX: 200,
            Input.TU_3456: 486,
        }
        if inp in (Input.RESP_1XX, Input.RESP_2XX, Input.RESP_3456):
            resp = make_response(self.req, status[inp], to_tag="t")
            ep.receive_datagram(bytes(resp), remote=UAS, local=UAC, now=now)
        elif inp in (Input.TU_1XX, Input.TU_2XX, Input.TU_3456):
            ep.send_response(
                ServerTxn(self.id), make_response(self.req, status[inp], to_tag="t"), now=now
            )
        elif inp is Input.REQUEST:
            ep.receive_datagram(self.wire, remote=UAC, local=UAS, now=now)
        elif inp is Input.ACK:
            ack = self.wire.replace(b"INVITE", b"ACK").replace(
                b"To: <sip:bob@192.0.2.2>", b"To: <sip:bob@192.0.2.2>;tag=t"
            )
            ep.receive_datagram(ack, remote=UAC, local=UAS, now=now)
        elif inp is Input.TRANSPORT_ERROR:
            ep.transport_error(self.id, now=now)
        elif inp is Input.EVICTED:  # what max_lingering does to the oldest settled one
            ep._feed(ep._txns.by_id[self.id], inp)
        else:  # a timer: fire exactly that one through the runner
            ep._feed(
                ep._txns.by_id[self.id],
                inp,
                timer=next(k for k, v in TIMER_INPUT.items() if v is inp),
            )


ENDPOINT_PAIRS = [
    (m, s, i)
    for (m, s, i) in PAIRS
    if s is not State.TERMINATED and i is not Input.CANCEL_SENT
    # ACK only exists for INVITE servers; a retransmitted request only for servers.
]


@pytest.mark.parametrize(("machine", "state", "inp"), ENDPOINT_PAIRS)
def test_endpoint_applies_the_table(machine: Machine, state: State, inp: Input) -> None:
    h = Harness(machine, state)
    h.ep.events()
    h.ep.transmits()
    try:
        expected = transition(machine, state, inp)
    except LocalProtocolError:
        with pytest.raises(LocalProtocolError):
            h.apply(inp)
        assert h.state is state  # misuse poisons nothing
        return
    h.apply(inp)
    assert h.state is expected.next
    if expected.next is not State.TERMINATED:
        txn = h.ep._txns.by_id[h.id]
        assert all(e.alive for e in txn.timers)
    if not expected.actions:
        assert h.ep.transmits() == []
        ended = [TransactionTerminated(txn=h.handle)] if expected.next is State.TERMINATED else []
        assert h.ep.events() == ended
