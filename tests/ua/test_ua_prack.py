"""Reliable provisional responses (RFC 3262), both roles.

The callee's side against a scripted caller (exact retransmission instants, RAck
matching, 420/421), the caller's side against a scripted callee (PRACK, duplicates and
RSeq out of order), and two UserAgents together, also over a lossy network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from callpeer import ANSWER, SDP, Peer
from netsim import Net, Node
from txhelpers import request
from uaharness import Harness
from uasim import SDP2, add_ua, assert_clean, ua

from sipsans import (
    DialogState,
    Event,
    IncomingCall,
    InDialogRequest,
    LocalProtocolError,
    ProvisionalOffer,
    Request,
    Response,
    ResponseReceived,
    TerminatedReason,
    UAConfig,
)

Handler = Callable[[Node, Event], None]


def state(dialog: Any) -> DialogState:
    """The state now (a function, so that mypy keeps no earlier narrowing)."""
    state: DialogState = dialog.state
    return state


def responses(h: Harness, status: int, method: str = "INVITE") -> list[Response]:
    return [
        m
        for m in h.sent
        if isinstance(m, Response) and m.status_code == status and m.cseq.method == method
    ]


def statuses(h: Harness) -> list[int]:
    return [m.status_code for m in h.sent if isinstance(m, Response)]


def rseq(m: Response) -> int:
    return int(m.headers.get("RSeq", "0"))


# -- the callee (§3) ---------------------------------------------------------------------


def test_a_reliable_ringing_carries_require_and_rseq_and_the_2xx_waits_for_its_prack() -> None:
    h = Harness()
    peer = Peer(h)
    dialog = peer.invite("Supported: 100rel")
    dialog.ringing(reliable=True, now=0.0)
    dialog.accept(body=ANSWER, now=0.0)  # held: the 180 is not PRACKed yet (§3)
    h.pump()
    (ringing,) = responses(h, 180)
    assert ringing.headers.get("Require") == "100rel"
    assert 1 <= rseq(ringing) < 2**31
    assert not responses(h, 200)
    assert state(dialog) is DialogState.EARLY
    h.now = 0.1
    peer.send("PRACK", extra=(f"RAck: {rseq(ringing)} 1 INVITE",))
    last = [m for m in h.sent[-2:] if isinstance(m, Response)]
    # The PRACK's 200, then the 2xx.
    assert [(r.status_code, r.cseq.method) for r in last] == [(200, "PRACK"), (200, "INVITE")]
    assert state(dialog) is DialogState.WAIT_ACK
    peer.send("ACK", cseq=1)
    assert state(dialog) is DialogState.CONFIRMED


def test_the_caller_requiring_100rel_gets_reliable_provisionals_by_default() -> None:
    h = Harness()
    dialog = Peer(h).invite("Require: 100rel")
    dialog.ringing(now=0.0)
    dialog.progress(body=ANSWER, now=0.0)  # queued behind the 180
    h.pump()
    (ringing,) = responses(h, 180)
    assert ringing.headers.get("Require") == "100rel"
    with pytest.raises(LocalProtocolError, match="requires 100rel"):
        dialog.ringing(reliable=False, now=0.0)


def test_provisionals_are_unreliable_unless_asked_when_the_caller_only_supports_100rel() -> None:
    h = Harness()
    dialog = Peer(h).invite("Supported: 100rel")
    dialog.ringing(now=0.0)
    dialog.accept(body=ANSWER, now=0.0)
    h.pump()
    (ringing,) = responses(h, 180)
    assert "RSeq" not in ringing.headers and "Require" not in ringing.headers
    assert responses(h, 200)  # nothing to wait for


def test_reliable_needs_a_caller_that_supports_100rel() -> None:
    h = Harness()
    dialog = Peer(h).invite()
    with pytest.raises(LocalProtocolError, match="does not support 100rel"):
        dialog.ringing(reliable=True, now=0.0)
    dialog.ringing(now=0.0)  # unreliable: fine
    h.pump()
    assert "RSeq" not in responses(h, 180)[0].headers


def test_retransmitted_from_t1_doubling_then_rejected_with_500_after_64_t1() -> None:
    """§3: "an interval that starts at T1 seconds and doubles for each retransmission"
    (no T2 cap), and "If a reliable provisional response is retransmitted for 64*T1
    seconds without reception of a corresponding PRACK, the UAS SHOULD reject the
    original request with a 5xx response"."""
    net = Net(3, latency=(0.01, 0.01))
    peer = net.add("peer", "192.0.2.1")
    calls: list[IncomingCall] = []

    def callee(node: Node, event: Event) -> None:
        if isinstance(event, IncomingCall):
            calls.append(event)
            event.dialog.ringing(reliable=True, now=node.net.now)

    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    req = request("INVITE", body=SDP)
    req.headers.add("Require", "100rel")
    net.call(peer, lambda now: peer.ep.send_request(req, target=bob.target(), now=now))
    net.drive()
    ringing = [w.time for w in net.wire if w.src == "bob" and w.first_line.endswith("180 Ringing")]
    start = ringing[0]
    assert [round(t - start, 6) for t in ringing] == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    finals = [w for w in net.wire if w.src == "bob" and " 500 " in w.first_line]
    assert len({w.data for w in finals}) == 1  # (retransmitted by the transaction)
    assert round(finals[0].time - start, 6) == 32.0  # 64*T1
    (call,) = calls
    assert call.dialog.state is DialogState.TERMINATED
    assert call.dialog.status == 500
    assert_clean(bob)


def test_one_reliable_provisional_at_a_time_in_rseq_order() -> None:
    h = Harness()
    peer = Peer(h)
    dialog = peer.invite("Require: 100rel")
    dialog.ringing(now=0.0)
    dialog.progress(body=ANSWER, now=0.0)
    h.pump()
    assert statuses(h) == [180]  # the 183 waits for the 180's PRACK
    (ringing,) = responses(h, 180)
    h.now = 0.2
    peer.send("PRACK", extra=(f"RAck: {rseq(ringing)} 1 INVITE",))
    (progress,) = responses(h, 183)
    assert rseq(progress) == rseq(ringing) + 1
    assert progress.body == ANSWER
    h.now = 0.3
    peer.send("PRACK", extra=(f"RAck: {rseq(progress)} 1 INVITE",))
    dialog.accept(body=ANSWER, now=0.3)  # nothing unacknowledged: at once
    h.pump()
    assert statuses(h)[-1] == 200


def test_a_prack_that_matches_nothing_gets_481() -> None:
    h = Harness()
    peer = Peer(h)
    dialog = peer.invite("Require: 100rel")
    dialog.ringing(now=0.0)
    h.pump()
    (ringing,) = responses(h, 180)
    n = rseq(ringing)
    for rack in (f"{n + 1} 1 INVITE", f"{n} 2 INVITE", f"{n} 1 UPDATE", "x y z", ""):
        peer.send("PRACK", extra=(f"RAck: {rack}",) if rack else ())
        assert statuses(h)[-1] == 481, rack
    peer.send("PRACK", extra=(f"RAck: {n} 1 INVITE",))
    assert statuses(h)[-1] == 200
    peer.send("PRACK", extra=(f"RAck: {n} 1 INVITE",))  # a second PRACK for it
    assert statuses(h)[-1] == 481


def test_a_rejection_goes_at_once_and_ends_the_retransmissions() -> None:
    h = Harness()
    peer = Peer(h)
    dialog = peer.invite("Require: 100rel")
    dialog.ringing(now=0.0)
    dialog.reject(486, now=0.0)
    h.pump()
    assert statuses(h) == [180, 486]
    h.settle()
    assert len(responses(h, 180)) == 1
    assert dialog.terminated_reason is TerminatedReason.UAS_BUSY


def test_a_prack_answer_reaches_the_application_and_a_prack_offer_is_answered_by_it() -> None:
    h = Harness()
    peer = Peer(h)
    # The INVITE has no offer: the reliable 183 carries ours, its PRACK the answer (§5).
    dialog = peer.invite("Require: 100rel", body=b"")
    dialog.progress(body=ANSWER, now=0.0)
    h.pump()
    (progress,) = responses(h, 183)
    peer.send("PRACK", extra=(f"RAck: {rseq(progress)} 1 INVITE",), body=SDP)
    assert statuses(h)[-1] == 200
    (answer,) = [e for e in h.events if isinstance(e, InDialogRequest)]
    assert answer.request.method == "PRACK" and answer.txn is None and answer.request.body == SDP
    # The next reliable 1xx has no offer: a PRACK with a body is a new offer, for the app.
    dialog.ringing(now=0.0)
    h.pump()
    (ringing,) = responses(h, 180)
    peer.send("PRACK", extra=(f"RAck: {rseq(ringing)} 1 INVITE",), body=SDP2)
    offer = [e for e in h.events if isinstance(e, InDialogRequest)][-1]
    assert offer.txn is not None and offer.request.body == SDP2
    h.ua.respond(offer.txn, 200, body=ANSWER, now=h.now)
    h.pump()
    ok = h.sent[-1]
    assert isinstance(ok, Response) and ok.cseq.method == "PRACK" and ok.body == ANSWER


def test_100rel_disabled_a_require_gets_420_and_required_refuses_callers_without_it() -> None:
    h = Harness(config=UAConfig(rel100="disabled"))
    h.receive(Peer(h).request("INVITE", cseq=1, extra=("Require: 100rel",), body=SDP))
    (refused,) = [m for m in h.sent if isinstance(m, Response) and m.status_code == 420]
    assert refused.headers.get("Unsupported") == "100rel"
    assert "PRACK" not in h.ua.allow

    h = Harness(config=UAConfig(rel100="required"))
    h.receive(Peer(h).request("INVITE", cseq=1, body=SDP))
    (required,) = [m for m in h.sent if isinstance(m, Response) and m.status_code == 421]
    assert required.headers.get("Require") == "100rel"
    assert not h.ua.stats()["dialogs"]


# -- the caller (§4) ------------------------------------------------------------------------


def _call(h: Harness, body: bytes = SDP) -> tuple[object, Request]:
    call = h.ua.invite("sip:bob@192.0.2.1", body=body, now=h.now)
    h.pump()
    (invite,) = h.requests("INVITE")
    return call, invite


@pytest.mark.parametrize(
    ("mode", "supported", "require"),
    [
        ("supported", "100rel, timer, replaces, norefersub", None),
        ("required", "100rel, timer, replaces, norefersub", "100rel"),
        ("disabled", "timer, replaces, norefersub", None),
    ],
)
def test_our_invite_says_what_we_support(mode: Any, supported: str, require: str | None) -> None:
    h = Harness(config=UAConfig(rel100=mode))
    _, invite = _call(h)
    assert invite.headers.get("Supported") == supported
    assert invite.headers.get("Require") == require


def test_the_caller_pracks_each_reliable_provisional_once_in_order() -> None:
    h = Harness()
    call, invite = _call(h)
    peer = Peer(h)
    reliable = ("Require", "100rel")
    peer.answer(invite, 180, reliable, ("RSeq", "5"))
    (prack,) = h.requests("PRACK")
    assert prack.headers.get("RAck") == f"5 {invite.cseq.seq} INVITE"
    assert prack.cseq.seq > invite.cseq.seq and prack.to.tag == "p1"
    passed = [e for e in h.events if isinstance(e, ResponseReceived)]
    assert len(passed) == 1
    # A retransmission (same RSeq), and one out of order (7 before 6): neither is
    # PRACKed or processed (§4).
    peer.answer(invite, 180, reliable, ("RSeq", "5"))
    peer.answer(invite, 183, reliable, ("RSeq", "7"))
    assert len(h.requests("PRACK")) == 1
    assert len([e for e in h.events if isinstance(e, ResponseReceived)]) == 1
    peer.answer(invite, 183, reliable, ("RSeq", "6"), body=ANSWER)
    peer.answer(invite, 183, reliable, ("RSeq", "7"))
    assert [p.headers.get("RAck") for p in h.requests("PRACK")[1:]] == [
        f"6 {invite.cseq.seq} INVITE",
        f"7 {invite.cseq.seq} INVITE",
    ]
    # PRACKs are the UA's own: their answers stay with it.
    for prack in h.requests("PRACK"):
        peer.answer(prack, 200)
    assert all(
        e.response.cseq.method == "INVITE" for e in h.events if isinstance(e, ResponseReceived)
    )
    peer.answer(invite, 200, body=ANSWER)
    assert call.state is DialogState.CONFIRMED  # type: ignore[attr-defined]
    # §4: a reliable 1xx after the final response is not PRACKed.
    peer.answer(invite, 183, reliable, ("RSeq", "8"))
    assert len(h.requests("PRACK")) == 3


def test_an_unreliable_or_broken_rseq_provisional_is_not_pracked() -> None:
    h = Harness()
    _, invite = _call(h)
    peer = Peer(h)
    peer.answer(invite, 180, ("RSeq", "5"))  # no Require: 100rel
    peer.answer(invite, 180, ("Require", "100rel"), ("RSeq", "five"))
    peer.answer(invite, 100)
    assert not h.requests("PRACK")


# -- two UserAgents ---------------------------------------------------------------------------


def _callee(*, ring: str, answer_at: float | None = 0.5) -> tuple[list[IncomingCall], Handler]:
    calls: list[IncomingCall] = []

    def handler(node: Node, event: Event) -> None:
        net = node.net
        if isinstance(event, IncomingCall):
            calls.append(event)
            dialog = event.dialog
            if ring == "180":
                dialog.ringing(reliable=True, now=net.now)
            else:
                dialog.progress(body=SDP2, reliable=True, now=net.now)
            if answer_at is not None:

                def accept() -> None:
                    if dialog.state is DialogState.EARLY:
                        dialog.accept(body=SDP2, now=net.now)
                        net.pump(node)

                net.at(net.now + answer_at, accept)

    return calls, handler


def test_two_uas_early_media_answered_reliably_then_accepted() -> None:
    net = Net(8, latency=(0.01, 0.01))
    _calls, handler = _callee(ring="183")
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2", handler=handler)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=2.0)
    lines = [(w.src, w.first_line.split(" ")[0 if w.src == "alice" else 1]) for w in net.wire]
    assert lines[:6] == [
        ("alice", "INVITE"),
        ("bob", "183"),
        ("alice", "PRACK"),
        ("bob", "200"),
        ("bob", "200"),
        ("alice", "ACK"),
    ]
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_an_offer_in_a_reliable_provisional_is_answered_in_the_prack() -> None:
    """RFC 3262 §5: our INVITE had no offer; the callee's reliable 183 brings one and our
    PRACK carries the answer. The 2xx then carries no new offer: the ACK goes at once."""
    net = Net(9, latency=(0.01, 0.01))
    _calls, handler = _callee(ring="183", answer_at=1.0)
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2", handler=handler)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", now=now))
    net.drive(until=0.5)
    (offer,) = alice.of_type(ProvisionalOffer)
    assert offer.response.body == SDP2 and offer.dialog_id == call.id
    assert not [w for w in net.wire if w.first_line.startswith("PRACK")]  # waits for us
    prack = net.call(alice, lambda now: call.prack(body=SDP, now=now))
    net.drive(until=3.0)
    (sent,) = [w for w in net.wire if w.first_line.startswith("PRACK")]
    assert sent.data.endswith(SDP)
    assert [e.response.status_code for e in alice.of_type(ResponseReceived) if e.txn == prack] == [
        200
    ]
    answers = [e for e in bob.of_type(InDialogRequest) if e.request.method == "PRACK"]
    assert [(e.txn, e.request.body) for e in answers] == [(None, SDP)]
    assert call.state is DialogState.CONFIRMED
    (ack,) = [w for w in net.wire if w.first_line.startswith("ACK")]
    assert ack.data.endswith(b"Content-Length: 0\r\n\r\n")
    with pytest.raises(LocalProtocolError, match="no reliable provisional response"):
        call.prack(body=SDP, now=net.now)
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_an_offer_in_a_provisional_left_unanswered_cancels_the_call() -> None:
    net = Net(10, latency=(0.01, 0.01))
    calls, handler = _callee(ring="183", answer_at=None)
    alice = add_ua(net, "alice", "192.0.2.1", config=UAConfig(answer_timeout=2.0))
    bob = add_ua(net, "bob", "192.0.2.2", handler=handler)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", now=now))
    net.drive()
    prack = next(w for w in net.wire if w.first_line.startswith("PRACK"))
    cancel = next(w for w in net.wire if w.first_line.startswith("CANCEL"))
    assert round(prack.time - 0.02, 6) == 2.0  # answer_timeout after the 183 arrived
    assert b"Reason: SIP;cause=488" in cancel.data
    assert call.terminated_reason is TerminatedReason.UAC_CANCEL
    assert calls[0].dialog.terminated_reason is TerminatedReason.UAC_CANCEL
    assert_clean(alice, bob)


@pytest.mark.parametrize("seed", range(5))
def test_reliable_provisionals_survive_loss_duplication_reordering(seed: int) -> None:
    net = Net(200 + seed, loss=0.2, duplicate=0.1, reorder=0.2)
    _calls, handler = _callee(ring="180" if seed % 2 else "183", answer_at=2.0)
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2", handler=handler)
    placed = []
    for i in range(4):

        def place() -> None:
            placed.append(ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=net.now))
            net.pump(alice)

        net.at(i * 0.3, place)
    net.drive(until=40.0)
    for call in placed:
        # Confirmed, unless a reliable 1xx was lost 7 times in a row (then 500).
        assert call.state is DialogState.CONFIRMED or call.status == 500, call
        if call.state is DialogState.CONFIRMED:
            call.bye(now=net.now)
            net.pump(alice)
    net.drive()
    assert sum(c.state is DialogState.TERMINATED for c in placed) == 4
    rseqs = [w for w in net.wire if w.src == "bob" and b"RSeq:" in w.data]
    assert rseqs  # the provisionals went reliably
    assert_clean(alice, bob)
