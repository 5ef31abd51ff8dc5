"""A UserAgent against scripted raw peers: forking, digest challenges, snapshots."""

from __future__ import annotations

import json
import random

import pytest
from netsim import Net, Node
from uasim import SDP, Callee, add_ua, assert_clean, terminated, ua

from sipsans import (
    AuthenticationFailed,
    Credentials,
    DialogState,
    DialogStateChanged,
    Event,
    RequestReceived,
    ResponseReceived,
    TerminatedReason,
    make_response,
)
from sipsans.auth import DigestServer


class Forker:
    """One INVITE answered by two 'forks' (two To tags): 180 from each, then 200
    from each, both through the one server transaction (RFC 6026 Accepted)."""

    def __init__(self) -> None:
        self.byes: list[str] = []
        #: (delay, status, To tag) of each response to the INVITE.
        self.plan = [
            (0.0, 180, "fork1"),
            (0.1, 180, "fork2"),
            (0.3, 200, "fork1"),
            (0.5, 200, "fork2"),
        ]

    def __call__(self, node: Node, event: Event) -> None:
        if not isinstance(event, RequestReceived) or event.txn is None:
            return
        req, txn, now = event.request, event.txn, node.net.now
        contact = (("Contact", f"<sip:fork@{node.host}:{node.port}>"),)
        if req.method == "INVITE":
            for delay, status, tag in self.plan:

                def send(status: int = status, tag: str = tag) -> None:
                    body = SDP if status == 200 else b""
                    ctype = "application/sdp" if body else None
                    resp = make_response(
                        req, status, to_tag=tag, headers=contact, body=body, content_type=ctype
                    )
                    node.ep.send_response(txn, resp, now=node.net.now)
                    node.net.pump(node)

                node.net.at(now + delay, send)
        elif req.method == "BYE":
            self.byes.append(req.to.tag or "")
            node.ep.send_response(txn, make_response(req, 200), now=now)


def test_forking_two_forks_answer_second_is_acked_and_byed() -> None:
    net = Net(11)
    alice = add_ua(net, "alice", "192.0.2.1")
    forker = Forker()
    net.add("peer", "192.0.2.2", handler=forker)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=5.0)
    early = [e for e in alice.of_type(DialogStateChanged) if e.state is DialogState.EARLY]
    assert {e.dialog_id.remote_tag for e in early} == {"fork1", "fork2"}  # one per To tag
    assert call.state is DialogState.CONFIRMED
    winner, loser = "fork1", "fork2"
    assert call.id.remote_tag == winner
    acks = [w for w in net.wire if w.first_line.startswith("ACK")]
    assert {
        a.data.split(b"To: ")[1].split(b"tag=")[1].split(b"\r\n")[0].decode() for a in acks
    } == {
        "fork1",
        "fork2",
    }
    assert forker.byes == [loser]
    ended = {e.dialog_id.remote_tag: e.reason for e in terminated(alice)}
    assert ended == {loser: TerminatedReason.FORK_LOST}
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert forker.byes == [loser, winner]
    assert_clean(alice)


class Challenger:
    """A UAS that challenges INVITE with 407 (proxy) and BYE with 401 (UAS)."""

    def __init__(self, algorithm: str, qop: str) -> None:
        rng = random.Random(5)
        self.proxy = DigestServer(
            b"0123456789abcdef-p",
            "proxy.example",
            algorithms=(algorithm,),
            qop=(qop,),
            rng=rng,
            proxy=True,
        )
        self.uas = DigestServer(
            b"0123456789abcdef-u", "bob.example", algorithms=(algorithm,), qop=(qop,), rng=rng
        )
        self.verified: list[str] = []
        self.password = "secret"

    def __call__(self, node: Node, event: Event) -> None:
        if not isinstance(event, RequestReceived) or event.txn is None:
            return
        req, txn, now = event.request, event.txn, node.net.now
        server = self.proxy if req.method == "INVITE" else self.uas
        if server.find_credentials(req) is None:
            node.ep.send_response(
                txn, server.challenge_response(req, now=now, to_tag="b1"), now=now
            )
            return
        verdict = server.verify(req, now=now, password=lambda user, realm: self.password)
        if not verdict.ok:
            node.ep.send_response(
                txn,
                server.challenge_response(req, now=now, stale=verdict.stale, to_tag="b1"),
                now=now,
            )
            return
        self.verified.append(req.method)
        contact = (("Contact", f"<sip:bob@{node.host}:{node.port}>"),)
        node.ep.send_response(txn, make_response(req, 200, to_tag="b1", headers=contact), now=now)


ALGORITHMS = ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"]


@pytest.mark.parametrize("qop", ["auth", "auth-int"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_auth_on_invite_407_and_bye_401(algorithm: str, qop: str) -> None:
    net = Net(12)
    alice = add_ua(net, "alice", "192.0.2.1", credentials=Credentials("alice", "secret"))
    challenger = Challenger(algorithm, qop)
    net.add("peer", "192.0.2.2", handler=challenger)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=3.0)
    assert call.state is DialogState.CONFIRMED
    bye = net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert challenger.verified == ["INVITE", "BYE"]
    statuses = [e.response.status_code for e in alice.of_type(ResponseReceived) if e.txn == bye]
    assert statuses == [200]  # the 401 was answered by the UA, not shown
    acks = [w.data for w in net.wire if w.first_line.startswith("ACK")]
    assert any(b"Proxy-Authorization: Digest" in a for a in acks)  # §13.2.2.4: same credentials
    assert_clean(alice)


def test_wrong_password_fails_once_without_loop() -> None:
    net = Net(13)
    alice = add_ua(net, "alice", "192.0.2.1", credentials=Credentials("alice", "wrong"))
    challenger = Challenger("SHA-256", "auth")
    net.add("peer", "192.0.2.2", handler=challenger)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", now=now))
    net.drive()
    invites = [w for w in net.wire if w.first_line.startswith("INVITE") and w.src == "alice"]
    assert len(invites) == 2  # the original and one retry
    failed = alice.of_type(AuthenticationFailed)
    assert len(failed) == 1 and failed[0].realm == "proxy.example"
    assert (call.terminated_reason, call.status) == (TerminatedReason.PROXY_AUTH_REQUIRED, 407)
    assert_clean(alice)


def test_snapshot_restore_then_bye() -> None:
    net = Net(14)
    alice = add_ua(net, "alice", "192.0.2.1")
    callee = Callee()
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=40.0)  # past Timer M: nothing but the dialog is left
    snap = ua(alice).snapshot(call.id)
    assert snap["version"] == 1
    text = json.dumps(snap)
    # A new process: a fresh UA at the same address restores the dialog.
    del net.nodes["alice"]
    alice2 = add_ua(net, "alice", "192.0.2.1")
    restored = ua(alice2).restore(json.loads(text), now=net.now)
    assert restored.state is DialogState.CONFIRMED and restored.id == call.id
    net.call(alice2, lambda now: restored.bye(now=now))
    net.drive()
    assert callee.calls[0].terminated_reason is TerminatedReason.UAC_BYE
    assert restored.terminated_reason is TerminatedReason.UAC_BYE
    assert_clean(alice2, bob)


@pytest.mark.parametrize("loser_rings", [True, False])
def test_a_losing_forks_dialog_reports_every_state_it_passes(loser_rings: bool) -> None:
    """§13.2.2.4: a second fork's 2xx makes a dialog that the UA confirms (it ACKs the
    2xx) and at once ends with BYE. The application sees that dialog's whole life, each
    event's ``previous`` being the state the last one reported: Early (if it rang),
    Confirmed, Terminated."""
    net = Net(11)
    alice = add_ua(net, "alice", "192.0.2.1")
    forker = Forker()
    if not loser_rings:
        forker.plan = [(0.0, 180, "fork1"), (0.3, 200, "fork1"), (0.5, 200, "fork2")]
    net.add("peer", "192.0.2.2", handler=forker)
    net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=5.0)
    changes = [
        (e.previous, e.state)
        for e in alice.of_type(DialogStateChanged)
        if e.dialog_id.remote_tag == "fork2"
    ]
    early, confirmed, ended = DialogState.EARLY, DialogState.CONFIRMED, DialogState.TERMINATED
    if loser_rings:
        assert changes == [(None, early), (early, confirmed), (confirmed, ended)]
    else:
        assert changes == [(None, confirmed), (confirmed, ended)]
    assert forker.byes == ["fork2"]
