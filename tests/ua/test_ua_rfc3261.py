"""RFC 3261 §12-§14 details of the UserAgent, checked against scripted raw peers.

The raw peers are bare Endpoints driven by hand, so every header the UA sends
can be inspected and every misbehaviour (no ACK, CSeq going backwards) staged.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from netsim import Net, Node
from uasim import SDP, SDP2, Callee, add_ua, assert_clean, ua

from sipsans import (
    ClientInviteDialog,
    DialogState,
    DialogStateChanged,
    EndpointConfig,
    Event,
    InDialogRequest,
    LocalProtocolError,
    RequestReceived,
    Response,
    ResponseReceived,
    TerminatedReason,
    TransactionTerminated,
    UAConfig,
    make_request,
    make_response,
    parse_message,
)
from sipsans.message.model import Request
from sipsans.transaction.transport import ServerTxn

ROUTES = ("<sip:192.0.2.9:5060;lr;hop=1>", "<sip:192.0.2.2:5060;lr;hop=2>")


def sent(net: Net, src: str, prefix: str) -> list[Request | Response]:
    return [
        parse_message(w.data)
        for w in net.wire
        if w.src == src and w.first_line.startswith(prefix) and w.delivered
    ]


class AnsweringCallee:
    """Answers INVITE with a 200 carrying ``record_route`` and ``contact``; answers BYE."""

    def __init__(
        self,
        *,
        record_route: tuple[str, ...] = ROUTES,
        contact: str = "<sip:bob@192.0.2.2:5060;transport=udp>",
    ) -> None:
        self.record_route = record_route
        self.contact = contact
        self.requests: list[Request] = []

    def __call__(self, node: Node, event: Event) -> None:
        if not isinstance(event, RequestReceived):
            return
        req, now = event.request, node.net.now
        self.requests.append(req)
        if event.txn is None:
            return  # the ACK
        headers = [("Record-Route", route) for route in self.record_route]
        headers.append(("Contact", self.contact))
        if req.method == "INVITE":
            resp = make_response(
                req, 200, to_tag="rr1", headers=headers, body=SDP, content_type="application/sdp"
            )
        else:
            resp = make_response(req, 200)
        node.ep.send_response(event.txn, resp, now=now)


def call_then_bye(net: Net, alice: Node) -> ClientInviteDialog:
    """Alice calls sip:bob@192.0.2.2, the call is confirmed, alice hangs up; all settled."""
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=2.0)
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    return call


def test_uac_route_set_is_the_reversed_record_route() -> None:
    """§12.1.2: the UAC's route set is the Record-Route list reversed; ACK and BYE
    carry it as Route, in that order, and go to the first (loose) route (§12.2.1.1).
    Here the first route is 192.0.2.2 itself so the simulated network delivers."""
    net = Net(3)
    alice = add_ua(net, "alice", "192.0.2.1")
    callee = AnsweringCallee()
    net.add("bob", "192.0.2.2", handler=callee)
    call_then_bye(net, alice)
    ack, bye = (r for r in callee.requests if r.method in ("ACK", "BYE"))
    for request in (ack, bye):
        assert request.headers.lines("Route") == list(reversed(ROUTES))
        assert str(request.uri) == "sip:bob@192.0.2.2:5060;transport=udp"  # remote target
    assert bye.cseq.seq == ack.cseq.seq + 1  # §12.2.1.1: local CSeq + 1
    assert_clean(alice)


def test_ack_and_bye_go_to_the_remote_target_not_the_first_hop() -> None:
    """§12.2.1.1 (and §13.2.2.4 for the ACK): with no route set, in-dialog requests go
    to the remote target, the Contact of the 2xx, not where the INVITE was sent."""
    net = Net(4)
    alice = add_ua(net, "alice", "192.0.2.1")
    # The 2xx names another host (the phone behind the address the INVITE went to).
    front = AnsweringCallee(record_route=(), contact="<sip:bob@192.0.2.3:5060>")
    phone = AnsweringCallee()
    net.add("front", "192.0.2.2", handler=front)
    net.add("phone", "192.0.2.3", handler=phone)
    call = call_then_bye(net, alice)
    assert [r.method for r in front.requests] == ["INVITE"]
    assert [r.method for r in phone.requests] == ["ACK", "BYE"]
    for request in phone.requests:
        assert str(request.uri) == "sip:bob@192.0.2.3:5060"
    assert _state(call) is DialogState.TERMINATED
    assert_clean(alice)


class RawCaller:
    """A hand-driven UAC: sends INVITE, optionally ACKs the 2xx, sends in-dialog requests."""

    def __init__(self, *, ack: bool = True, record_route: tuple[str, ...] = ()) -> None:
        self.ack = ack
        self.record_route = record_route
        self.invites: list[Request] = []
        self.finals: list[Response] = []
        self.requests: list[Request] = []

    def invite(self, node: Node, now: float, call_id: str = "raw-1") -> None:
        headers = [("Record-Route", route) for route in self.record_route]
        request = make_request(
            "INVITE",
            "sip:bob@192.0.2.2",
            from_="<sip:raw@192.0.2.1>;tag=raw",
            to="<sip:bob@192.0.2.2>",
            call_id=call_id,
            cseq=1,
            contact="<sip:raw@192.0.2.1:5060>",
            headers=headers,
            body=SDP,
            content_type="application/sdp",
        )
        self.invites.append(request)
        node.ep.send_request(request, target=node.net.nodes["bob"].target(), now=now)

    def in_dialog(self, node: Node, method: str, cseq: int, now: float) -> None:
        final = next(r for r in self.finals if r.status_code == 200)
        request = make_request(
            method,
            "sip:bob@192.0.2.2:5060",
            from_="<sip:raw@192.0.2.1>;tag=raw",
            to=str(final.to),
            call_id=final.call_id,
            cseq=cseq,
        )
        node.ep.send_request(request, target=node.net.nodes["bob"].target(), now=now)

    def __call__(self, node: Node, event: Event) -> None:
        now = node.net.now
        if isinstance(event, ResponseReceived) and event.response.status_code >= 200:
            resp = event.response
            self.finals.append(resp)
            if resp.cseq.method == "INVITE" and resp.status_code == 200 and self.ack:
                ack = make_request(
                    "ACK",
                    "sip:bob@192.0.2.2:5060",
                    from_="<sip:raw@192.0.2.1>;tag=raw",
                    to=str(resp.to),
                    call_id=resp.call_id,
                    cseq=resp.cseq.seq,
                )
                node.ep.send_stateless(ack, target=node.net.nodes["bob"].target(), now=now)
        elif isinstance(event, RequestReceived):
            self.requests.append(event.request)
            if event.txn is not None:
                node.ep.send_response(event.txn, make_response(event.request, 200), now=now)


def _raw_call(
    caller: RawCaller, callee: Callee, config: UAConfig | None = None
) -> tuple[Net, Node, Node]:
    net = Net(4)
    raw = net.add("raw", "192.0.2.1", handler=caller)
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee, config=config)
    net.call(raw, lambda now: caller.invite(raw, now))
    return net, raw, bob


def test_uas_route_set_keeps_the_record_route_order() -> None:
    """§12.1.1: the UAS's route set is the Record-Route list in order; its BYE goes
    to the remote target (the caller's Contact) with those Route headers."""
    routes = ("<sip:192.0.2.1:5060;lr;hop=a>", "<sip:192.0.2.7:5060;lr;hop=b>")
    caller = RawCaller(record_route=routes)
    callee = Callee(ring=0.1)
    net, _raw, bob = _raw_call(caller, callee)
    net.drive(until=2.0)
    (dialog,) = callee.calls
    assert dialog.state is DialogState.CONFIRMED
    net.call(bob, lambda now: dialog.bye(now=now))
    net.drive()
    (bye,) = [r for r in caller.requests if r.method == "BYE"]
    assert bye.headers.lines("Route") == list(routes)
    assert str(bye.uri) == "sip:raw@192.0.2.1:5060"
    assert dialog.terminated_reason is TerminatedReason.UAS_BYE
    assert_clean(bob)


def test_uas_retransmits_2xx_until_timeout_then_byes() -> None:
    """§13.3.1.4: the UAS core resends the 2xx at T1, 2*T1, ... capped at T2 until the
    ACK comes; after 64*T1 without one it ends the dialog with a BYE."""
    caller = RawCaller(ack=False)
    callee = Callee(ring=0.0)
    net, _raw, bob = _raw_call(caller, callee)
    net.drive(until=60.0)
    oks = [w.time for w in net.wire if w.src == "bob" and w.first_line.startswith("SIP/2.0 200")]
    gaps = [round(b - a, 6) for a, b in pairwise(oks)]
    assert gaps[:6] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    byes = [w.time for w in net.wire if w.src == "bob" and w.first_line.startswith("BYE")]
    assert byes and abs(byes[0] - (oks[0] + 32.0)) < 1e-6
    assert all(t < byes[0] for t in oks)  # no 2xx after giving up
    (dialog,) = callee.calls
    assert dialog.state is DialogState.TERMINATED
    # No ACK is a timeout of the INVITE's exchange: 408, as docs/dialogs.md says; on
    # the way the dialog was confirmed, "but the session SHOULD be terminated".
    assert (dialog.terminated_reason, dialog.status) == (TerminatedReason.TIMEOUT, 408)
    changes = [(e.previous, e.state) for e in bob.of_type(DialogStateChanged)][-2:]
    assert changes == [
        (DialogState.WAIT_ACK, DialogState.CONFIRMED),
        (DialogState.CONFIRMED, DialogState.TERMINATED),
    ]
    net.drive()
    assert_clean(bob)


def test_late_offer_answer_goes_in_the_ack() -> None:
    """An INVITE without a body gets the offer in the 2xx; the answer rides the ACK
    (RFC 3261 §13.2.1, RFC 3264)."""
    net = Net(6)
    alice = add_ua(net, "alice", "192.0.2.1")
    callee = Callee(ring=0.1)
    add_ua(net, "bob", "192.0.2.2", handler=callee)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", now=now))
    net.drive(until=1.0)
    (ok,) = [r for r in sent(net, "bob", "SIP/2.0 200") if isinstance(r, Response)][:1]
    assert ok.body == SDP  # the offer
    assert not sent(net, "alice", "ACK")  # the UA waits for the application's answer
    net.call(alice, lambda now: call.ack(body=SDP2, content_type="application/sdp", now=now))
    net.drive(until=2.0)
    (ack,) = sent(net, "alice", "ACK")
    assert ack.body == SDP2
    assert ack.content_type == "application/sdp"
    assert call.state is DialogState.CONFIRMED
    assert callee.calls[0].state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, net.nodes["bob"])


def test_out_of_order_cseq_gets_500_with_retry_after() -> None:
    """§12.2.2: a request whose CSeq is lower than the remote CSeq gets 500."""
    caller = RawCaller()
    callee = Callee(ring=0.1, answer_in_dialog=True)
    net, raw, bob = _raw_call(caller, callee)
    net.drive(until=1.0)
    net.call(raw, lambda now: caller.in_dialog(raw, "INFO", 10, now))
    net.drive(until=2.0)
    net.call(raw, lambda now: caller.in_dialog(raw, "INFO", 5, now))
    net.drive(until=3.0)
    info_finals = [r for r in caller.finals if r.cseq.method == "INFO"]
    assert [r.status_code for r in info_finals] == [200, 500]
    assert info_finals[1].headers.get("Retry-After") is not None
    net.call(bob, lambda now: callee.calls[0].bye(now=now))
    net.drive()
    assert_clean(bob)


def test_dialog_limit_answers_503_with_retry_after() -> None:
    caller = RawCaller()
    callee = Callee(ring=5.0)
    net, raw, bob = _raw_call(caller, callee, UAConfig(max_dialogs=1))
    net.drive(until=0.5)
    net.call(raw, lambda now: caller.invite(raw, now, call_id="raw-2"))
    net.drive(until=1.0)
    busy = [r for r in caller.finals if r.call_id == "raw-2"]
    assert [r.status_code for r in busy] == [503]
    assert busy[0].headers.get("Retry-After") is not None
    net.drive()
    assert [r.status_code for r in caller.finals if r.call_id == "raw-1"] == [200]
    net.call(bob, lambda now: callee.calls[0].bye(now=now))
    net.drive()
    assert_clean(bob)


class StubbornCallee:
    """A raw callee that rings (180) on every INVITE and gives none a final response,
    except a 200 to the initial INVITE when ``answer``; it 200s BYE and leaves every other
    request unanswered. Its endpoint does not 487 a cancelled INVITE either, so only the
    UA's own timers can end what it sent (§15.1.2 asks the peer for a 487 and it omits it).
    """

    def __init__(self, *, answer: bool) -> None:
        self.answer = answer
        self.invites: list[Request] = []
        self.txns: list[ServerTxn] = []

    def __call__(self, node: Node, event: Event) -> None:
        if not isinstance(event, RequestReceived) or event.txn is None:
            return
        req, now = event.request, node.net.now
        contact = [("Contact", "<sip:bob@192.0.2.2:5060>")]
        if req.method == "INVITE":
            self.invites.append(req)
            self.txns.append(event.txn)
            tag = req.to.tag or "stub"
            node.ep.send_response(
                event.txn, make_response(req, 180, to_tag=tag, headers=contact), now=now
            )
            if self.answer and not req.to.tag:
                ok = make_response(
                    req, 200, to_tag=tag, headers=contact, body=SDP, content_type="application/sdp"
                )
                node.ep.send_response(event.txn, ok, now=now)
        elif req.method == "BYE":
            node.ep.send_response(event.txn, make_response(req, 200), now=now)

    def bye(self, node: Node, now: float) -> None:
        """The callee ends the call: a BYE built from the last INVITE it received."""
        invite = self.invites[-1]
        request = make_request(
            "BYE",
            str(invite.contacts[0].uri),
            from_=str(invite.to),
            to=str(invite.from_),
            call_id=invite.call_id,
            cseq=100,
        )
        node.ep.send_request(request, target=node.net.nodes["alice"].target(), now=now)


def _stubborn(answer: bool) -> tuple[Net, Node, StubbornCallee]:
    net = Net(7)
    alice = add_ua(net, "alice", "192.0.2.1")
    callee = StubbornCallee(answer=answer)
    net.add(
        "bob", "192.0.2.2", config=EndpointConfig(answer_cancelled_invite=False), handler=callee
    )
    return net, alice, callee


def _state(dialog: ClientInviteDialog) -> DialogState:
    return dialog.state  # a call, so mypy does not narrow states across commands


def _cancels(net: Net) -> list[tuple[float, Request]]:
    return [
        (w.time, parsed)
        for w in net.wire
        if w.src == "alice"
        and w.first_line.startswith("CANCEL")
        and isinstance(parsed := parse_message(w.data), Request)
    ]


def test_invite_is_cancelled_when_its_only_early_dialog_ends() -> None:
    """§12.2.1.2: an in-dialog request that times out ends the (early) dialog. With no
    other fork left the call's INVITE, still in Proceeding, would wait forever (no timer
    runs there, §17.1.1.2): the UA CANCELs it (§9.1), and without a final response the
    INVITE is considered cancelled 64*T1 after the CANCEL."""
    net, alice, callee = _stubborn(answer=False)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=1.0)
    assert call.state is DialogState.EARLY
    net.call(alice, lambda now: call.options(now=now))  # bob never answers it: Timer F
    net.drive(until=33.0)
    assert (call.terminated_reason, call.status) == (TerminatedReason.TIMEOUT, 408)
    ((sent_at, cancel),) = _cancels(net)
    (invite,) = callee.invites
    assert cancel.cseq.seq == invite.cseq.seq and cancel.cseq.method == "CANCEL"  # §9.1
    assert cancel.top_via.branch == invite.top_via.branch
    net.drive(until=sent_at + 32.0 - 0.01)
    assert ua(alice).stats()["calls"] == 1  # still waiting for the 487
    net.drive()
    assert_clean(alice)


@pytest.mark.parametrize("who_ends", ["we BYE", "the peer BYEs"])
def test_pending_reinvite_is_cancelled_when_the_dialog_ends(who_ends: str) -> None:
    """§15.1.2: a BYE leaves requests pending in the dialog to be answered (487) by the
    peer. One that only rings would keep our re-INVITE in Proceeding for ever, so the UA
    CANCELs it (§14.1, §9.1) and frees it 64*T1 after the CANCEL at the latest."""
    net, alice, callee = _stubborn(answer=True)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=1.0)
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.reinvite(body=SDP2, now=now))
    net.drive(until=2.0)
    reinvite = callee.invites[-1]
    assert reinvite.to.tag == "stub"  # rung, never answered
    if who_ends == "we BYE":
        net.call(alice, lambda now: call.bye(now=now))
    else:
        net.call(net.nodes["bob"], lambda now: callee.bye(net.nodes["bob"], now))
    net.drive(until=3.0)
    assert _state(call) is DialogState.TERMINATED
    ((sent_at, cancel),) = _cancels(net)
    assert (cancel.cseq.seq, cancel.top_via.branch) == (reinvite.cseq.seq, reinvite.top_via.branch)
    net.drive(until=sent_at + 32.0 - 0.01)
    assert ua(alice).stats()["requests"] == 1  # the re-INVITE, waiting for its 487
    net.drive()
    assert_clean(alice)


def test_a_2xx_to_a_reinvite_after_our_bye_is_still_acked() -> None:
    """§13.2.2.4: the UAC ACKs every 2xx to its INVITE, even one that arrives after
    the dialog ended (our BYE crossed the peer's answer to the re-INVITE); each 2xx
    retransmission gets the same ACK again."""
    net, alice, callee = _stubborn(answer=True)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=1.0)
    net.call(alice, lambda now: call.reinvite(body=SDP2, now=now))
    net.drive(until=2.0)
    net.call(alice, lambda now: call.bye(now=now))
    net.drive(until=3.0)
    assert _state(call) is DialogState.TERMINATED
    reinvite, bob = callee.invites[-1], net.nodes["bob"]
    ok = make_response(reinvite, 200, to_tag="stub", body=SDP, content_type="application/sdp")
    net.call(bob, lambda now: bob.ep.send_response(callee.txns[-1], ok, now=now))
    net.drive(until=10.0)
    acks = [r for r in sent(net, "alice", "ACK") if isinstance(r, Request)]
    assert [a.cseq.seq for a in acks] == [callee.invites[0].cseq.seq, reinvite.cseq.seq]
    oks = [w for w in net.wire if w.src == "bob" and w.first_line.startswith("SIP/2.0 200")]
    assert len([w for w in oks if b"CSeq: %d INVITE" % reinvite.cseq.seq in w.data]) == 1
    net.drive()
    assert_clean(alice)


def test_no_reinvite_while_the_2xx_offer_awaits_its_answer() -> None:
    """§14.1: the initial INVITE lasts until its ACK, and RFC 3264 §4 allows no new offer
    before the answer: with a late offer pending, reinvite() is misuse until ack()."""
    net = Net(6)
    alice = add_ua(net, "alice", "192.0.2.1")
    add_ua(net, "bob", "192.0.2.2", handler=Callee(ring=0.1))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", now=now))
    net.drive(until=1.0)
    assert call.state is DialogState.CONFIRMED  # the 2xx with the offer came
    with pytest.raises(LocalProtocolError, match="ack"):
        net.call(alice, lambda now: call.reinvite(body=SDP2, now=now))
    assert not sent(net, "alice", "ACK")
    net.call(alice, lambda now: call.ack(body=SDP2, now=now))
    net.call(alice, lambda now: call.reinvite(body=SDP2, now=now))  # now it may
    net.drive(until=2.0)
    assert [r.cseq.method for r in sent(net, "alice", "INVITE")] == ["INVITE", "INVITE"]


class GlaringCaller:
    """A raw caller over TCP: ACKs the 2xx of its INVITE, answers a re-INVITE 491 and any
    other request 200."""

    def __call__(self, node: Node, event: Event) -> None:
        now, bob = node.net.now, node.net.nodes["bob"].target("TCP")
        if isinstance(event, ResponseReceived) and event.response.cseq.method == "INVITE":
            resp = event.response
            if resp.status_code == 200:
                ack = make_request(
                    "ACK",
                    "sip:bob@192.0.2.2:5060;transport=tcp",
                    from_=str(resp.from_),
                    to=str(resp.to),
                    call_id=resp.call_id,
                    cseq=resp.cseq.seq,
                )
                node.ep.send_stateless(ack, target=bob, now=now)
        elif isinstance(event, RequestReceived) and event.txn is not None:
            status = 491 if event.request.method == "INVITE" else 200
            node.ep.send_response(event.txn, make_response(event.request, status), now=now)


def test_glare_retry_is_dropped_when_the_dialog_ends_first() -> None:
    """§14.1: a re-INVITE answered 491 is retried after a random back-off. If the dialog
    ends before that (our BYE, over TCP where the transactions end at once), the retry is
    not sent and nothing of it stays behind."""
    net = Net(8)
    raw = net.add("raw", "192.0.2.1", handler=GlaringCaller())
    callee = Callee(ring=0.1)
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    invite = make_request(
        "INVITE",
        "sip:bob@192.0.2.2;transport=tcp",
        from_="<sip:raw@192.0.2.1>;tag=raw",
        to="<sip:bob@192.0.2.2>",
        call_id="glare-1",
        cseq=1,
        contact="<sip:raw@192.0.2.1:5060;transport=tcp>",
        body=SDP,
        content_type="application/sdp",
    )
    net.call(raw, lambda now: raw.ep.send_request(invite, target=bob.target("TCP"), now=now))
    net.drive(until=2.0)
    (dialog,) = callee.calls
    assert dialog.state is DialogState.CONFIRMED
    handle = net.call(bob, lambda now: dialog.reinvite(body=SDP2, now=now))
    net.drive(until=2.1)
    assert sent(net, "raw", "SIP/2.0 491")  # glare: bob backs off before retrying
    net.call(bob, lambda now: dialog.bye(now=now))
    net.drive()
    assert len(sent(net, "bob", "INVITE")) == 1  # no retry after the BYE
    # The re-INVITE's handle ends without a final response: the retry never went.
    assert [type(e).__name__ for e in bob.events if getattr(e, "txn", None) == handle] == [
        "TransactionTerminated"
    ]
    left = {k: v for k, v in ua(bob).stats().items() if v and k != "connections"}
    assert left == {}  # the TCP connection stays open (no idle timeout in the simulator)


def test_glare_retries_are_bounded_and_the_last_491_is_the_outcome() -> None:
    """§14.1 retries a re-INVITE that met 491; a peer that always answers 491 must not
    get re-INVITEs for ever. After UAConfig.glare_retries rounds the UA gives up: the
    handle's one final response is the last 491, then its transaction ends."""
    net = Net(8)
    net.add("raw", "192.0.2.1", handler=GlaringCaller())
    callee = Callee(ring=0.1)
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    raw = net.nodes["raw"]
    invite = make_request(
        "INVITE",
        "sip:bob@192.0.2.2;transport=tcp",
        from_="<sip:raw@192.0.2.1>;tag=raw",
        to="<sip:bob@192.0.2.2>",
        call_id="glare-2",
        cseq=1,
        contact="<sip:raw@192.0.2.1:5060;transport=tcp>",
        body=SDP,
        content_type="application/sdp",
    )
    net.call(raw, lambda now: raw.ep.send_request(invite, target=bob.target("TCP"), now=now))
    net.drive(until=2.0)
    (dialog,) = callee.calls
    handle = net.call(bob, lambda now: dialog.reinvite(body=SDP2, now=now))
    net.drive(until=600.0)
    assert len(sent(net, "bob", "INVITE")) == 1 + ua(bob).config.glare_retries
    outcome = [e for e in bob.events if getattr(e, "txn", None) == handle]
    finals = [e.response.status_code for e in outcome if isinstance(e, ResponseReceived)]
    assert finals == [491]
    assert isinstance(outcome[-1], TransactionTerminated)
    assert dialog.state is DialogState.CONFIRMED  # glare ends the request, not the call


class OfferingCallee(Callee):
    """Answers a call as Callee does; answers a re-INVITE without an offer with a 200
    carrying one (RFC 3264 §5: the offer is then in the 2xx, the answer in the ACK)."""

    def __call__(self, node: Node, event: Event) -> None:
        if isinstance(event, InDialogRequest) and event.txn is not None:
            body = SDP2 if event.request.method == "INVITE" and not event.request.body else b""
            ua(node).respond(event.txn, 200, body=body, now=node.net.now)
            return
        super().__call__(node, event)


def _offerless_reinvite() -> tuple[Net, Node, Node, ClientInviteDialog, object]:
    net = Net(6)
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2", handler=OfferingCallee(ring=0.1))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=1.0)
    assert call.state is DialogState.CONFIRMED
    handle = net.call(alice, lambda now: call.reinvite(now=now))
    net.drive(until=1.5)
    return net, alice, bob, call, handle


def test_an_offer_in_the_2xx_of_an_offerless_reinvite_waits_for_the_apps_answer() -> None:
    """RFC 3264 §5 in a re-INVITE: we sent no offer, the 2xx carries one, so the ACK
    must carry the answer. The UA holds the ACK until ``ack(body=...)``, as it does for
    the initial INVITE, and resends that ACK for the 2xx's retransmissions."""
    net, alice, bob, call, handle = _offerless_reinvite()
    ok = [e.response for e in alice.of_type(ResponseReceived) if e.txn == handle]
    assert [r.status_code for r in ok] == [200]
    assert len(sent(net, "alice", "ACK")) == 1  # the initial INVITE's only
    net.call(alice, lambda now: call.ack(body=SDP, content_type="application/sdp", now=now))
    net.drive(until=3.0)
    acks = sent(net, "alice", "ACK")
    assert len(acks) == 2 and acks[1].body == SDP
    assert [e.request.body for e in bob.events if isinstance(e, InDialogRequest)][-1] == SDP
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_an_unanswered_offer_in_a_reinvites_2xx_ends_the_session_after_the_timeout() -> None:
    """The application never answers: after UAConfig.answer_timeout the UA ACKs without
    an answer (nothing else is valid) and ends the call with BYE, Reason cause 488."""
    net, alice, _bob, call, _handle = _offerless_reinvite()
    net.drive(until=1.5 + ua(alice).config.answer_timeout + 1.0)
    assert len(sent(net, "alice", "ACK")) == 2
    (bye,) = sent(net, "alice", "BYE")
    assert bye.headers.get("Reason") == "SIP;cause=488"
    assert call.state is DialogState.TERMINATED
