"""REFER (RFC 3515, RFC 4488) and Replaces (RFC 3891): blind and attended transfer
among three UserAgents, in virtual time at 0 % and 20 % loss.

Alice calls Bob; Bob transfers Alice to Carol. Alice's application (``Transferee``)
accepts the REFER, calls the Refer-To target and reports the new call's progress
with ``notify_refer``; Bob watches the NOTIFYs and hangs up once the transfer
succeeded. Every dialog, transaction and subscription must be gone at the end.
"""

from __future__ import annotations

from typing import Any

import pytest
from netsim import Net
from uasim import SDP, Callee, add_ua, assert_clean, ua

from sipsans import (
    ClientInviteDialog,
    ClientSubscription,
    Credentials,
    DialogId,
    DialogState,
    DialogStateChanged,
    Event,
    IncomingCall,
    LocalProtocolError,
    NotifyReceived,
    ReferReceived,
    Request,
    ResponseReceived,
    ServerInviteDialog,
    ServerSubscription,
    SubscriptionState,
    SubscriptionStateChanged,
    TerminatedReason,
    UAConfig,
    parse_message,
)
from sipsans.auth import DigestServer
from sipsans.dialog.replaces import Replaces, parse_replaces, parse_sipfrag, replaces_for
from sipsans.testing import Node

S = SubscriptionState


class Transferee:
    """Alice's application: accept every REFER, call the target, report progress."""

    def __init__(self, *, accept: bool = True) -> None:
        self.accept = accept
        self.refers: list[ReferReceived] = []
        self.calls: dict[str, tuple[ClientInviteDialog, DialogId]] = {}

    def __call__(self, node: Node[Any], event: Event) -> None:
        agent = ua(node)
        now = node.net.now
        if isinstance(event, ReferReceived):
            self.refers.append(event)
            if not self.accept:
                agent.respond(event.txn, 603, now=now)
                return
            agent.respond(event.txn, 202, now=now)
            headers = [("Referred-By", str(event.referred_by))] if event.referred_by else []
            call = agent.invite(event.refer_to, body=SDP, headers=headers, now=now)
            if event.refer_sub:  # else the referrer asked for no NOTIFYs (RFC 4488)
                self.calls[call.id.call_id] = (call, event.dialog_id)
        elif isinstance(event, DialogStateChanged) and event.dialog_id.call_id in self.calls:
            call, original = self.calls[event.dialog_id.call_id]
            if event.dialog_id != call.id:
                return  # another fork
            if event.state is DialogState.EARLY and event.previous is not DialogState.EARLY:
                agent.dialog(original).notify_refer(180, now=now)
            elif event.state in (DialogState.CONFIRMED, DialogState.TERMINATED):
                # The final status ends the transfer's subscription (RFC 3515 §2.4.7).
                status = 200 if event.state is DialogState.CONFIRMED else call.status or 487
                agent.dialog(original).notify_refer(status, now=now)
                del self.calls[event.dialog_id.call_id]


def sipfrags(node: Node[Any]) -> list[int]:
    out = []
    for e in node.of_type(NotifyReceived):
        frag = parse_sipfrag(e.request.body)
        assert frag is not None
        assert e.request.headers.get("Content-Type") == "message/sipfrag;version=2.0"
        out.append(frag[0])
    return out


def assert_progress(referrer: Node[Any], loss: float) -> None:
    """100 Trying, 180 Ringing, 200 OK, in order and ending with 200. Under loss a
    progress report can be missing: Carol's 180 is never retransmitted, and a NOTIFY
    overtaken by the next one gets 500 for its lower CSeq (RFC 3261 §12.2.2)."""
    got = sipfrags(referrer)
    if loss:
        assert got[-1] == 200 and got == sorted(set(got)) and set(got) <= {100, 180, 200}
    else:
        assert got == [100, 180, 200]


def three(
    seed: int, loss: float
) -> tuple[Net, Node[Any], Node[Any], Node[Any], Transferee, Callee, Callee]:
    net = Net(seed, loss=loss)
    transferee = Transferee()
    alice = add_ua(net, "alice", "192.0.2.1", handler=transferee)
    bob_app = Callee(answer_in_dialog=True)
    bob = add_ua(net, "bob", "192.0.2.2", handler=bob_app)
    carol_app = Callee(ring=0.5)
    carol = add_ua(net, "carol", "192.0.2.3", handler=carol_app)
    return net, alice, bob, carol, transferee, bob_app, carol_app


@pytest.mark.parametrize("loss", [0.0, 0.2])
def test_blind_transfer_with_notify_progress(loss: float) -> None:
    net, alice, bob, carol, transferee, bob_app, carol_app = three(51, loss)
    a_b = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=10)
    assert dstate(a_b) is DialogState.CONFIRMED
    [b_a] = bob_app.calls
    refer = net.call(
        bob,
        lambda now: b_a.refer("<sip:carol@192.0.2.3>", referred_by="<sip:bob@192.0.2.2>", now=now),
    )
    net.drive(until=30)
    # Bob's REFER was accepted with 202 and its implicit subscription reported
    # 100 Trying, 180 Ringing and 200 OK (RFC 3515 §2.4.4, §2.4.5).
    assert [
        e.response.status_code
        for e in bob.of_type(ResponseReceived)
        if e.txn == refer and e.response.status_code >= 200
    ] == [202]
    assert_progress(bob, loss)
    watched = b_a.as_subscription()
    assert isinstance(watched, ClientSubscription) and watched.event == "refer"
    assert watched.event_id == str(net_refer_cseq(net))
    assert state_of(watched) is S.TERMINATED and watched.reason == "noresource"
    [event] = transferee.refers
    assert str(event.refer_to.uri) == "sip:carol@192.0.2.3"
    assert event.referred_by is not None and str(event.referred_by.uri) == "sip:bob@192.0.2.2"
    served = a_b.as_subscription()
    assert isinstance(served, ServerSubscription) and state_of(served) is S.TERMINATED
    # Alice's call to Carol carried Referred-By (RFC 3892) and is up.
    [c_a] = carol_app.calls
    assert dstate(c_a) is DialogState.CONFIRMED
    invite_to_carol = next(
        w.data for w in net.wire if w.src == "alice" and b"INVITE sip:carol" in w.data
    )
    assert b"\r\nReferred-By: <sip:bob@192.0.2.2>\r\n" in invite_to_carol
    # Bob leaves; later Alice and Carol hang up. Nothing may be left anywhere.
    net.call(bob, lambda now: b_a.bye(now=now))
    net.drive(until=60)
    assert a_b.terminated_reason in (TerminatedReason.UAS_BYE, TerminatedReason.TIMEOUT)
    net.call(carol, lambda now: c_a.bye(now=now))
    net.drive()
    assert_clean(alice, bob, carol)


def net_refer_cseq(net: Net) -> int:
    refer = next(w.data for w in net.wire if w.first_line.startswith("REFER "))
    return int(refer.split(b"\r\nCSeq: ")[1].split(b" ")[0])


def state_of(sub: ClientSubscription | ServerSubscription) -> SubscriptionState:
    return sub.state  # calls, so mypy does not narrow states across commands


def dstate(dialog: ClientInviteDialog | ServerInviteDialog) -> DialogState:
    return dialog.state


def test_refer_sub_false_creates_no_subscription() -> None:
    net, alice, bob, carol, transferee, bob_app, carol_app = three(52, 0.0)
    a_b = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=10)
    [b_a] = bob_app.calls
    net.call(bob, lambda now: b_a.refer("sip:carol@192.0.2.3", refer_sub=False, now=now))
    net.drive(until=20)
    [event] = transferee.refers
    assert event.refer_sub is False
    refer = next(w.data for w in net.wire if w.first_line.startswith("REFER "))
    assert b"\r\nRefer-Sub: false\r\n" in refer and b"\r\nSupported: norefersub\r\n" in refer
    accepted = next(w.data for w in net.wire if w.first_line.startswith("SIP/2.0 202"))
    assert b"\r\nRefer-Sub: false\r\n" in accepted  # RFC 4488 §4
    assert not [w for w in net.wire if w.first_line.startswith("NOTIFY ")]
    assert not bob.of_type(NotifyReceived) and not bob.of_type(SubscriptionStateChanged)
    with pytest.raises(LocalProtocolError, match="no accepted REFER"):
        a_b.notify_refer(200, now=net.now)
    with pytest.raises(LocalProtocolError, match="no subscription"):
        b_a.as_subscription()
    assert carol_app.calls[0].state is DialogState.CONFIRMED  # the transfer happened anyway
    net.call(bob, lambda now: b_a.bye(now=now))
    net.call(carol, lambda now: carol_app.calls[0].bye(now=now))
    net.drive()
    assert_clean(alice, bob, carol)


def test_declined_refer_ends_the_subscription() -> None:
    net = Net(53)
    alice = add_ua(net, "alice", "192.0.2.1", handler=Transferee(accept=False))
    bob_app = Callee()
    bob = add_ua(net, "bob", "192.0.2.2", handler=bob_app)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=10)
    [b_a] = bob_app.calls
    net.call(bob, lambda now: b_a.refer("sip:carol@192.0.2.3", now=now))
    net.drive(until=20)
    [end] = bob.of_type(SubscriptionStateChanged)
    assert end.state is S.TERMINATED and end.previous is S.NOTIFY_WAIT
    assert (end.reason, end.status) == ("rejected", 603)
    assert dstate(call) is DialogState.CONFIRMED  # a declined REFER leaves the call alone
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


@pytest.mark.parametrize("loss", [0.0, 0.2])
def test_attended_transfer_replaces_the_consultation_call(loss: float) -> None:
    net, alice, bob, carol, transferee, bob_app, carol_app = three(54, loss)
    a_b = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=10)
    [b_a] = bob_app.calls
    b_c = net.call(bob, lambda now: ua(bob).invite("sip:carol@192.0.2.3", body=SDP, now=now))
    net.drive(until=20)
    assert dstate(a_b) is DialogState.CONFIRMED and dstate(b_c) is DialogState.CONFIRMED
    [c_b] = carol_app.calls
    net.call(bob, lambda now: b_a.refer("sip:carol@192.0.2.3", replaces=b_c, now=now))
    net.drive(until=40)
    # The REFER carried Replaces in the Refer-To URI, naming Bob-Carol as Carol sees it.
    [event] = transferee.refers
    assert event.replaces == Replaces(
        call_id=b_c.id.call_id, to_tag=c_b.id.local_tag, from_tag=c_b.id.remote_tag
    )
    # Alice's INVITE to Carol had the Replaces header (RFC 3891 §4) ...
    invite = next(w.data for w in net.wire if w.src == "alice" and b"INVITE sip:carol" in w.data)
    header = invite.split(b"\r\nReplaces: ")[1].split(b"\r\n")[0].decode()
    assert parse_replaces(header) == event.replaces
    assert b"\r\nRequire: replaces\r\n" in invite
    # ... so Carol saw which call it replaces, and ended that one herself.
    replacing = next(e for e in carol.of_type(IncomingCall) if e.replaces is not None)
    assert replacing.replaces == c_b
    assert dstate(c_b) is DialogState.TERMINATED and dstate(b_c) is DialogState.TERMINATED
    assert b_c.terminated_reason in (TerminatedReason.UAS_BYE, TerminatedReason.TIMEOUT)
    a_c = replacing.dialog
    assert dstate(a_c) is DialogState.CONFIRMED
    assert_progress(bob, loss)
    net.call(bob, lambda now: b_a.bye(now=now))
    net.drive(until=80)
    assert dstate(a_b) is DialogState.TERMINATED and dstate(a_c) is DialogState.CONFIRMED
    net.call(alice, lambda now: ua(alice).dialog(a_c_id(alice, carol)).bye(now=now))
    net.drive()
    assert dstate(a_c) is DialogState.TERMINATED
    assert_clean(alice, bob, carol)


def a_c_id(alice: Node[Any], carol: Node[Any]) -> DialogId:
    call_id = next(e.dialog.id.call_id for e in carol.of_type(IncomingCall) if e.replaces)
    return next(
        e.dialog_id
        for e in alice.of_type(DialogStateChanged)
        if e.dialog_id.call_id == call_id and e.state is DialogState.CONFIRMED
    )


def test_replaces_rules_on_the_uas() -> None:
    net = Net(55)
    alice = add_ua(net, "alice", "192.0.2.1")
    carol_app = Callee(ring=0.2)
    carol = add_ua(net, "carol", "192.0.2.3", handler=carol_app)
    first = net.call(alice, lambda now: ua(alice).invite("sip:carol@192.0.2.3", body=SDP, now=now))
    net.drive(until=5)
    [c_a] = carol_app.calls
    wanted = replaces_for(first.id)
    assert wanted.to_tag == c_a.id.local_tag  # as the recipient sees the dialog

    def attempt(value: str) -> int:
        call = net.call(
            alice,
            lambda now: ua(alice).invite(
                "sip:carol@192.0.2.3", body=SDP, headers=[("Replaces", value)], now=now
            ),
        )
        net.drive(until=net.now + 5)
        assert dstate(call) is DialogState.TERMINATED
        assert call.status is not None
        return call.status

    unknown = Replaces(call_id="nope@192.0.2.1", to_tag="a", from_tag="b")
    assert attempt(str(unknown)) == 481  # RFC 3891 §3: no such dialog
    early_only = Replaces(
        call_id=wanted.call_id, to_tag=wanted.to_tag, from_tag=wanted.from_tag, early_only=True
    )
    assert attempt(str(early_only)) == 486  # early-only, but the dialog is confirmed
    assert attempt("garbage") == 400
    assert dstate(first) is DialogState.CONFIRMED
    assert len(carol_app.calls) == 1  # none of them reached the application
    net.call(alice, lambda now: first.bye(now=now))
    net.drive()
    assert_clean(alice, carol)


def test_refer_misuse() -> None:
    net = Net(56)
    alice = add_ua(net, "alice", "192.0.2.1")
    add_ua(net, "bob", "192.0.2.2", handler=Callee(ring=30))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=1)
    with pytest.raises(LocalProtocolError, match="confirmed"):
        call.refer("sip:carol@192.0.2.3", now=net.now)
    with pytest.raises(LocalProtocolError, match="no accepted REFER"):
        call.notify_refer(100, now=net.now)


def test_unreported_refer_expires_with_timeout() -> None:
    """A transferee that accepts and never reports: the implicit subscription ends at
    ``UAConfig.refer_expires`` with ``terminated;reason=timeout`` (RFC 6665 §4.2.2)."""
    net = Net(57)

    def accept_only(node: Node[Any], event: Event) -> None:
        if isinstance(event, ReferReceived):
            ua(node).respond(event.txn, 202, now=node.net.now)

    config = UAConfig(refer_expires=40)
    alice = add_ua(net, "alice", "192.0.2.1", handler=accept_only, config=config)
    bob_app = Callee()
    bob = add_ua(net, "bob", "192.0.2.2", handler=bob_app)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=5)
    [b_a] = bob_app.calls
    net.call(bob, lambda now: b_a.refer("sip:carol@192.0.2.3", now=now))
    net.drive(until=100)
    assert sipfrags(bob) == [100, 100]  # the state so far, twice: accepted, then the end
    [first, last] = bob.of_type(NotifyReceived)
    assert first.expires == 40 and last.state is S.TERMINATED and last.reason == "timeout"
    ended = next(
        t
        for t, e in alice.log
        if isinstance(e, SubscriptionStateChanged) and e.state is S.TERMINATED
    )
    assert ended == pytest.approx(5 + 40, abs=0.2)
    assert dstate(call) is DialogState.CONFIRMED  # the call itself is untouched
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


@pytest.mark.parametrize("proxy", [False, True], ids=["401", "407"])
def test_refer_retried_after_a_digest_challenge(proxy: bool) -> None:
    """RFC 3261 §22.2: a REFER challenged with 401/407 is sent again with credentials and
    the next CSeq. Its implicit subscription is named by the REFER that was accepted
    (RFC 3515 §2.4.6: ``id`` is that REFER's CSeq), so the NOTIFYs for it match."""
    net = Net(58)
    guard = DigestServer(b"0123456789abcdef", "alice.example", proxy=proxy)

    def transferee(node: Node[Any], event: Event) -> None:
        now = node.net.now
        if isinstance(event, ReferReceived):
            verdict = guard.verify(event.request, now=now, password=lambda user, realm: "pw")
            if not verdict.ok:
                headers = [(guard.challenge_header, c) for c in guard.challenges(now=now)]
                ua(node).respond(event.txn, verdict.status, headers=headers, now=now)
                return
            ua(node).respond(event.txn, 202, now=now)
            dialog = ua(node).dialog(event.dialog_id)
            # A second later: sent at once it could overtake the UA's 100 Trying (500).
            node.net.call_at(now + 1.0, node, lambda at: dialog.notify_refer(200, now=at))

    alice = add_ua(net, "alice", "192.0.2.1", handler=transferee)
    bob_app = Callee()
    bob = add_ua(net, "bob", "192.0.2.2", handler=bob_app, credentials=Credentials("bob", "pw"))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=5)
    [b_a] = bob_app.calls
    refer = net.call(bob, lambda now: b_a.refer("sip:carol@192.0.2.3", now=now))
    net.drive(until=20)
    first, second = (parse_message(w.data) for w in net.wire if w.first_line.startswith("REFER "))
    assert isinstance(first, Request) and isinstance(second, Request)
    assert guard.credentials_header not in first.headers
    assert guard.credentials_header in second.headers
    assert second.cseq.seq == first.cseq.seq + 1  # §22.2: a new request, next CSeq
    # Bob's application sees one outcome for its REFER handle: the 202 (the UA answered
    # the challenge itself).
    finals = [
        e.response.status_code
        for e in bob.of_type(ResponseReceived)
        if e.txn == refer and e.response.status_code >= 200
    ]
    assert finals == [202]
    # The NOTIFY names the accepted REFER and reaches Bob's subscription.
    notifies = [e.request for e in bob.of_type(NotifyReceived)]
    assert {n.headers.get("Event") for n in notifies} == {f"refer;id={second.cseq.seq}"}
    assert sipfrags(bob) == [100, 200]  # the 202 starts it with 100 Trying (§2.4.4)
    watched = b_a.as_subscription()
    assert isinstance(watched, ClientSubscription)
    assert watched.event_id == str(second.cseq.seq)
    assert state_of(watched) is S.TERMINATED and watched.reason == "noresource"
    assert not [w for w in net.wire if w.first_line.startswith("SIP/2.0 481")]
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_replaces_of_our_own_early_call_cancels_it() -> None:
    """RFC 3891 §3 (and its §7.1 call flow): an INVITE whose Replaces names an early
    dialog this UA initiated replaces it. Once the new call is confirmed (ACKed) the UA
    CANCELs its INVITE, so the call it replaced ends with 487."""
    net = Net(59)
    alice = add_ua(net, "alice", "192.0.2.1")  # accepts the replacing call (below)
    bob_app = Callee(ring=120)  # rings for two minutes
    bob = add_ua(net, "bob", "192.0.2.2", handler=bob_app)
    carol = add_ua(net, "carol", "192.0.2.3")
    a_b = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=2)
    assert dstate(a_b) is DialogState.EARLY
    # Carol picks the call up: Replaces names Alice's early dialog as Alice sees it
    # (to-tag: Alice's own tag, RFC 3891 §3).
    picked = as_seen_by_recipient(a_b.id)
    c_a = net.call(
        carol,
        lambda now: ua(carol).invite(
            "sip:alice@192.0.2.1", body=SDP, headers=[("Replaces", str(picked))], now=now
        ),
    )
    net.drive(until=3)
    [incoming] = alice.of_type(IncomingCall)
    assert incoming.replaces is not None and incoming.replaces == a_b
    assert dstate(a_b) is DialogState.EARLY  # nothing happens before the new call is up
    assert not [w for w in net.wire if w.first_line.startswith("CANCEL")]
    net.call(alice, lambda now: incoming.dialog.accept(body=SDP, now=now))
    net.drive(until=10)
    assert dstate(c_a) is DialogState.CONFIRMED
    assert dstate(incoming.dialog) is DialogState.CONFIRMED
    cancels = [w for w in net.wire if w.src == "alice" and w.first_line.startswith("CANCEL")]
    acks = [w for w in net.wire if w.src == "carol" and w.first_line.startswith("ACK")]
    assert cancels and acks and cancels[0].time >= acks[0].time  # after the ACK (§3)
    assert (a_b.terminated_reason, a_b.status) == (TerminatedReason.UAC_CANCEL, 487)
    assert bob_app.calls[0].terminated_reason is TerminatedReason.UAC_CANCEL
    net.call(carol, lambda now: c_a.bye(now=now))
    net.drive()
    assert_clean(alice, bob, carol)


def test_replaces_of_an_early_call_we_did_not_make_is_refused() -> None:
    """RFC 3891 §3: Replaces naming an early dialog this UA did not initiate gets 481
    and leaves that dialog alone."""
    net = Net(60)
    ringing: list[ServerInviteDialog] = []

    def ring_only(node: Node[Any], event: Event) -> None:
        if isinstance(event, IncomingCall) and event.replaces is None:
            ringing.append(event.dialog)
            event.dialog.ringing(now=node.net.now)

    bob = add_ua(net, "bob", "192.0.2.2")
    alice = add_ua(net, "alice", "192.0.2.1", handler=ring_only)
    carol = add_ua(net, "carol", "192.0.2.3")
    b_a = net.call(bob, lambda now: ua(bob).invite("sip:alice@192.0.2.1", body=SDP, now=now))
    net.drive(until=2)
    [a_b] = ringing
    assert dstate(a_b) is DialogState.EARLY
    attempt = net.call(
        carol,
        lambda now: ua(carol).invite(
            "sip:alice@192.0.2.1",
            headers=[("Replaces", str(as_seen_by_recipient(a_b.id)))],
            now=now,
        ),
    )
    net.drive(until=5)
    assert (dstate(attempt), attempt.status) == (DialogState.TERMINATED, 481)
    assert dstate(a_b) is DialogState.EARLY and dstate(b_a) is DialogState.EARLY
    net.call(bob, lambda now: b_a.hangup(now=now))
    net.drive()
    assert_clean(alice, bob, carol)


def as_seen_by_recipient(dialog_id: DialogId) -> Replaces:
    """Replaces naming a dialog of the UA that receives it (to-tag: that UA's tag)."""
    return Replaces(
        call_id=dialog_id.call_id, to_tag=dialog_id.local_tag, from_tag=dialog_id.remote_tag
    )


def test_notify_refer_takes_a_whole_subscription_state_value() -> None:
    """``notify_refer(status, "terminated;reason=noresource")``: the state may be given
    as the Subscription-State value it is (RFC 6665 §8.2.3), reason included."""
    net = Net(59)

    def transferee(node: Node[Any], event: Event) -> None:
        now = node.net.now
        if isinstance(event, ReferReceived):
            ua(node).respond(event.txn, 202, now=now)
            dialog = ua(node).dialog(event.dialog_id)
            node.net.call_at(
                now + 1.0,
                node,
                lambda at: dialog.notify_refer(503, "terminated;reason=giveup", now=at),
            )

    alice = add_ua(net, "alice", "192.0.2.1", handler=transferee)
    bob_app = Callee()
    bob = add_ua(net, "bob", "192.0.2.2", handler=bob_app)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=5)
    [b_a] = bob_app.calls
    net.call(bob, lambda now: b_a.refer("sip:carol@192.0.2.3", now=now))
    net.drive(until=20)
    last = bob.of_type(NotifyReceived)[-1]
    assert last.request.headers.get("Subscription-State") == "terminated;reason=giveup"
    assert (last.state, last.reason) == (S.TERMINATED, "giveup")
    assert sipfrags(bob)[-1] == 503
    with pytest.raises(LocalProtocolError, match="Subscription-State"):
        ua(alice).dialog(call.id).notify_refer(200, "terminated;;=", now=net.now)
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
