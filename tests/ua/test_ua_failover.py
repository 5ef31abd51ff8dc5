"""RFC 3263 §4.3 in the UserAgent: a request given several ``targets=`` goes to the next
one on 503, transaction time-out or transport error, in a new client transaction (a new
branch), reporting ``TargetFailed`` and, when none is left, ``TargetsExhausted``; all in
virtual time on a :class:`sipsans.testing.Net`.

Addresses: alice (the UA under test) 192.0.2.1, bob (answers) 192.0.2.2, a server that
answers everything 503 at 192.0.2.3, and 192.0.2.9 where nothing listens (UDP
datagrams vanish: a time-out; TCP connections are refused: a transport error).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from netsim import Net
from uasim import SDP, Callee, add_ua, assert_clean, ua

from sipsans import (
    DialogState,
    Endpoint,
    EndpointConfig,
    LocalProtocolError,
    Registrar,
    RegistrationState,
    Request,
    RequestReceived,
    ResponseReceived,
    Target,
    TargetFailed,
    TargetsExhausted,
    TerminatedReason,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
    UAConfig,
    make_response,
    parse_message,
)
from sipsans.testing import Node

DEAD_UDP = Target("UDP", "192.0.2.9", 5060)
DEAD_TCP = Target("TCP", "192.0.2.9", 5060)
BUSY = Target("UDP", "192.0.2.3", 5060)
BOB = Target("UDP", "192.0.2.2", 5060)


def add_unavailable(net: Net, host: str = "192.0.2.3", retry_after: int | None = None) -> None:
    """A server that answers every request (but ACK) 503 at once, no provisional first."""

    def serve(node: Node[Any], event: object) -> None:
        if isinstance(event, RequestReceived) and event.txn is not None:
            headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
            response = make_response(event.request, 503, headers=headers)
            node.core.send_response(event.txn, response, now=net.now)

    ep = Endpoint(EndpointConfig(advertised_host=host), rng=random.Random(9))
    net.add("unavailable", host, core=ep, handler=serve)


def add_registrar(net: Net) -> None:
    """A registrar (sipsans.Registrar on an Endpoint) at 192.0.2.10."""
    registrar = Registrar(domains=["192.0.2.10", "192.0.2.1"], rng=random.Random(6))

    def serve(node: Node[Any], event: object) -> None:
        if isinstance(event, RequestReceived) and event.txn is not None:
            response = registrar.handle_register(event.request, now=net.now, source=event.source)
            node.core.send_response(event.txn, response, now=net.now)

    net.add("registrar", "192.0.2.10", handler=serve)


def sent_to(net: Net, method: str) -> list[tuple[tuple[str, int], Request]]:
    """Every ``method`` request alice put on the wire, with where it went."""
    out = []
    for wire in net.wire:
        if wire.src == "alice" and wire.first_line.startswith(method + " "):
            message = parse_message(wire.data)
            assert isinstance(message, Request)
            out.append((wire.dst, message))
    return out


def _net(**kw: Any) -> tuple[Net, Node[Any], Node[Any]]:
    net = Net(1)
    alice = add_ua(net, "alice", "192.0.2.1", config=kw.pop("config", None))
    bob = add_ua(net, "bob", "192.0.2.2", handler=kw.pop("handler", None))
    return net, alice, bob


def state_of(call: Any) -> DialogState:
    # A call, so that mypy does not narrow the state across commands.
    return call.state  # type: ignore[no-any-return]


def registration_state(handle: Any) -> RegistrationState:
    return handle.state  # type: ignore[no-any-return]


# -- requests outside a dialog (OPTIONS, MESSAGE, ...) -----------------------------------------


def test_a_timeout_moves_the_request_to_the_next_target_with_a_new_branch() -> None:
    net, alice, bob = _net()
    txn = net.call(
        alice,
        lambda now: ua(alice).options("sip:bob@example.com", targets=[DEAD_UDP, BOB], now=now),
    )
    net.drive()
    sent = sent_to(net, "OPTIONS")
    first, second = sent[0][1], sent[-1][1]
    assert (sent[0][0], sent[-1][0]) == (DEAD_UDP.address, BOB.address)
    # RFC 3263 §4.3: "identical to the previous, but [with] a different ... branch ID".
    assert first.top_via.branch != second.top_via.branch
    assert (first.call_id, first.cseq, first.from_.tag) == (
        second.call_id,
        second.cseq,
        second.from_.tag,
    )
    failed = alice.of_type(TargetFailed)
    assert [(f.target, f.next_target, f.status, f.txn) for f in failed] == [
        (DEAD_UDP, BOB, None, txn)
    ]
    assert failed[0].reason == "no answer (Timer F)"
    assert failed[0].request.call_id == first.call_id
    # The application sees one request: its 200, under the handle it holds, and its end;
    # not the time-out of the first transaction.
    answers = [e for e in alice.events if isinstance(e, ResponseReceived) and e.txn == txn]
    assert [e.response.status_code for e in answers] == [200]
    assert not alice.of_type(TransactionTimedOut)
    assert [e.txn for e in alice.of_type(TransactionTerminated)] == [txn]
    # Timer F (64*T1) at the dead target, then the answer: about 32 s.
    assert answers[0] is not None
    assert_clean(alice, bob)


def test_a_refused_connection_fails_over_at_once_and_the_contact_follows_the_transport() -> None:
    net, alice, bob = _net()
    txn = net.call(
        alice,
        lambda now: ua(alice).options("sip:bob@example.com", targets=[DEAD_TCP, BOB], now=now),
    )
    net.drive(until=6.0)  # bob's UA answers OPTIONS after UAConfig.answer_timeout
    sent = sent_to(net, "OPTIONS")
    assert [dst for dst, _ in sent[:2]] == [DEAD_TCP.address, BOB.address]
    assert {dst for dst, _ in sent[1:]} == {BOB.address}  # (retransmissions to bob)
    assert sent[0][1].top_via.transport == "TCP"
    assert "transport=tcp" in (sent[0][1].headers.get("Contact") or "")
    assert sent[1][1].top_via.transport == "UDP"
    assert "transport" not in (sent[1][1].headers.get("Contact") or "transport")
    (failed,) = alice.of_type(TargetFailed)
    assert failed.reason.startswith("transport error")
    assert not alice.of_type(TransportFailed)
    assert [e.response.status_code for e in alice.of_type(ResponseReceived) if e.txn == txn] == [
        200
    ]
    net.drive()
    assert_clean(alice, bob)


def _options(net: Net, alice: Node[Any], *targets: Target) -> list[tuple[str, int]]:
    """Send an OPTIONS with ``targets`` and drive until answered: where its
    transactions went, in order (retransmissions left out)."""
    before = len(sent_to(net, "OPTIONS"))
    net.call(alice, lambda now: ua(alice).options("sip:bob@example.com", targets=targets, now=now))
    net.drive(until=net.now + 6)  # bob's UA answers OPTIONS after UAConfig.answer_timeout
    walk: list[tuple[str, int]] = []
    for dst, _ in sent_to(net, "OPTIONS")[before:]:
        if not walk or walk[-1] != dst:
            walk.append(dst)
    return walk


def test_a_503_fails_over_and_its_retry_after_backs_the_target_off_for_later_requests() -> None:
    net, alice, bob = _net()
    add_unavailable(net, retry_after=120)
    assert _options(net, alice, BUSY, BOB) == [BUSY.address, BOB.address]
    (failed,) = alice.of_type(TargetFailed)
    assert (failed.status, failed.reason, failed.next_target) == (
        503,
        "503 Service Unavailable",
        BOB,
    )
    # The 503 is not the request's outcome: no ResponseReceived carries it.
    assert [e.response.status_code for e in alice.of_type(ResponseReceived)] == [200]
    # The next request, 60 s later, tries bob first: BUSY is backed off for 120 s.
    net.drive_for(54)
    assert _options(net, alice, BUSY, BOB) == [BOB.address]
    assert len(alice.of_type(TargetFailed)) == 1
    # Past the back-off, BUSY is first again (and fails over again).
    net.drive_for(120)
    assert _options(net, alice, BUSY, BOB) == [BUSY.address, BOB.address]
    net.drive()
    assert_clean(alice, bob)


def test_the_back_off_is_configurable() -> None:
    net, alice, _bob = _net(config=UAConfig(failover_backoff=5.0, failover_max_backoff=5.0))
    add_unavailable(net, retry_after=120)  # capped at 5 s
    assert _options(net, alice, BUSY, BOB) == [BUSY.address, BOB.address]
    assert _options(net, alice, BUSY, BOB) == [BUSY.address, BOB.address]
    with pytest.raises(ValueError, match="failover_backoff"):
        UAConfig(failover_backoff=10.0, failover_max_backoff=5.0)


def test_a_list_that_runs_out_ends_with_targets_exhausted_then_the_last_failure() -> None:
    net, alice, _bob = _net()
    add_unavailable(net)
    dead_too = Target("UDP", "192.0.2.8", 5060)
    txn = net.call(
        alice,
        lambda now: ua(alice).message(
            "sip:bob@example.com", body=b"hi", targets=[DEAD_TCP, BUSY, dead_too], now=now
        ),
    )
    net.drive()
    failed = alice.of_type(TargetFailed)
    assert [(f.target, f.next_target) for f in failed] == [
        (DEAD_TCP, BUSY),
        (BUSY, dead_too),
        (dead_too, None),
    ]
    (exhausted,) = alice.of_type(TargetsExhausted)
    assert exhausted.txn == txn
    assert [t for t, _ in exhausted.failures] == [DEAD_TCP, BUSY, dead_too]
    assert exhausted.failures[1][1] == "503 Service Unavailable"
    # The request's own outcome, as with one target: the last failure, then its end.
    (timed_out,) = alice.of_type(TransactionTimedOut)
    assert timed_out.txn == txn
    assert [e.txn for e in alice.of_type(TransactionTerminated)] == [txn]
    order = [type(e).__name__ for e in alice.events]
    assert order.index("TargetsExhausted") < order.index("TransactionTimedOut")
    assert_clean(alice)


def test_one_target_never_fails_over_and_misuse_is_refused() -> None:
    net, alice, _bob = _net()
    txn = net.call(
        alice, lambda now: ua(alice).options("sip:a@example.com", targets=[DEAD_TCP], now=now)
    )
    net.drive()
    assert not alice.of_type(TargetFailed)
    assert [e.txn for e in alice.of_type(TransportFailed)] == [txn]
    with pytest.raises(LocalProtocolError, match="not both"):
        ua(alice).options("sip:a@example.com", target=BOB, targets=[BOB], now=net.now)
    with pytest.raises(LocalProtocolError, match="non-empty"):
        ua(alice).options("sip:a@example.com", targets=[], now=net.now)


# -- calls ------------------------------------------------------------------------------------


def test_a_call_fails_over_on_503_and_is_answered_by_the_next_target() -> None:
    net, alice, bob = _net(handler=Callee())
    add_unavailable(net)
    call = net.call(
        alice,
        lambda now: ua(alice).invite("sip:bob@example.com", body=SDP, targets=[BUSY, BOB], now=now),
    )
    net.drive(until=5.0)
    assert call.state is DialogState.CONFIRMED
    invites = sent_to(net, "INVITE")
    assert [dst for dst, _ in invites] == [BUSY.address, BOB.address]
    assert invites[0][1].top_via.branch != invites[1][1].top_via.branch
    assert invites[0][1].cseq == invites[1][1].cseq
    (failed,) = alice.of_type(TargetFailed)
    assert (failed.status, failed.next_target) == (503, BOB)
    assert failed.dialog_id is not None
    assert (failed.dialog_id.call_id, failed.dialog_id.local_tag) == (
        call.id.call_id,
        call.id.local_tag,
    )
    # The 503 was ACKed by its transaction (§17.1.1.3), the 200 by the UA, to bob.
    acks = sent_to(net, "ACK")
    assert [dst for dst, _ in acks] == [BUSY.address, BOB.address]
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert [dst for dst, _ in sent_to(net, "BYE")] == [BOB.address]
    assert call.terminated_reason is TerminatedReason.UAC_BYE
    assert_clean(alice, bob)


def test_a_call_fails_over_after_timer_b_at_a_blackholed_target() -> None:
    net, alice, bob = _net(handler=Callee())
    call = net.call(
        alice,
        lambda now: ua(alice).invite(
            "sip:bob@example.com", body=SDP, targets=[DEAD_UDP, BOB], now=now
        ),
    )
    net.drive(until=31.0)
    assert state_of(call) is DialogState.CALLING
    net.drive(until=40.0)
    assert call.state is DialogState.CONFIRMED
    (failed,) = alice.of_type(TargetFailed)
    assert failed.reason == "no answer (Timer B)"
    net.call(alice, lambda now: call.hangup(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_no_failover_once_a_ue_answered_with_an_early_dialog() -> None:
    """A tagged 180 means a UAS was reached: its 503 is the call's outcome."""
    net, alice, bob = _net(handler=Callee(status=503))
    call = net.call(
        alice, lambda now: ua(alice).invite("sip:bob@example.com", targets=[BOB, BUSY], now=now)
    )
    net.drive()
    assert (call.state, call.status) == (DialogState.TERMINATED, 503)
    assert not alice.of_type(TargetFailed)
    assert [dst for dst, _ in sent_to(net, "INVITE")] == [BOB.address]
    assert_clean(alice, bob)


def test_a_call_whose_targets_all_fail_ends_with_the_last_failure() -> None:
    net, alice, _bob = _net()
    add_unavailable(net)
    call = net.call(
        alice,
        lambda now: ua(alice).invite("sip:bob@example.com", targets=[DEAD_TCP, BUSY], now=now),
    )
    net.drive()
    assert (call.state, call.terminated_reason, call.status) == (
        DialogState.TERMINATED,
        TerminatedReason.PROXY_ERROR,
        503,
    )
    (exhausted,) = alice.of_type(TargetsExhausted)
    assert exhausted.dialog_id == call.id
    assert_clean(alice)


def test_hanging_up_a_call_that_waits_at_a_silent_target_stops_the_walk() -> None:
    net, alice, bob = _net(handler=Callee())
    call = net.call(
        alice, lambda now: ua(alice).invite("sip:bob@example.com", targets=[DEAD_UDP, BOB], now=now)
    )
    net.drive(until=5.0)
    net.call(alice, lambda now: call.hangup(now=now))
    net.drive()
    assert call.state is DialogState.TERMINATED
    assert not alice.of_type(TargetFailed)
    assert [dst for dst, _ in sent_to(net, "INVITE")] == [DEAD_UDP.address] * len(
        sent_to(net, "INVITE")
    )
    assert_clean(alice, bob)


# -- registrations ------------------------------------------------------------------------------


def test_a_registration_fails_over_and_refreshes_stay_where_it_succeeded() -> None:
    net = Net(2)
    add_registrar(net)
    alice = add_ua(net, "alice", "192.0.2.1")
    registrar = Target("UDP", "192.0.2.10", 5060)
    handle = net.call(
        alice,
        lambda now: ua(alice).register(
            "sip:192.0.2.10", expires=600, targets=[DEAD_TCP, registrar], now=now
        ),
    )
    net.drive(until=2.0)
    assert handle.state is RegistrationState.REGISTERED
    assert handle.target == registrar
    (failed,) = alice.of_type(TargetFailed)
    assert (failed.target, failed.next_target) == (DEAD_TCP, registrar)
    assert failed.request.method == "REGISTER"
    # The refresh (at 300 s) goes to the registrar that holds the binding.
    net.drive(until=400.0)
    registers = sent_to(net, "REGISTER")
    assert [dst for dst, _ in registers] == [DEAD_TCP.address, registrar.address, registrar.address]
    assert handle.state is RegistrationState.REGISTERED
    net.call(alice, lambda now: ua(alice).unregister(now=now))
    net.drive()
    assert registration_state(handle) is RegistrationState.UNREGISTERED
    assert_clean(alice)
