"""Session timers (RFC 4028), both roles, in virtual time: negotiation, 422, refresher
choice, refresh instants (UPDATE, or re-INVITE when the peer lacks UPDATE), and the BYE
of an expired session, also under 20% loss."""

from __future__ import annotations

from typing import Any

import pytest
from callpeer import ANSWER, SDP, Peer
from netsim import Net
from uaharness import Harness
from uasim import Callee, add_ua, assert_clean, ua

from sipsans import (
    DialogState,
    DialogTerminated,
    IncomingCall,
    InDialogRequest,
    Request,
    Response,
    SessionRefreshed,
    TerminatedReason,
    UAConfig,
    parse_message,
)
from sipsans.testing import Node, Wire


def wire(net: Net, src: str, start: str) -> list[Wire]:
    return [w for w in net.wire if w.src == src and w.first_line.startswith(start)]


def first_sends(net: Net, src: str, method: str) -> list[Wire]:
    """The first transmission of each ``method`` request ``src`` sent (by CSeq)."""
    seen: set[bytes] = set()
    out = []
    for w in wire(net, src, method + " "):
        cseq = parse_message(w.data).headers.get("CSeq", "").encode()
        if cseq not in seen:
            seen.add(cseq)
            out.append(w)
    return out


def answered(net: Net, src: str, method: str) -> list[Response]:
    return [
        m
        for w in wire(net, src, "SIP/2.0 2")
        if isinstance(m := parse_message(w.data), Response) and m.cseq.method == method
    ]


def two_uas(
    seed: int = 1,
    *,
    alice: UAConfig | None = None,
    bob: UAConfig | None = None,
    latency: tuple[float, float] = (0.01, 0.01),
    **net_options: Any,
) -> tuple[Net, Node[Any], Node[Any], Callee, Any]:
    net = Net(seed, latency=latency, **net_options)
    a = add_ua(net, "alice", "192.0.2.1", config=alice)
    callee = Callee(ring=0.0, answer_in_dialog=True)
    b = add_ua(net, "bob", "192.0.2.2", config=bob, handler=callee)
    call = net.call(a, lambda now: ua(a).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    return net, a, b, callee, call


def test_negotiated_in_the_2xx_and_refreshed_by_update_at_half_the_interval() -> None:
    net, alice, bob, _callee, call = two_uas(alice=UAConfig(session_expires=300))
    net.drive(until=1.0)
    (invite,) = [parse_message(w.data) for w in wire(net, "alice", "INVITE")]
    assert invite.headers.get("Session-Expires") == "300"
    assert invite.headers.get("Min-SE") == "90"
    assert "timer" in invite.headers.get("Supported", "")
    (ok,) = answered(net, "bob", "INVITE")[:1]
    assert ok.headers.get("Session-Expires") == "300;refresher=uac"  # §9: the caller's
    assert ok.headers.get("Require") == "timer"
    (started,) = alice.of_type(SessionRefreshed)
    assert (started.interval, started.we_refresh, started.dialog_id) == (300, True, call.id)
    (granted,) = bob.of_type(SessionRefreshed)
    assert (granted.interval, granted.we_refresh) == (300, False)
    assert granted.expires_at == pytest.approx(wire(net, "bob", "SIP/2.0 200")[0].time + 300)
    assert granted.message.status_code == 200
    net.drive(until=700.0)
    updates = first_sends(net, "alice", "UPDATE")
    refreshed = [t for t, e in alice.log if isinstance(e, SessionRefreshed)]
    # Each refresh goes half an interval after the 2xx that set the timer (§10).
    assert [round(u.time - t, 6) for u, t in zip(updates, refreshed, strict=False)] == [150.0] * 4
    assert len(updates) == 4 and len(refreshed) == 5
    for u in updates:
        update = parse_message(u.data)
        assert isinstance(update, Request) and not update.body
        assert update.headers.lines("Session-Expires") == ["300;refresher=uac"]
        assert update.headers.lines("Min-SE") == ["90"]
        assert update.headers.lines("Supported") == ["100rel, timer, replaces, norefersub"]
    # The callee answers them itself, Session-Expires renewed; the app is not bothered.
    assert [r.headers.get("Session-Expires") for r in answered(net, "bob", "UPDATE")] == [
        "300;refresher=uac"
    ] * 4
    assert not [e for e in bob.of_type(InDialogRequest) if e.request.method == "UPDATE"]
    assert len(bob.of_type(SessionRefreshed)) == 5
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_a_peer_without_update_is_refreshed_by_reinvite_with_the_same_offer() -> None:
    no_update = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO")
    net, alice, bob, _callee, call = two_uas(
        alice=UAConfig(session_expires=120), bob=UAConfig(allow=no_update)
    )
    net.drive(until=100.0)  # one refresh, at 60 s
    (refresh,) = [parse_message(w.data) for w in first_sends(net, "alice", "INVITE")[1:]]
    assert isinstance(refresh, Request) and refresh.body == SDP  # our offer, unchanged
    assert refresh.headers.get("Session-Expires") == "120;refresher=uac"
    assert not first_sends(net, "alice", "UPDATE")
    assert len(wire(net, "alice", "ACK")) == 2
    assert len(alice.of_type(SessionRefreshed)) == 2
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_the_callee_refreshes_when_asked_to() -> None:
    net, alice, bob, _callee, call = two_uas(
        alice=UAConfig(session_expires=100, session_refresher="uas")
    )
    net.drive(until=70.0)  # one refresh, at 50 s
    (ok,) = answered(net, "bob", "INVITE")[:1]
    assert ok.headers.get("Session-Expires") == "100;refresher=uas"
    (update,) = [parse_message(w.data) for w in first_sends(net, "bob", "UPDATE")]
    # In the refresh, bob is the client: refresher=uac names him (§7.4).
    assert update.headers.get("Session-Expires") == "100;refresher=uac"
    assert [e.we_refresh for e in bob.of_type(SessionRefreshed)] == [True, True]
    assert [e.we_refresh for e in alice.of_type(SessionRefreshed)] == [False, False]
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_the_callee_grants_no_more_than_its_session_expires() -> None:
    net, alice, _bob, _callee, call = two_uas(
        alice=UAConfig(session_expires=3600), bob=UAConfig(session_expires=600)
    )
    net.drive(until=1.0)
    (ok,) = answered(net, "bob", "INVITE")[:1]
    assert ok.headers.get("Session-Expires") == "600;refresher=uac"
    assert [e.interval for e in alice.of_type(SessionRefreshed)] == [600]
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()


def test_a_422_round_asks_again_with_the_callee_min_se() -> None:
    net, alice, bob, _callee, call = two_uas(
        alice=UAConfig(session_expires=120), bob=UAConfig(min_se=300, session_expires=1800)
    )
    net.drive(until=1.0)
    invites = [parse_message(w.data) for w in first_sends(net, "alice", "INVITE")]
    (too_small,) = [parse_message(w.data) for w in wire(net, "bob", "SIP/2.0 422 ")][:1]
    assert too_small.headers.get("Min-SE") == "300"
    assert [i.headers.get("Session-Expires") for i in invites] == ["120", "300"]
    assert [i.headers.get("Min-SE") for i in invites] == ["90", "300"]
    assert invites[1].cseq.seq == invites[0].cseq.seq + 1
    assert invites[1].call_id == invites[0].call_id and invites[1].from_.tag == invites[0].from_.tag
    assert call.state is DialogState.CONFIRMED
    assert [e.interval for e in alice.of_type(SessionRefreshed)] == [300]
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_a_422_that_asks_for_no_more_or_a_second_422_ends_the_call() -> None:
    h = Harness(config=UAConfig(session_expires=300))
    call = h.ua.invite("sip:bob@192.0.2.1", body=SDP, now=0.0)
    h.pump()
    (invite,) = h.requests("INVITE")
    Peer(h).answer(invite, 422, ("Min-SE", "200"))  # below what we asked: nothing to retry
    assert len(h.requests("INVITE")) == 1
    assert call.state is DialogState.TERMINATED and call.status == 422
    # One round only: a second 422 ends the call (a 422 carries the path's largest
    # minimum, so asking again would loop).
    h = Harness(config=UAConfig(session_expires=300))
    call = h.ua.invite("sip:bob@192.0.2.1", body=SDP, now=0.0)
    h.pump()
    Peer(h).answer(h.requests("INVITE")[0], 422, ("Min-SE", "600"))
    retry = h.requests("INVITE")[1]
    assert retry.headers.get("Session-Expires") == "600"
    Peer(h).answer(retry, 422, ("Min-SE", "1200"))
    assert len(h.requests("INVITE")) == 2
    assert call.status == 422


@pytest.mark.parametrize(("interval", "bye_at"), [(90, 60.0), (1800, 1768.0)])
def test_the_unrefreshed_callee_byes_before_expiry(interval: int, bye_at: float) -> None:
    """§10: the side not refreshing sends BYE at the expiry minus the lesser of 32 s and
    a third of the interval; the dialog ends with SESSION_EXPIRED."""
    h = Harness()
    peer = Peer(h)
    dialog = peer.invite("Supported: timer", f"Session-Expires: {interval};refresher=uac")
    dialog.accept(body=ANSWER, now=0.0)
    h.pump()
    (ok,) = [m for m in h.sent if isinstance(m, Response) and m.status_code == 200]
    assert ok.headers.get("Session-Expires") == f"{interval};refresher=uac"
    peer.send("ACK", cseq=1)
    refreshed = [e for e in h.events if isinstance(e, SessionRefreshed)]
    assert [(e.interval, e.we_refresh, e.expires_at) for e in refreshed] == [
        (interval, False, float(interval))
    ]
    while not h.requests("BYE"):  # the peer never refreshes: wake up at each deadline
        deadline = h.ua.get_next_timer()
        assert deadline is not None
        h.advance(deadline)
    assert h.now == bye_at
    (bye,) = h.requests("BYE")
    assert bye.headers.get("Reason") == 'SIP;cause=408;text="Session timer expired"'
    expired = [e for e in h.events if isinstance(e, DialogTerminated)]
    assert [e.reason for e in expired] == [TerminatedReason.SESSION_EXPIRED]
    assert dialog.state is DialogState.TERMINATED


def test_a_caller_without_timers_gets_one_imposed_when_always() -> None:
    net, alice, bob, _callee, call = two_uas(
        alice=UAConfig(session_timer="disabled"),
        bob=UAConfig(session_timer="always", session_expires=200),
    )
    net.drive(until=150.0)
    (invite,) = [parse_message(w.data) for w in wire(net, "alice", "INVITE")]
    assert "Session-Expires" not in invite.headers
    assert "timer" not in invite.headers.get("Supported", "")
    (ok,) = answered(net, "bob", "INVITE")[:1]
    assert ok.headers.get("Session-Expires") == "200;refresher=uas"  # §9: it cannot refresh
    assert "Require" not in ok.headers
    assert not alice.of_type(SessionRefreshed)  # no timers there
    assert len(first_sends(net, "bob", "UPDATE")) == 1  # bob refreshes, at 100 s
    # Alice's 2xx to it carries no Session-Expires (she has no timers): bob goes on.
    net.drive(until=250.0)
    assert len(first_sends(net, "bob", "UPDATE")) == 2
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_disabled_timers_send_nothing_and_refuse_require_timer() -> None:
    net, alice, bob, _callee, _call = two_uas(
        alice=UAConfig(session_timer="disabled"), bob=UAConfig(session_timer="disabled")
    )
    net.drive(until=1.0)
    for w in net.wire:
        assert b"Session-Expires" not in w.data and b"Min-SE" not in w.data
    assert not alice.of_type(SessionRefreshed) and not bob.of_type(SessionRefreshed)
    h = Harness(config=UAConfig(session_timer="disabled"))
    h.receive(Peer(h).request("INVITE", cseq=1, extra=("Require: timer",), body=SDP))
    (refused,) = [m for m in h.sent if isinstance(m, Response)][-1:]
    assert refused.status_code == 420 and refused.headers.get("Unsupported") == "timer"


def test_a_refresh_below_our_min_se_gets_422_and_the_session_goes_on() -> None:
    h = Harness()
    peer = Peer(h)
    dialog = peer.invite("Supported: timer", "Session-Expires: 1800;refresher=uac")
    dialog.accept(body=ANSWER, now=0.0)
    h.pump()
    peer.send("ACK", cseq=1)
    peer.send("UPDATE", extra=("Supported: timer", "Session-Expires: 60;refresher=uac"))
    last = h.sent[-1]
    assert isinstance(last, Response) and last.status_code == 422
    assert last.headers.get("Min-SE") == "90"
    peer.send("UPDATE", extra=("Supported: timer", "Session-Expires: 600;refresher=uac"))
    last = h.sent[-1]
    assert isinstance(last, Response) and last.status_code == 200
    assert last.headers.get("Session-Expires") == "600;refresher=uac"
    assert dialog.state is DialogState.CONFIRMED


def test_refresh_instants_and_expiry_under_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    """With 20% loss, duplication and reordering the refreshes still go at half the
    interval after each 2xx that restarted the timer; when the refresher falls silent,
    the callee BYEs at its last 2xx + interval - min(32, interval/3)."""
    net, alice, bob, callee, call = two_uas(
        5,
        alice=UAConfig(session_expires=90),
        latency=(0.01, 0.05),
        loss=0.2,
        duplicate=0.1,
        reorder=0.2,
    )
    net.drive(until=400.0)
    assert call.state is DialogState.CONFIRMED
    refreshed = [t for t, e in alice.log if isinstance(e, SessionRefreshed)]
    updates = first_sends(net, "alice", "UPDATE")
    assert len(updates) >= 2
    for update in updates:
        before = max(t for t in refreshed if t <= update.time)
        assert update.time == pytest.approx(before + 45.0)
    # Alice vanishes: nothing she sends arrives, nothing reaches her.
    send = net._send
    monkeypatch.setattr(net, "_send", lambda node, t: None if node is alice else send(node, t))
    del net._by_address[alice.address]
    net.drive()
    last = max(t for t, e in bob.log if isinstance(e, SessionRefreshed))
    (bye,) = first_sends(net, "bob", "BYE")
    assert bye.time == pytest.approx(last + 90 - 30)
    assert callee.calls[0].terminated_reason is TerminatedReason.SESSION_EXPIRED
    assert_clean(bob)


def test_a_late_offer_call_is_refreshed_with_the_answer_the_ack_carried() -> None:
    """Our INVITE had no offer; the 2xx's offer was answered in the ACK: a refresh
    re-INVITE (the peer has no UPDATE) offers that answer again."""
    no_update = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO")
    net = Net(12, latency=(0.01, 0.01))
    alice = add_ua(net, "alice", "192.0.2.1", config=UAConfig(session_expires=120))
    callee = Callee(ring=0.0, answer_in_dialog=True)
    bob = add_ua(net, "bob", "192.0.2.2", config=UAConfig(allow=no_update), handler=callee)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", now=now))
    net.drive(until=0.5)
    net.call(alice, lambda now: call.ack(body=SDP, now=now))
    net.drive(until=100.0)
    refresh = parse_message(first_sends(net, "alice", "INVITE")[1].data)
    assert isinstance(refresh, Request) and refresh.body == SDP
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_a_stray_2xx_confirming_a_retried_call_leaves_no_invite_behind() -> None:
    """After a 422 the INVITE goes again; a 2xx to the first one (its branch: no
    transaction any more) confirms the call while the second INVITE still waits with no
    timer (§17.1.1.2). Once the call ends, that INVITE is CANCELled, so nothing is left.
    Found by fuzz_ua."""
    h = Harness(config=UAConfig(session_expires=300))
    call = h.ua.invite("sip:bob@192.0.2.1", body=SDP, now=0.0)
    h.pump()
    first = h.requests("INVITE")[0]
    peer = Peer(h)
    peer.answer(first, 422, ("Min-SE", "600"))
    second = h.requests("INVITE")[1]
    peer.answer(second, 180)
    h.advance(33.0)  # the first INVITE's transaction is gone (Timer D)
    peer.answer(first, 200, body=ANSWER)  # to its branch
    assert call.state is DialogState.CONFIRMED
    call.bye(now=h.now)
    h.pump()
    (bye,) = h.requests("BYE")
    peer.answer(bye, 200)
    (cancel,) = h.requests("CANCEL")
    assert cancel.headers.get("CSeq") == f"{second.cseq.seq} CANCEL"
    peer.answer(cancel, 200)
    peer.answer(second, 487)
    assert h.settle() == {}


#: Session intervals of the many-dialog tests: the RFC 4028 minimum, odd values, the
#: default, and some sharing whole seconds of their deadlines.
MANY_INTERVALS = (90, 91, 97, 120, 150, 151, 240, 300, 333, 600, 901, 1800)


def test_many_dialogs_are_each_refreshed_at_half_their_own_interval() -> None:
    """Dialogs started at scattered instants with different intervals: each refresh goes
    exactly half an interval after the 2xx that set the timer (§10), however the
    deadlines fall among whole seconds."""
    net = Net(21, latency=(0.01, 0.03))
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2", handler=Callee(ring=0.0, answer_in_dialog=True))
    calls: dict[str, tuple[Any, int]] = {}

    def invite(interval: int) -> Any:
        headers = (("Session-Expires", str(interval)),)
        return lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, headers=headers, now=now)

    def hang_up(call: Any) -> Any:
        return lambda now: call.bye(now=now)

    for n in range(24):
        interval = MANY_INTERVALS[n % len(MANY_INTERVALS)]
        net.drive(until=n * 0.37)
        call = net.call(alice, invite(interval))
        calls[call.id.call_id] = (call, interval)
    net.drive(until=2000.0)
    refreshed: dict[str, list[float]] = {}
    for t, e in alice.log:
        if isinstance(e, SessionRefreshed):
            refreshed.setdefault(e.dialog_id.call_id, []).append(t)
    updates: dict[str, list[float]] = {}
    for w in first_sends(net, "alice", "UPDATE"):
        updates.setdefault(parse_message(w.data).call_id, []).append(w.time)
    for call_id, (call, interval) in calls.items():
        assert call.state is DialogState.CONFIRMED
        sent, set_at = updates[call_id], refreshed[call_id]
        assert len(sent) == len(set_at) - 1 >= 2000 // interval - 1
        assert [round(u - t, 6) for u, t in zip(sent, set_at, strict=False)] == [
            interval / 2
        ] * len(sent)
    for call, _ in calls.values():
        net.call(alice, hang_up(call))
    net.drive()
    assert_clean(alice, bob)


def _invite(n: int, interval: int) -> bytes:
    """A peer's INVITE asking for a session timer it refreshes itself (and never will)."""
    lines = [
        "INVITE sip:alice@192.0.2.10 SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKmany{n}",
        "Max-Forwards: 70",
        f"From: <sip:bob@192.0.2.1>;tag=p{n}",
        "To: <sip:alice@192.0.2.10>",
        f"Call-ID: many-{n}@192.0.2.1",
        "CSeq: 1 INVITE",
        "Contact: <sip:bob@192.0.2.1:5060>",
        "Supported: timer",
        f"Session-Expires: {interval};refresher=uac",
        "Content-Type: application/sdp",
        f"Content-Length: {len(SDP)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + SDP


def _in_dialog(n: int, method: str, cseq: int, to_tag: str) -> bytes:
    lines = [
        f"{method} sip:alice@192.0.2.10 SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKmany{n}{method}",
        "Max-Forwards: 70",
        f"From: <sip:bob@192.0.2.1>;tag=p{n}",
        f"To: <sip:alice@192.0.2.10>;tag={to_tag}",
        f"Call-ID: many-{n}@192.0.2.1",
        f"CSeq: {cseq} {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_many_unrefreshed_dialogs_each_end_before_expiry_and_early_ends_leave_nothing() -> None:
    """§10: each dialog the peer stops refreshing gets our BYE at its 2xx + interval -
    min(32, interval / 3), to the instant; a dialog that ended before (by the peer's
    BYE) leaves no timer, second or alarm behind, and once all are gone every table of
    the UA is empty."""
    h = Harness()
    answered: dict[str, tuple[float, int]] = {}
    tags: dict[int, str] = {}
    for n in range(36):
        h.advance(n * 0.37 + 0.123)
        interval = MANY_INTERVALS[n % len(MANY_INTERVALS)]
        h.receive(_invite(n, interval))
        (call,) = [e for e in h.events if isinstance(e, IncomingCall)][-1:]
        call.dialog.accept(body=ANSWER, now=h.now)
        h.pump()
        tags[n] = call.dialog.id.local_tag
        h.receive(_in_dialog(n, "ACK", 1, tags[n]))
        answered[f"many-{n}@192.0.2.1"] = (h.now, interval)
    ended_early: set[str] = set()
    for n in range(0, 36, 3):  # the peer hangs up a third of them early
        h.advance(h.now + 0.5)
        h.receive(_in_dialog(n, "BYE", 2, tags[n]))
        ended_early.add(f"many-{n}@192.0.2.1")
    stats = h.ua.stats()
    assert stats["session_timers"] == 36 - len(ended_early)
    assert stats["dialog_watchers"] == 36 - len(ended_early)
    byes: dict[str, float] = {}
    while (deadline := h.ua.get_next_timer()) is not None and h.now < 2000.0:
        h.advance(deadline)
        for bye in h.requests("BYE"):
            byes.setdefault(bye.call_id, h.now)
    assert set(byes) == set(answered) - ended_early
    for call_id, at in byes.items():
        start, interval = answered[call_id]
        assert at == pytest.approx(start + interval - min(32.0, interval / 3), abs=1e-9)
    assert h.settle() == {}
