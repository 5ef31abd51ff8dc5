"""UPDATE in early and confirmed dialogs (RFC 3311) and its offer/answer rules: one
offer at a time, 491 for offers that cross, 500 with Retry-After while we owe an
answer, offers in an early dialog only once the initial exchange completed reliably."""

from __future__ import annotations

from typing import Any

import pytest
from callpeer import ANSWER, SDP, Peer
from netsim import Net
from uaharness import Harness
from uasim import SDP2, add_ua, assert_clean, ua

from sipsans import (
    DialogState,
    Event,
    IncomingCall,
    InDialogRequest,
    LocalProtocolError,
    Response,
    ResponseReceived,
)
from sipsans.testing import Node

SDP3 = SDP2.replace(b"4002", b"4004")


def last_response(h: Harness) -> Response:
    response = [m for m in h.sent if isinstance(m, Response)][-1]
    return response


def confirmed(h: Harness) -> tuple[Peer, Any]:
    """A call from the peer, accepted by the UA and ACKed."""
    peer = Peer(h)
    dialog = peer.invite()
    dialog.accept(body=ANSWER, now=h.now)
    h.pump()
    peer.send("ACK", cseq=1)
    assert dialog.state is DialogState.CONFIRMED
    return peer, dialog


def test_an_update_offer_is_answered_in_its_2xx_and_refreshes_the_target() -> None:
    h = Harness()
    peer, _dialog = confirmed(h)
    peer.send("UPDATE", body=SDP2)
    (update,) = [e for e in h.events if isinstance(e, InDialogRequest)]
    assert update.request.method == "UPDATE" and update.txn is not None
    h.ua.respond(update.txn, 200, body=ANSWER, now=h.now)
    h.pump()
    ok = last_response(h)
    assert ok.status_code == 200 and ok.body == ANSWER
    assert ok.headers.get("Contact") is not None  # a target refresh (§5.2)


def test_an_update_offer_while_we_owe_an_answer_gets_500_with_retry_after() -> None:
    h = Harness()
    peer, _dialog = confirmed(h)
    peer.send("INVITE", body=SDP2)  # a re-INVITE offer the application has not answered
    peer.send("UPDATE", body=SDP3)
    refused = last_response(h)
    assert refused.status_code == 500 and refused.cseq.method == "UPDATE"
    assert 0 <= int(refused.headers.get("Retry-After", "-1")) <= 10  # §5.2
    # Likewise a second UPDATE offer while the first is unanswered.
    h2 = Harness()
    peer2, _ = confirmed(h2)
    peer2.send("UPDATE", body=SDP2)
    peer2.send("UPDATE", body=SDP3)
    assert last_response(h2).status_code == 500
    # An UPDATE without an offer is fine meanwhile (a target refresh).
    peer2.send("UPDATE")
    assert [e.request.body for e in h2.events if isinstance(e, InDialogRequest)] == [SDP2, b""]


def test_an_update_offer_crossing_our_offer_gets_491() -> None:
    h = Harness()
    peer, dialog = confirmed(h)
    dialog.reinvite(body=SDP2, now=h.now)  # our offer, unanswered
    h.pump()
    peer.send("UPDATE", body=SDP3)
    assert last_response(h).status_code == 491
    # And a re-INVITE offer crossing our UPDATE offer (§14.2, RFC 3311 §5.2).
    h2 = Harness()
    peer2, dialog2 = confirmed(h2)
    dialog2.update(body=SDP2, now=h2.now)
    h2.pump()
    peer2.send("INVITE", body=SDP3)
    refused = last_response(h2)
    assert refused.status_code == 491 and refused.cseq.method == "INVITE"


def test_our_update_offer_is_refused_while_an_exchange_is_open() -> None:
    h = Harness()
    peer, dialog = confirmed(h)
    dialog.update(body=SDP2, now=h.now)
    with pytest.raises(LocalProtocolError, match="our offer is waiting"):
        dialog.update(body=SDP3, now=h.now)
    with pytest.raises(LocalProtocolError, match="UPDATE's offer is waiting"):
        dialog.reinvite(body=SDP3, now=h.now)
    dialog.update(now=h.now)  # without an offer: fine
    h.pump()
    (update, _) = h.requests("UPDATE")
    peer.answer(update, 200, body=SDP)
    dialog.update(body=SDP3, now=h.now)  # answered: a new offer may go
    h.pump()
    # The peer's offer unanswered by us: no offer of ours.
    h2 = Harness()
    peer2, dialog2 = confirmed(h2)
    peer2.send("UPDATE", body=SDP2)
    with pytest.raises(LocalProtocolError, match="peer's offer is waiting"):
        dialog2.update(body=SDP3, now=h2.now)


def test_crossing_update_offers_both_get_491_and_are_retried() -> None:
    """Both ends send an UPDATE offer at once: each gets 491, backs off (§14.1 timing,
    RFC 3311 §5.1) and retries; each handle reports its retry's 200."""
    net = Net(7, latency=(0.02, 0.02))
    calls: list[IncomingCall] = []

    def answer_all(node: Node[Any], event: Event) -> None:
        if isinstance(event, IncomingCall):
            calls.append(event)
            event.dialog.accept(body=SDP2, now=node.net.now)
        elif isinstance(event, InDialogRequest) and event.txn is not None:
            body = SDP if event.request.body else b""
            ua(node).respond(event.txn, 200, body=body, now=node.net.now)

    alice = add_ua(net, "alice", "192.0.2.1", handler=answer_all)
    bob = add_ua(net, "bob", "192.0.2.2", handler=answer_all)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=1.0)
    server = calls[0].dialog
    t_alice = call.update(body=SDP3, now=net.now)
    t_bob = server.update(body=SDP3, now=net.now)
    net.pump(alice)
    net.pump(bob)
    net.drive(until=20.0)
    a = [e.response.status_code for e in alice.of_type(ResponseReceived) if e.txn == t_alice]
    b = [e.response.status_code for e in bob.of_type(ResponseReceived) if e.txn == t_bob]
    assert a == [200] and b == [200]
    assert len([w for w in net.wire if w.first_line.startswith("SIP/2.0 491")]) == 2
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


# -- early dialogs ------------------------------------------------------------------------


def test_early_update_offers_need_the_initial_exchange_completed_reliably() -> None:
    """RFC 3311 §5.1: in an early dialog an UPDATE may carry an offer once the initial
    offer was answered in a reliable 1xx (caller) and that 1xx was PRACKed (callee)."""
    net = Net(11, latency=(0.01, 0.01))
    calls: list[IncomingCall] = []

    def callee(node: Node[Any], event: Event) -> None:
        if isinstance(event, IncomingCall):
            calls.append(event)
            event.dialog.ringing(now=node.net.now)  # unreliable: no answer yet
        elif isinstance(event, InDialogRequest) and event.txn is not None:
            body = SDP2 if event.request.body else b""
            ua(node).respond(event.txn, 200, body=body, now=node.net.now)

    alice = add_ua(net, "alice", "192.0.2.1", handler=callee)
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=0.5)
    server = calls[0].dialog
    assert call.state is DialogState.EARLY and server.state is DialogState.EARLY
    with pytest.raises(LocalProtocolError, match="our offer is waiting"):
        call.update(body=SDP3, now=net.now)  # our INVITE's offer is not answered yet
    with pytest.raises(LocalProtocolError, match="peer's offer is waiting"):
        server.update(body=SDP3, now=net.now)  # bob owes the answer
    net.call(bob, lambda now: server.progress(body=SDP2, reliable=True, now=now))
    net.drive(until=1.0)  # the 183 with the answer, its PRACK, the PRACK's 200
    t = net.call(alice, lambda now: call.update(body=SDP3, now=now))
    net.drive(until=1.5)
    finals = [e.response for e in alice.of_type(ResponseReceived) if e.txn == t]
    assert [(r.status_code, r.body) for r in finals] == [(200, SDP2)]
    t2 = net.call(bob, lambda now: server.update(body=SDP3, now=now))  # PRACKed: may offer
    net.drive(until=2.0)
    assert [e.response.status_code for e in bob.of_type(ResponseReceived) if e.txn == t2] == [200]
    assert call.state is DialogState.EARLY
    net.call(bob, lambda now: server.accept(body=SDP2, now=now))
    net.drive(until=3.0)
    assert call.state.value == "Confirmed"
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_an_early_update_offer_before_our_answer_gets_500() -> None:
    h = Harness()
    peer = Peer(h)
    dialog = peer.invite("Supported: 100rel")
    dialog.ringing(now=0.0)
    h.pump()
    peer.send("UPDATE", body=SDP2)  # the INVITE's offer is still unanswered
    assert last_response(h).status_code == 500
    dialog.progress(body=ANSWER, reliable=True, now=0.0)
    h.pump()
    peer.send("UPDATE", body=SDP2)  # answered reliably: a new offer may come (§5.2)
    (update,) = [e for e in h.events if isinstance(e, InDialogRequest)]
    assert update.request.body == SDP2 and dialog.state is DialogState.EARLY


def test_a_cancelled_reinvite_of_an_ended_dialog_gets_no_second_answer() -> None:
    """The peer CANCELs its re-INVITE after our BYE ended the dialog: the endpoint
    answers it 487, and the UA's default answer (488 after answer_timeout) must not
    follow (the transaction no longer takes one). Found by fuzz_ua."""
    h = Harness()
    peer, dialog = confirmed(h)
    peer.send("INVITE", body=SDP2, branch="z9hG4bKre")  # not answered by the app
    dialog.bye(now=h.now)
    h.pump()
    h.now = 0.2
    peer.send("CANCEL", cseq=peer.cseq, branch="z9hG4bKre")
    h.settle()
    answers = [(m.status_code, m.cseq.method) for m in h.sent if isinstance(m, Response)]
    assert (200, "CANCEL") in answers and (487, "INVITE") in answers
    assert (488, "INVITE") not in answers  # no default answer after the 487
