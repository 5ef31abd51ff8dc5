"""SUBSCRIBE/NOTIFY (RFC 6665) in the UserAgent, both roles, in virtual time.

UA-to-UA flows run at 0 % and 20 % loss; the corner cases (Timer N, forks,
notifier expiry, unknown subscriptions) use a scripted raw Endpoint as the peer, so
each test controls exactly what the other side sends.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from netsim import Net
from uasim import SDP, add_ua, assert_clean, ua

from sipsans import (
    ClientInviteDialog,
    ClientSubscription,
    DialogState,
    Event,
    IncomingCall,
    IncomingSubscription,
    LocalProtocolError,
    NotifyReceived,
    Request,
    RequestReceived,
    ServerSubscription,
    SubscriptionState,
    SubscriptionStateChanged,
    UAConfig,
    make_request,
    make_response,
    parse_message,
)
from sipsans.dialog.subscription import (
    SUBSCRIPTION_TABLE,
    SubscriptionInput,
    parse_event,
    parse_subscription_state,
    render_table,
)
from sipsans.testing import Node

S = SubscriptionState
PIDF = "application/pidf+xml"
NOTIFIER = UAConfig(event_packages=("presence",), answer_timeout=2.0)


def state_of(sub: ClientSubscription | ServerSubscription) -> SubscriptionState:
    return sub.state  # a call, so mypy does not narrow across commands


def changes(node: Node[Any], sub: object | None = None) -> list[SubscriptionState]:
    return [
        e.state
        for e in node.of_type(SubscriptionStateChanged)
        if sub is None or e.subscription == sub
    ]


class Presence:
    """A notifier application: accepts as pending, then activates one second later."""

    def __init__(self, *, decline: int | None = None) -> None:
        self.subs: list[ServerSubscription] = []
        self.decline = decline

    def __call__(self, node: Node[Any], event: Event) -> None:
        if not isinstance(event, IncomingSubscription):
            return
        sub = event.subscription
        net = node.net
        if self.decline is not None:
            sub.reject(self.decline, now=net.now)
            return
        self.subs.append(sub)
        sub.accept(state="pending", body=b"<offline/>", content_type=PIDF, now=net.now)

        def activate() -> None:
            if sub.state is S.PENDING:
                sub.notify(b"<online/>", state="active", now=net.now)
                net.pump(node)

        net.at(net.now + 1.0, activate)


# -- the table and the header fields ------------------------------------------------------


def test_every_table_row_cites_rfc_6665_and_terminated_is_final() -> None:
    for (state, inp), (_, ref) in SUBSCRIPTION_TABLE.items():
        assert ref.startswith("§4."), (state, inp)
        assert state is not S.TERMINATED
    # Whatever happens, a live subscription can always end (no state is a trap).
    for state in (S.NOTIFY_WAIT, S.PENDING, S.ACTIVE):
        assert SUBSCRIPTION_TABLE[(state, SubscriptionInput.NOTIFY_TERMINATED)][0] is S.TERMINATED
        assert SUBSCRIPTION_TABLE[(state, SubscriptionInput.EXPIRED)][0] is S.TERMINATED
    assert "| notify_wait | Timer N | terminated |" in render_table()
    doc = (Path(__file__).resolve().parents[2] / "docs" / "subscriptions.md").read_text()
    assert render_table() in doc, "docs/subscriptions.md is stale: paste render_table() there"


def test_header_parsing() -> None:
    assert parse_event("Presence ;id=7") == ("presence", "7")
    assert str(parse_event("refer;id=93809824")) == "refer;id=93809824"
    ss = parse_subscription_state("terminated;reason=probation;retry-after=30")
    assert ss == ("terminated", "probation", None, 30)
    assert parse_subscription_state("active;expires=600").expires == 600
    assert parse_subscription_state("active;expires=soon").expires is None  # ignored, not fatal


# -- UA to UA -----------------------------------------------------------------------------


@pytest.mark.parametrize("loss", [0.0, 0.2])
def test_lifecycle_refresh_and_unsubscribe(loss: float) -> None:
    net = Net(31, loss=loss)
    alice = add_ua(net, "alice", "192.0.2.1")
    presence = Presence()
    bob = add_ua(net, "bob", "192.0.2.2", config=NOTIFIER, handler=presence)
    sub = net.call(
        alice,
        lambda now: ua(alice).subscribe(
            "sip:bob@192.0.2.2", "presence", expires=120, accept=PIDF, now=now
        ),
    )
    assert state_of(sub) is S.NOTIFY_WAIT
    net.drive(until=15)
    assert changes(alice, sub) == [S.PENDING, S.ACTIVE]
    bodies = [e.request.body for e in alice.of_type(NotifyReceived)]
    assert bodies[:2] == [b"<offline/>", b"<online/>"]
    [server] = presence.subs
    assert state_of(server) is S.ACTIVE and server.dialog_id is not None
    assert sub.dialog_id is not None and sub.dialog_id.call_id == server.dialog_id.call_id
    # Ten minutes: refreshed about every 60 s (a minute before expiry); each refresh is
    # answered with a NOTIFY of the current state (§4.2.1.2).
    net.drive(until=615)
    refreshes = [w for w in net.wire if w.src == "alice" and w.first_line.startswith("SUBSCRIBE")]
    distinct = {w.data.split(b"CSeq: ")[1].split(b"\r\n")[0] for w in refreshes}
    assert len(distinct) >= 10  # the first SUBSCRIBE plus one refresh a minute
    assert state_of(sub) is S.ACTIVE and state_of(server) is S.ACTIVE
    assert sub.expires_at is not None and sub.expires_at > net.now
    assert all(e.request.body == b"<online/>" for e in alice.of_type(NotifyReceived)[2:])

    net.call(alice, lambda now: sub.unsubscribe(now=now))
    net.drive()
    assert state_of(sub) is S.TERMINATED and sub.reason == "timeout"  # §4.2.1.4
    assert state_of(server) is S.TERMINATED
    assert ua(alice).subscriptions == [] and ua(bob).subscriptions == []
    assert_clean(alice, bob)


@pytest.mark.parametrize("loss", [0.0, 0.2])
def test_notifier_terminates_with_reason_and_retry_after(loss: float) -> None:
    net = Net(32, loss=loss)
    alice = add_ua(net, "alice", "192.0.2.1")
    presence = Presence()
    bob = add_ua(net, "bob", "192.0.2.2", config=NOTIFIER, handler=presence)
    sub = net.call(alice, lambda now: ua(alice).subscribe("sip:bob@192.0.2.2", "presence", now=now))
    net.drive(until=15)
    [server] = presence.subs
    net.call(
        bob,
        lambda now: server.terminate(reason="probation", retry_after=90, body=b"<gone/>", now=now),
    )
    net.drive()
    assert state_of(sub) is S.TERMINATED
    assert (sub.reason, sub.retry_after) == ("probation", 90)
    final = alice.of_type(SubscriptionStateChanged)[-1]
    assert final.previous is S.ACTIVE and final.reason == "probation"
    assert alice.of_type(NotifyReceived)[-1].request.body == b"<gone/>"
    with pytest.raises(LocalProtocolError, match="terminated"):
        server.notify(b"<late/>", now=net.now)
    assert_clean(alice, bob)


def test_reject_unknown_package_and_unanswered() -> None:
    net = Net(33)
    alice = add_ua(net, "alice", "192.0.2.1")
    add_ua(net, "bob", "192.0.2.2", config=NOTIFIER, handler=Presence(decline=403))
    add_ua(net, "carol", "192.0.2.3", config=NOTIFIER)  # never answers
    agent = ua(alice)
    rejected = net.call(
        alice, lambda now: agent.subscribe("sip:bob@192.0.2.2", "presence", now=now)
    )
    bad_event = net.call(alice, lambda now: agent.subscribe("sip:bob@192.0.2.2", "dialog", now=now))
    ignored = net.call(
        alice, lambda now: agent.subscribe("sip:carol@192.0.2.3", "presence", now=now)
    )
    net.drive()
    assert (rejected.state, rejected.reason, rejected.status) == (S.TERMINATED, "rejected", 403)
    assert bad_event.status == 489  # §4.2.1.1: Bad Event
    allow_events = [w for w in net.wire if w.first_line.startswith("SIP/2.0 489")]
    assert b"\r\nAllow-Events: presence\r\n" in allow_events[0].data
    assert ignored.status == 480  # the documented default after answer_timeout
    assert_clean(*net.nodes.values())


def test_fetch_with_expires_zero() -> None:
    net = Net(34)
    alice = add_ua(net, "alice", "192.0.2.1")
    presence = Presence()
    bob = add_ua(net, "bob", "192.0.2.2", config=NOTIFIER, handler=presence)
    sub = net.call(
        alice, lambda now: ua(alice).subscribe("sip:bob@192.0.2.2", "presence", expires=0, now=now)
    )
    net.drive()
    # One NOTIFY with the state, terminated at once (§4.2.1.2).
    [notify] = alice.of_type(NotifyReceived)
    assert notify.request.body == b"<offline/>" and notify.state is S.TERMINATED
    assert state_of(sub) is S.TERMINATED and state_of(presence.subs[0]) is S.TERMINATED
    assert_clean(alice, bob)


def test_allow_lists_subscribe_only_for_a_notifier() -> None:
    net = Net(35)
    plain = ua(add_ua(net, "alice", "192.0.2.1"))
    notifier = ua(add_ua(net, "bob", "192.0.2.2", config=NOTIFIER))
    assert "SUBSCRIBE" not in plain.allow and "REFER" in plain.allow
    assert "SUBSCRIBE" in notifier.allow and "NOTIFY" in notifier.allow
    no_refer = ua(add_ua(net, "carol", "192.0.2.3", config=UAConfig(refer=False)))
    assert "REFER" not in no_refer.allow


# -- against a scripted peer ----------------------------------------------------------------


class RawNotifier:
    """An Endpoint node playing notifier(s) by script: answers SUBSCRIBEs and sends
    NOTIFYs with any From tag, so a test can fork, go silent or stop refreshing."""

    def __init__(self, net: Net, *, answer: bool = True, expires: int = 60) -> None:
        self.net = net
        self.node = net.add("peer", "192.0.2.9", handler=self.handle)
        self.answer = answer
        self.expires = expires
        self.subscribes: list[Request] = []
        self.cseq = itertools.count(1)
        self.on_subscribe: Callable[[Request], None] | None = None

    def handle(self, node: Node[Any], event: Event) -> None:
        if isinstance(event, RequestReceived) and event.txn is not None:
            request = event.request
            if request.method == "SUBSCRIBE":
                self.subscribes.append(request)
                if self.answer:
                    expires = request.headers.get("Expires") or str(self.expires)
                    response = make_response(
                        request,
                        200,
                        to_tag=request.to.tag or "n1",
                        headers=[("Contact", "<sip:peer@192.0.2.9>"), ("Expires", expires)],
                    )
                    node.core.send_response(event.txn, response, now=self.net.now)
                if self.on_subscribe is not None:
                    self.on_subscribe(request)

    def notify(self, subscribe: Request, tag: str, state: str, body: bytes = b"<x/>") -> None:
        request = make_request(
            "NOTIFY",
            "sip:alice@192.0.2.1:5060",
            from_=f"<sip:peer@192.0.2.9>;tag={tag}",
            to=str(subscribe.from_),
            call_id=subscribe.call_id,
            cseq=next(self.cseq),
            contact=f"<sip:{tag}@192.0.2.9>",
            headers=[
                ("Event", subscribe.headers.get("Event") or ""),
                ("Subscription-State", state),
            ],
            body=body,
            content_type=PIDF,
        )
        self.net.call(
            self.node,
            lambda now: self.node.core.send_request(
                request, target=self.net.nodes["alice"].target(), now=now
            ),
        )


def finals(net: Net, src: str) -> list[str]:
    return [w.first_line for w in net.wire if w.src == src and w.first_line.startswith("SIP/")]


def test_timer_n_ends_a_subscription_without_notify() -> None:
    net = Net(36)
    alice = add_ua(net, "alice", "192.0.2.1")
    RawNotifier(net)  # answers 200, never NOTIFYs
    sub = net.call(
        alice, lambda now: ua(alice).subscribe("sip:peer@192.0.2.9", "presence", now=now)
    )
    net.drive()
    ok_at = next(w.time for w in net.wire if w.first_line.startswith("SIP/2.0 200"))
    [end] = alice.of_type(SubscriptionStateChanged)
    end_at = next(t for t, e in alice.log if isinstance(e, SubscriptionStateChanged))
    assert end.state is S.TERMINATED and end.previous is S.NOTIFY_WAIT and end.reason == "timeout"
    # Timer N = 64*T1 = 32 s after the 2xx arrived (RFC 6665 §4.1.2.4).
    assert end_at - ok_at == pytest.approx(32.0, abs=0.1)
    assert state_of(sub) is S.TERMINATED
    assert_clean(alice)


def test_forked_subscribe_makes_one_subscription_per_notifier() -> None:
    net = Net(37)
    alice = add_ua(net, "alice", "192.0.2.1")
    peer = RawNotifier(net)
    original = net.call(
        alice, lambda now: ua(alice).subscribe("sip:peer@192.0.2.9", "presence", now=now)
    )
    net.drive(until=1)
    [subscribe] = peer.subscribes
    peer.notify(subscribe, "n1", "active;expires=60", b"<one/>")
    net.drive(until=1.5)  # the first NOTIFY to arrive belongs to the original subscription
    peer.notify(subscribe, "n2", "pending;expires=60", b"<two/>")
    net.drive(until=2)
    assert finals(net, "alice") == ["SIP/2.0 200 OK", "SIP/2.0 200 OK"]
    appeared = [e for e in alice.of_type(SubscriptionStateChanged) if e.previous is None]
    [fork] = [e.subscription for e in appeared]
    assert isinstance(fork, ClientSubscription) and fork != original
    assert state_of(original) is S.ACTIVE and state_of(fork) is S.PENDING
    assert original.dialog_id is not None and fork.dialog_id is not None
    assert original.dialog_id.remote_tag == "n1" and fork.dialog_id.remote_tag == "n2"
    assert fork.last_notify is not None and fork.last_notify.body == b"<two/>"
    assert len(ua(alice).subscriptions) == 2
    # Each fork lives on its own: the second notifier ends only its subscription.
    peer.notify(subscribe, "n2", "terminated;reason=rejected", b"")
    net.drive(until=3)
    assert state_of(fork) is S.TERMINATED and state_of(original) is S.ACTIVE
    # The first is refreshed in its own dialog (To tag n1) before it expires.
    net.drive(until=40)
    refresh = peer.subscribes[-1]
    assert len(peer.subscribes) == 2 and refresh.to.tag == "n1"
    assert refresh.call_id == subscribe.call_id and refresh.cseq.seq > subscribe.cseq.seq
    net.call(alice, lambda now: original.unsubscribe(now=now))
    net.drive(until=41)
    assert peer.subscribes[-1].headers.get("Expires") == "0"
    peer.notify(subscribe, "n1", "terminated;reason=timeout")
    net.drive()
    assert state_of(original) is S.TERMINATED and original.reason == "timeout"
    assert_clean(alice)


def test_unknown_notify_gets_481_and_late_fork_after_timer_n() -> None:
    net = Net(38)
    alice = add_ua(net, "alice", "192.0.2.1")
    peer = RawNotifier(net)
    sub = net.call(
        alice, lambda now: ua(alice).subscribe("sip:peer@192.0.2.9", "presence", now=now)
    )
    net.drive(until=1)
    [subscribe] = peer.subscribes
    peer.notify(subscribe, "n1", "active;expires=60")
    net.drive(until=2)
    stranger = subscribe.copy()
    stranger.headers.set("Call-ID", "unknown@192.0.2.9")
    peer.notify(stranger, "n3", "active")  # no such subscription
    wrong_event = subscribe.copy()
    wrong_event.headers.set("Event", "dialog")
    peer.notify(wrong_event, "n1", "active")  # right dialog, wrong package
    net.drive(until=40)  # past the fork window (Timer N after the 2xx)
    peer.notify(subscribe, "n4", "active")  # a fork arriving too late
    net.drive(until=41)
    assert (
        finals(net, "alice")
        == ["SIP/2.0 200 OK"] + ["SIP/2.0 481 Call/Transaction Does Not Exist"] * 3
    )
    assert [e.subscription for e in alice.of_type(NotifyReceived)] == [sub]
    net.call(alice, lambda now: sub.unsubscribe(now=now))
    net.drive()  # the peer never sends the final NOTIFY: Timer N after the 2xx ends it
    assert state_of(sub) is S.TERMINATED and sub.reason == "unsubscribed"
    assert_clean(alice)


def test_subscriber_keeps_subscription_until_expiry_when_refresh_times_out() -> None:
    net = Net(39)
    alice = add_ua(net, "alice", "192.0.2.1")
    peer = RawNotifier(net, expires=100)
    sub = net.call(
        alice,
        lambda now: ua(alice).subscribe("sip:peer@192.0.2.9", "presence", expires=100, now=now),
    )
    net.drive(until=1)
    peer.notify(peer.subscribes[0], "n1", "active;expires=100")
    net.drive(until=2)
    peer.answer = False  # refreshes now time out (Timer F)
    net.drive()
    # A refresh that fails with a timeout leaves the subscription until it expires
    # (RFC 6665 §4.1.2.2); then it ends locally.
    assert state_of(sub) is S.TERMINATED and sub.reason == "timeout"
    end_at = next(
        t
        for t, e in alice.log
        if isinstance(e, SubscriptionStateChanged) and e.state is S.TERMINATED
    )
    assert end_at == pytest.approx(101.0, abs=0.2)
    assert len(peer.subscribes) > 1
    assert_clean(alice)


def test_notifier_expires_a_subscriber_that_stops_refreshing() -> None:
    net = Net(40)
    bob = add_ua(net, "bob", "192.0.2.2", config=NOTIFIER, handler=Presence())
    peer = net.add("alice", "192.0.2.1")  # a raw subscriber that answers NOTIFYs, never refreshes
    notifies: list[Request] = []

    def answer(node: Node[Any], event: Event) -> None:
        if isinstance(event, RequestReceived) and event.txn is not None:
            notifies.append(event.request)
            node.core.send_response(event.txn, make_response(event.request, 200), now=net.now)

    peer.handler = answer
    subscribe = make_request(
        "SUBSCRIBE",
        "sip:bob@192.0.2.2",
        from_="<sip:alice@192.0.2.1>;tag=s1",
        to="<sip:bob@192.0.2.2>",
        call_id="sub-1@192.0.2.1",
        cseq=1,
        contact="<sip:alice@192.0.2.1>",
        headers=[("Event", "presence"), ("Expires", "30")],
    )
    net.call(peer, lambda now: peer.core.send_request(subscribe, target=bob.target(), now=now))
    net.drive()
    states = [parse_subscription_state(n.headers.get("Subscription-State") or "") for n in notifies]
    assert [s.state for s in states] == ["pending", "active", "terminated"]
    assert states[-1].reason == "timeout"
    # The last NOTIFY went out when the 30 s ran out.
    last = next(w for w in net.wire if w.src == "bob" and b"terminated" in w.data)
    assert last.time == pytest.approx(30.0, abs=0.2)
    assert_clean(bob)


def test_misuse_raises() -> None:
    net = Net(41)
    alice = add_ua(net, "alice", "192.0.2.1")
    agent = ua(alice)
    with pytest.raises(LocalProtocolError, match="content_type"):
        agent.subscribe("sip:bob@192.0.2.2", "presence", body=b"x", now=0.0)
    with pytest.raises(LocalProtocolError, match="bad event"):
        agent.subscribe("sip:bob@192.0.2.2", "pres ence", now=0.0)
    sub = agent.subscribe("sip:bob@192.0.2.2", "presence", now=0.0)
    with pytest.raises(LocalProtocolError, match="no dialog"):
        sub.refresh(now=0.0)


# -- a subscription within a call's dialog (RFC 6665 §4.1.2.1, §4.5.2; RFC 5057) ----------


class CallAndPresence(Presence):
    """Bob: answers every call at once and is a presence notifier (Presence above)."""

    def __call__(self, node: Node[Any], event: Event) -> None:
        if isinstance(event, IncomingCall):
            event.dialog.accept(body=SDP, now=node.net.now)
        super().__call__(node, event)


def _call(seed: int, bob_app: Presence) -> tuple[Net, Node[Any], Node[Any], ClientInviteDialog]:
    net = Net(seed)
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2", config=NOTIFIER, handler=bob_app)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=2)
    assert call.state is DialogState.CONFIRMED
    return net, alice, bob, call


def test_subscribe_within_a_call_dialog_shares_it_and_outlives_the_call() -> None:
    """Dialog reuse: the SUBSCRIBE goes within the call's dialog (its Call-ID, tags and
    next CSeq, §12.2.1.1); the notifier makes the subscription a usage of that dialog and
    its NOTIFYs match it on the subscriber (no 481, §4.1.3). Refreshes stay in the dialog;
    a BYE ends only the INVITE usage (RFC 5057 §5.2), the subscription lives on until
    unsubscribed, and then nothing is left."""
    presence = CallAndPresence()
    net, alice, bob, call = _call(71, presence)
    sub = net.call(alice, lambda now: call.subscribe("presence", expires=120, now=now))
    net.drive(until=15)
    (subscribe,) = wire_requests(net, "alice", "SUBSCRIBE")
    (invite,) = wire_requests(net, "alice", "INVITE")
    assert (subscribe.call_id, subscribe.from_.tag) == (invite.call_id, invite.from_.tag)
    assert subscribe.to.tag == call.id.remote_tag
    assert subscribe.cseq.seq == invite.cseq.seq + 1
    assert subscribe.headers.get("Event") == "presence"
    [server] = presence.subs
    (bob_call,) = [e.dialog for e in bob.of_type(IncomingCall)]
    assert server.dialog_id == bob_call.id  # the notifier's usage of the call's dialog
    assert sub.dialog_id == call.id
    assert changes(alice, sub) == [S.PENDING, S.ACTIVE]
    assert [e.request.body for e in alice.of_type(NotifyReceived)] == [b"<offline/>", b"<online/>"]
    assert not [w for w in net.wire if w.first_line.startswith("SIP/2.0 481")]
    # Misuse: the same package twice in one dialog, or a SUBSCRIBE the UA cannot track.
    with pytest.raises(LocalProtocolError, match="already has a subscription"):
        call.subscribe("presence", now=net.now)
    with pytest.raises(LocalProtocolError, match="subscribe"):
        call.request("SUBSCRIBE", headers=[("Event", "presence")], now=net.now)
    # Refreshed within the dialog before the 120 s run out.
    net.drive(until=200)
    refreshes = wire_requests(net, "alice", "SUBSCRIBE")[1:]
    assert refreshes and all(r.call_id == invite.call_id for r in refreshes)
    assert state_of(sub) is S.ACTIVE
    # The call ends; the subscription does not.
    net.call(alice, lambda now: call.bye(now=now))
    net.drive(until=210)
    assert call.state is DialogState.TERMINATED
    assert state_of(sub) is S.ACTIVE and state_of(server) is S.ACTIVE
    net.call(bob, lambda now: server.notify(b"<away/>", now=now))
    net.drive(until=215)
    assert alice.of_type(NotifyReceived)[-1].request.body == b"<away/>"
    with pytest.raises(LocalProtocolError, match="confirmed"):
        call.subscribe("dialog", now=net.now)  # no new usage of an ended call
    net.call(alice, lambda now: sub.unsubscribe(now=now))
    net.drive()
    assert state_of(sub) is S.TERMINATED and state_of(server) is S.TERMINATED
    assert_clean(alice, bob)


def test_subscribe_within_a_call_dialog_refused_leaves_the_call_alone() -> None:
    """A failure response to an initial SUBSCRIBE ends that subscription (§4.1.2.1)
    even when it was sent within an existing dialog; the call is untouched (RFC 5057)."""
    net, alice, bob, call = _call(72, CallAndPresence(decline=403))
    sub = net.call(alice, lambda now: call.subscribe("presence", now=now))
    net.drive(until=10)
    assert state_of(sub) is S.TERMINATED
    assert (sub.reason, sub.status) == ("rejected", 403)
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def wire_requests(net: Net, src: str, method: str) -> list[Request]:
    out: list[Request] = []
    for w in net.wire:
        if w.src == src and w.first_line.startswith(f"{method} "):
            message = parse_message(w.data)
            assert isinstance(message, Request)
            if message.headers.get("Via") not in [r.headers.get("Via") for r in out]:
                out.append(message)  # retransmissions once
    return out


@pytest.mark.parametrize("start", [1864.015585864 + k * 97.31379 for k in range(40)])
def test_granted_expiry_reads_back_exactly_at_any_clock_origin(start: float) -> None:
    """A notifier granting 300 s says ``expires=300`` in its NOTIFY, whatever the clock's
    origin: ``(now + 300) - now`` is not always 300 in floating point, and rounding that
    up once said 301 (the subscriber then believed it had more than it was granted)."""
    net = Net(36, start=start)
    alice = add_ua(net, "alice", "192.0.2.1")
    add_ua(net, "bob", "192.0.2.2", config=NOTIFIER, handler=Presence())
    sub = net.call(
        alice,
        lambda now: ua(alice).subscribe("sip:bob@192.0.2.2", "presence", expires=300, now=now),
    )
    net.drive(until=start + 0.5)
    [first, *_] = alice.of_type(NotifyReceived)
    assert first.expires == 300
    assert sub.expires_at is not None and sub.expires_at - net.now <= 300


def test_seconds_left_rounds_up_and_never_negative() -> None:
    from sipsans.services.registrar import seconds_left

    assert seconds_left(10.5, 10.0) == 1  # a live binding never shows 0
    assert seconds_left(9.0, 10.0) == 0
    assert all(seconds_left(t + 300, t) == 300 for t in (0.1 * k + 1e9 / 7 for k in range(1000)))
