"""A digest-protected callee (``ua.protect(DigestGuard(...))``, RFC 3261 §22.2): the UA
challenges INVITE and BYE itself, reports IncomingCall only for an authenticated
INVITE, and ends a call only on an authenticated BYE."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from netsim import Net
from uasim import SDP, Callee, add_ua, assert_clean, ua

from sipsans import (
    AuthenticationFailed,
    ClientInviteDialog,
    Credentials,
    DialogState,
    DialogTerminated,
    IncomingCall,
    LocalProtocolError,
    RequestReceived,
    ResponseReceived,
    TerminatedReason,
    UserAgent,
    make_request,
    parse_message,
)
from sipsans.auth import DEFAULT_LIMITS, DigestGuard, DigestServer, FailureLimits
from sipsans.testing import Node

SECRET = b"0123456789abcdef-callee-secret"


def protected_bob(net: Net, *, limits: FailureLimits = DEFAULT_LIMITS) -> Node[Any]:
    callee = Callee(ring=0.2)
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    server = DigestServer(SECRET, "bob.example", rng=random.Random(11), limits=limits)
    ua(bob).protect(DigestGuard(server, users={"alice": "secret"}))
    return bob


def lines(net: Net, src: str | None = None) -> list[str]:
    """The first lines sent (by ``src``), retransmissions included."""
    return [w.first_line for w in net.wire if src is None or w.src == src]


def test_a_caller_with_credentials_reaches_the_protected_callee_and_its_bye_is_checked() -> None:
    net = Net(41)
    bob = protected_bob(net)
    alice = add_ua(net, "alice", "192.0.2.1", credentials=Credentials("alice", "secret"))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive_for(2)
    assert call.state is DialogState.CONFIRMED
    [incoming] = bob.of_type(IncomingCall)  # one call reported: the authenticated INVITE
    assert "Authorization" in incoming.request.headers
    assert lines(net, "bob")[:3] == [
        "SIP/2.0 401 Unauthorized",
        "SIP/2.0 180 Ringing",
        "SIP/2.0 200 OK",
    ]
    challenge = parse_message(next(w.data for w in net.wire if b" 401 " in w.data[:20]))
    value = challenge.headers.get("WWW-Authenticate")
    assert value is not None and 'realm="bob.example"' in value and "nonce=" in value

    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    byes = [w for w in net.wire if w.first_line.startswith("BYE")]
    assert len(byes) == 2  # challenged, then sent with credentials
    assert b"Authorization: Digest" not in byes[0].data
    assert b"Authorization: Digest" in byes[1].data
    assert lines(net, "bob")[-2:] == ["SIP/2.0 401 Unauthorized", "SIP/2.0 200 OK"]
    [ended] = bob.of_type(DialogTerminated)
    assert ended.reason is TerminatedReason.UAC_BYE
    assert_clean(alice, bob)


def test_a_wrong_password_is_refused_once_without_a_loop() -> None:
    net = Net(42)
    bob = protected_bob(net)
    alice = add_ua(net, "alice", "192.0.2.1", credentials=Credentials("alice", "guess"))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive()
    assert [line for line in lines(net, "alice") if line.startswith("INVITE")] == [
        "INVITE sip:bob@192.0.2.2 SIP/2.0"
    ] * 2  # the INVITE and one retry with credentials
    assert lines(net, "bob") == ["SIP/2.0 401 Unauthorized"] * 2
    assert bob.of_type(IncomingCall) == []  # the application never heard of it
    [failed] = alice.of_type(AuthenticationFailed)
    assert failed.realm == "bob.example"
    assert (call.state, call.status) == (DialogState.TERMINATED, 401)
    assert_clean(alice, bob)


def test_a_caller_without_credentials_never_rings_the_callee() -> None:
    net = Net(43)
    bob = protected_bob(net)
    carol = add_ua(net, "carol", "192.0.2.3")
    call = net.call(carol, lambda now: ua(carol).invite("sip:bob@192.0.2.2", now=now))
    net.drive()
    assert bob.of_type(IncomingCall) == []
    assert call.status == 401
    assert_clean(carol, bob)


def test_an_unauthenticated_bye_leaves_the_call_up() -> None:
    # The dialog's peer sends a BYE without credentials: 401, the call goes on.
    net = Net(44)
    bob = protected_bob(net)
    alice = add_ua(net, "alice", "192.0.2.1", credentials=Credentials("alice", "secret"))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive_for(2)
    ua(alice).digest.credentials.clear()  # alice forgets her password mid-call
    net.call(alice, lambda now: call.bye(now=now))
    net.drive_for(60)  # (not for ever: the session timer would end the call at last)
    [failed] = alice.of_type(AuthenticationFailed)
    assert failed.realm == "bob.example"
    [bobs_call] = [e.dialog for e in bob.of_type(IncomingCall)]
    assert bobs_call.state is DialogState.CONFIRMED
    assert bob.of_type(DialogTerminated) == []
    # bob hangs up himself: alice's UA is not protected, nothing is asked of him.
    net.call(bob, lambda now: bobs_call.bye(now=now))
    net.drive()
    assert call.state is DialogState.TERMINATED
    assert_clean(alice, bob)


def test_the_callee_of_our_own_call_is_not_challenged() -> None:
    # bob is protected, calls carol, and carol hangs up: her BYE is not challenged
    # (she never had bob's realm), nor are methods the guard does not name.
    net = Net(45)
    bob = protected_bob(net)
    carol = add_ua(net, "carol", "192.0.2.3", handler=Callee(ring=0.1))
    net.call(bob, lambda now: ua(bob).invite("sip:carol@192.0.2.3", body=SDP, now=now))
    net.drive_for(2)
    [carols_call] = [e.dialog for e in carol.of_type(IncomingCall)]
    net.call(carol, lambda now: carols_call.bye(now=now))
    net.drive()
    assert "SIP/2.0 401 Unauthorized" not in lines(net)
    options = net.call(carol, lambda now: ua(carol).options("sip:bob@192.0.2.2", now=now))
    net.drive()
    [asked] = bob.of_type(RequestReceived)  # handed to the app, answered by default
    assert asked.request.method == "OPTIONS"
    answers = [e.response.status_code for e in carol.of_type(ResponseReceived) if e.txn == options]
    assert answers == [200]
    assert "SIP/2.0 401 Unauthorized" not in lines(net)
    assert_clean(bob, carol)


def dialer(agent: UserAgent) -> Callable[[float], ClientInviteDialog]:
    return lambda now: agent.invite("sip:bob@192.0.2.2", now=now)


def test_guessing_through_invites_backs_off() -> None:
    net = Net(46)
    bob = protected_bob(net, limits=FailureLimits(source_failures=3, backoff=30.0))
    for i in range(5):
        mallory = add_ua(
            net, f"m{i}", "192.0.2.66", 5070 + i, credentials=Credentials("alice", f"guess{i}")
        )
        net.call(mallory, dialer(ua(mallory)))
        net.drive_for(1)
    statuses = lines(net, "bob")
    # Each guess is an INVITE (401) and its retry with credentials: two are refused
    # 401, the third starts the back-off, and from then on it is 503 straight away.
    assert statuses[:5] == ["SIP/2.0 401 Unauthorized"] * 5
    assert statuses[5:] == ["SIP/2.0 503 Too Many Failed Attempts"] * 3
    assert bob.of_type(IncomingCall) == []


def test_a_bye_outside_any_dialog_gets_its_481_unchallenged() -> None:
    net = Net(48)
    bob = protected_bob(net)
    carol = net.add("carol", "192.0.2.3")  # a bare endpoint: it may send anything
    stray = make_request(
        "BYE",
        "sip:bob@192.0.2.2",
        from_="<sip:carol@192.0.2.3>;tag=c1",
        to="<sip:bob@192.0.2.2>",
        call_id="stray",
        cseq=1,
    )
    net.call(carol, lambda now: carol.core.send_request(stray, target=bob.target(), now=now))
    net.drive()
    assert [e.response.status_code for e in carol.of_type(ResponseReceived)] == [481]
    assert_clean(bob)


def test_protect_can_be_lifted_and_guards_are_checked() -> None:
    net = Net(47)
    bob = protected_bob(net)
    ua(bob).protect(None)
    carol = add_ua(net, "carol", "192.0.2.3")
    net.call(carol, lambda now: ua(carol).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive_for(2)
    assert len(bob.of_type(IncomingCall)) == 1
    server = DigestServer(SECRET, "bob.example")
    with pytest.raises(LocalProtocolError, match="exactly one"):
        DigestGuard(server)
    with pytest.raises(LocalProtocolError, match="exactly one"):
        DigestGuard(server, users={}, password=lambda user, realm: None)
    with pytest.raises(LocalProtocolError, match="cannot be challenged"):
        DigestGuard(server, users={}, methods=("INVITE", "cancel"))
