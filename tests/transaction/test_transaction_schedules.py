"""Exact timer schedules of the four machines (RFC 3261 §17, RFC 6026), in virtual time.

Each test drives one Endpoint directly: it calls ``handle_timer`` at every
``get_next_timer()`` deadline and records when each transmit left. Defaults are
T1 = 0.5 s, T2 = 4 s, T4 = 5 s (§17.1.1.1).
"""

from __future__ import annotations

import random

import pytest
from txhelpers import first_line, request

from sipsans import (
    ClientTxn,
    Endpoint,
    EndpointConfig,
    Event,
    RequestReceived,
    Response,
    ServerTxn,
    Target,
    TimerKind,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    make_response,
    parse_message,
)

UAC = ("192.0.2.1", 5060)
UAS = ("192.0.2.2", 5060)


def client(**config: object) -> Endpoint:
    return Endpoint(
        EndpointConfig(advertised_host=UAC[0], advertised_port=UAC[1], **config),  # type: ignore[arg-type]
        rng=random.Random(1),
    )


def server(**config: object) -> Endpoint:
    return Endpoint(
        EndpointConfig(advertised_host=UAS[0], advertised_port=UAS[1], **config),  # type: ignore[arg-type]
        rng=random.Random(2),
    )


def run(
    ep: Endpoint, *, until: float = 1000.0
) -> tuple[list[tuple[float, Transmit]], list[tuple[float, Event]]]:
    """Fire every timer up to ``until``; return (time, transmit) and (time, event)."""
    sent: list[tuple[float, Transmit]] = []
    events: list[tuple[float, Event]] = []
    while (deadline := ep.get_next_timer()) is not None and deadline <= until:
        ep.handle_timer(now=deadline)
        sent += [(deadline, t) for t in ep.transmits()]
        events += [(deadline, e) for e in ep.events()]
    return sent, events


def times(sent: list[tuple[float, Transmit]]) -> list[float]:
    return [round(t, 6) for t, _ in sent]


def start_client(
    method: str, transport: str = "UDP", **config: object
) -> tuple[Endpoint, ClientTxn, bytes]:
    ep = client(**config)
    txn = ep.send_request(request(method), target=Target(transport, *UAS), now=0.0)
    (first,) = ep.transmits()
    assert first.token == txn.id
    return ep, txn, first.data


def respond(ep: Endpoint, wire: bytes, status: int, now: float, transport: str = "UDP") -> None:
    req = parse_message(wire)
    assert not isinstance(req, Response)
    resp = make_response(req, status, to_tag="b1")
    ep.receive_datagram(bytes(resp), remote=UAS, local=UAC, transport=transport, now=now)


# -- INVITE client ------------------------------------------------------------------


def test_unanswered_invite_over_udp_follows_timer_a_and_times_out_with_timer_b() -> None:
    ep, txn, _ = start_client("INVITE")
    sent, events = run(ep)
    # §17.1.1.2: retransmit at T1, 2*T1, 4*T1, ... (doubling, no cap); Timer B = 64*T1.
    assert [0.0, *times(sent)] == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [e for _, e in events] == [
        TransactionTimedOut(txn=txn, timer=TimerKind.B),
        TransactionTerminated(txn=txn),
    ]
    assert events[0][0] == 32.0
    assert ep.stats()["transactions"] == 0 and ep.stats()["timers"] == 0


def test_unanswered_invite_over_tcp_is_sent_once_and_times_out_at_32_s() -> None:
    ep, txn, _ = start_client("INVITE", "TCP")
    sent, events = run(ep)
    assert sent == []  # §17.1.1.2: Timer A only on unreliable transports
    assert next((t, e) for t, e in events) == (
        32.0,
        TransactionTimedOut(txn=txn, timer=TimerKind.B),
    )


def test_provisional_stops_invite_retransmissions_and_timer_b() -> None:
    ep, _txn, wire = start_client("INVITE")
    ep.handle_timer(now=0.5)
    assert len(ep.transmits()) == 1
    respond(ep, wire, 180, now=0.7)
    ep.events()
    sent, events = run(ep, until=500)
    assert sent == [] and events == []  # Proceeding: no retransmission, no Timer B
    assert ep.stats()["transactions"] == 1


def test_non2xx_final_is_acked_and_timer_d_is_32_s_over_udp() -> None:
    ep, txn, wire = start_client("INVITE")
    respond(ep, wire, 486, now=0.2)
    (ack,) = ep.transmits()
    assert first_line(ack.data).startswith("ACK ")
    # A retransmitted final gets the same ACK again and is not passed up (§17.1.1.2).
    assert [type(e).__name__ for e in ep.events()] == ["ResponseReceived"]
    respond(ep, wire, 486, now=1.0)
    (again,) = ep.transmits()
    assert again.data == ack.data and ep.events() == []
    sent, events = run(ep)
    assert sent == []
    assert events == [(32.2, TransactionTerminated(txn=txn))]


def test_non2xx_final_over_tcp_terminates_at_once() -> None:
    ep, _txn, wire = start_client("INVITE", "TCP")
    respond(ep, wire, 404, now=0.2, transport="TCP")
    (ack,) = ep.transmits()
    assert first_line(ack.data).startswith("ACK ")
    assert [type(e).__name__ for e in ep.events()] == ["ResponseReceived", "TransactionTerminated"]


def test_2xx_moves_invite_client_to_accepted_for_timer_m() -> None:
    ep, txn, wire = start_client("INVITE")
    respond(ep, wire, 200, now=0.1)
    assert ep.transmits() == []  # the TU ACKs a 2xx, not the transaction (§17.1.1.2)
    assert [type(e).__name__ for e in ep.events()] == ["ResponseReceived"]
    respond(ep, wire, 200, now=2.0)  # RFC 6026 §8.4: retransmitted 2xx reach the TU
    assert [type(e).__name__ for e in ep.events()] == ["ResponseReceived"]
    _sent, events = run(ep)
    assert events == [(32.1, TransactionTerminated(txn=txn))]  # Timer M = 64*T1


# -- non-INVITE client --------------------------------------------------------------


def test_unanswered_non_invite_caps_interval_at_t2_and_times_out_with_timer_f() -> None:
    ep, txn, _ = start_client("OPTIONS")
    sent, events = run(ep)
    # §17.1.2.2: T1 doubling capped at T2 = 4 s; Timer F = 64*T1 = 32 s.
    assert [0.0, *times(sent)] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events[0] == (32.0, TransactionTimedOut(txn=txn, timer=TimerKind.F))


def test_non_invite_in_proceeding_retransmits_every_t2() -> None:
    ep, txn, wire = start_client("REGISTER")
    respond(ep, wire, 100, now=0.2)
    ep.events()
    sent, events = run(ep)
    # The pending Timer E (0.5) fires in Proceeding and is then reset to T2 (§17.1.2.2).
    assert times(sent) == [0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]
    assert events[0] == (32.0, TransactionTimedOut(txn=txn, timer=TimerKind.F))


def test_non_invite_final_response_starts_timer_k() -> None:
    ep, txn, wire = start_client("OPTIONS")
    respond(ep, wire, 200, now=0.3)
    ep.events()
    respond(ep, wire, 200, now=1.0)
    assert ep.events() == []  # Completed absorbs retransmissions
    sent, events = run(ep)
    assert sent == [] and events == [(5.3, TransactionTerminated(txn=txn))]  # K = T4


def test_non_invite_over_tcp_completes_at_once() -> None:
    ep, _txn, wire = start_client("OPTIONS", "TCP")
    assert run(ep, until=31)[0] == []
    respond(ep, wire, 200, now=31.0, transport="TCP")
    assert [type(e).__name__ for e in ep.events()] == ["ResponseReceived", "TransactionTerminated"]


def test_custom_t1_t2_scale_the_schedule() -> None:
    ep, txn, _ = start_client("OPTIONS", t1=0.1, t2=0.4)
    sent, events = run(ep)
    assert times(sent)[:6] == [0.1, 0.3, 0.7, 1.1, 1.5, 1.9]
    assert events[0] == (6.4, TransactionTimedOut(txn=txn, timer=TimerKind.F))


def test_late_wake_up_fires_every_overdue_timer_on_its_own_schedule() -> None:
    ep, _txn, _ = start_client("INVITE")
    ep.handle_timer(now=10.0)  # one late wake-up covers A at 0.5, 1.5, 3.5 and 7.5
    assert len(ep.transmits()) == 4
    assert ep.get_next_timer() == 15.5


# -- INVITE server --------------------------------------------------------------------


def invite_wire(method: str = "INVITE", transport: str = "UDP") -> bytes:
    ep = client()
    ep.send_request(request(method), target=Target(transport, *UAS), now=0.0)
    return ep.transmits()[0].data


def receive(ep: Endpoint, wire: bytes, now: float, transport: str = "UDP") -> ServerTxn:
    ep.receive_datagram(wire, remote=UAC, local=UAS, transport=transport, now=now)
    events = ep.events()
    assert isinstance(events[0], RequestReceived) and events[0].txn is not None
    return events[0].txn


def test_invite_server_sends_100_trying_after_200_ms() -> None:
    ep = server()
    txn = receive(ep, invite_wire(), now=0.0)
    assert ep.transmits() == []
    sent, _ = run(ep, until=1)
    assert [(t, first_line(x.data)) for t, x in sent] == [(0.2, "SIP/2.0 100 Trying")]
    assert txn.id == sent[0][1].token


def test_invite_server_sends_no_100_when_the_tu_answers_in_time() -> None:
    ep = server()
    wire = invite_wire()
    txn = receive(ep, wire, now=0.0)
    req = parse_message(wire)
    assert not isinstance(req, Response)
    ep.send_response(txn, make_response(req, 180, to_tag="x"), now=0.1)
    assert [first_line(t.data) for t in ep.transmits()] == ["SIP/2.0 180 Ringing"]
    assert run(ep, until=1)[0] == []
    # A retransmitted INVITE gets the latest provisional again (§17.2.1).
    ep.receive_datagram(wire, remote=UAC, local=UAS, now=1.5)
    assert [first_line(t.data) for t in ep.transmits()] == ["SIP/2.0 180 Ringing"]
    assert ep.events() == []


def final_response(
    ep: Endpoint, wire: bytes, status: int, now: float, transport: str = "UDP"
) -> ServerTxn:
    txn = receive(ep, wire, now=0.0, transport=transport)
    req = parse_message(wire)
    assert not isinstance(req, Response)
    ep.send_response(txn, make_response(req, status, to_tag="x"), now=now)
    return txn


def test_final_response_over_udp_follows_timer_g_until_timer_h() -> None:
    ep = server()
    txn = final_response(ep, invite_wire(), 486, now=0.0)
    assert len(ep.transmits()) == 1
    sent, events = run(ep)
    # §17.2.1: G = T1 doubling capped at T2; H = 64*T1 informs the TU.
    assert times(sent) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert {first_line(t.data) for _, t in sent} == {"SIP/2.0 486 Busy Here"}
    assert [e for _, e in events] == [
        TransactionTimedOut(txn=txn, timer=TimerKind.H),
        TransactionTerminated(txn=txn),
    ]
    assert events[0][0] == 32.0


def ack_for(ep_wire: bytes, response_tag: str = "x") -> bytes:
    req = parse_message(ep_wire)
    assert not isinstance(req, Response)
    lines = [
        f"ACK {req.uri} SIP/2.0",
        f"Via: {req.headers.get('via')}",
        f"From: {req.headers.get('from')}",
        f"To: {req.headers.get('to')};tag={response_tag}",
        f"Call-ID: {req.call_id}",
        f"CSeq: {req.cseq.seq} ACK",
        "Max-Forwards: 70",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def test_ack_stops_timer_g_and_timer_i_absorbs_ack_retransmissions() -> None:
    ep = server()
    wire = invite_wire()
    txn = final_response(ep, wire, 486, now=0.0)
    ep.transmits()
    ep.handle_timer(now=0.5)
    assert len(ep.transmits()) == 1
    ep.receive_datagram(ack_for(wire), remote=UAC, local=UAS, now=1.0)
    assert ep.events() == []  # absorbed by the transaction (§17.2.1)
    ep.receive_datagram(ack_for(wire), remote=UAC, local=UAS, now=2.0)
    sent, events = run(ep)
    assert sent == []
    assert events == [(6.0, TransactionTerminated(txn=txn))]  # Timer I = T4 after the ACK


def test_final_response_over_tcp_is_never_retransmitted() -> None:
    ep = server()
    wire = invite_wire(transport="TCP")
    conn = ep.connection_made(transport="TCP", remote=UAC, local=UAS, now=0.0)
    ep.receive_stream(conn, wire, now=0.0)
    (event,) = ep.events()
    assert isinstance(event, RequestReceived) and event.txn is not None
    ep.send_response(event.txn, make_response(event.request, 500, to_tag="x"), now=0.0)
    (t,) = ep.transmits()
    assert t.conn == conn
    sent, events = run(ep)
    assert sent == []
    assert events == [
        (32.0, TransactionTimedOut(txn=event.txn, timer=TimerKind.H)),
        (32.0, TransactionTerminated(txn=event.txn)),
    ]


def test_2xx_moves_invite_server_to_accepted_for_timer_l() -> None:
    ep = server()
    wire = invite_wire()
    txn = final_response(ep, wire, 200, now=0.1)
    assert len(ep.transmits()) == 1
    assert run(ep, until=31)[0] == []  # 2xx retransmission is the TU's job (§13.3.1.4)
    req = parse_message(wire)
    assert not isinstance(req, Response)
    ep.send_response(txn, make_response(req, 200, to_tag="x"), now=31.0)  # allowed in Accepted
    assert len(ep.transmits()) == 1
    ep.receive_datagram(wire, remote=UAC, local=UAS, now=31.5)
    assert ep.transmits() == [] and ep.events() == []  # INVITE retransmission absorbed
    _, events = run(ep)
    assert events == [(32.1, TransactionTerminated(txn=txn))]  # Timer L = 64*T1


# -- non-INVITE server ------------------------------------------------------------------


@pytest.mark.parametrize(("transport", "linger"), [("UDP", 32.0), ("TCP", 0.0)])
def test_non_invite_server_keeps_final_response_for_timer_j(transport: str, linger: float) -> None:
    ep = server()
    wire = invite_wire("OPTIONS", transport)
    txn = receive(ep, wire, now=0.0, transport=transport)
    ep.receive_datagram(wire, remote=UAC, local=UAS, transport=transport, now=0.1)
    assert ep.transmits() == [] and ep.events() == []  # Trying absorbs retransmissions
    req = parse_message(wire)
    assert not isinstance(req, Response)
    ep.send_response(txn, make_response(req, 200, to_tag="x"), now=1.0)
    events = ep.events()
    if linger == 0.0:
        assert events == [TransactionTerminated(txn=txn)]
        return
    (ok,) = ep.transmits()
    ep.receive_datagram(wire, remote=UAC, local=UAS, now=2.0)
    assert [t.data for t in ep.transmits()] == [ok.data]  # Completed resends the final
    sent, ev = run(ep)
    assert sent == [] and ev == [(33.0, TransactionTerminated(txn=txn))]


def test_timer_d_i_j_k_follow_config_on_udp() -> None:
    ep, txn, wire = start_client("INVITE", timer_d=40.0)
    respond(ep, wire, 603, now=1.0)
    assert run(ep)[1][-1] == (41.0, TransactionTerminated(txn=txn))
