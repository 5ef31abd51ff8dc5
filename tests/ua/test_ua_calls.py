"""Call outcomes, hang-up, CANCEL races and in-dialog requests between two UAs."""

from __future__ import annotations

import pytest
from netsim import Net
from uasim import SDP, SDP2, Callee, add_ua, assert_clean, ua

from sipsans import (
    DialogState,
    InDialogRequest,
    MessageReceived,
    RequestReceived,
    ResponseReceived,
    TerminatedReason,
    UAConfig,
)


def _call(seed: int = 1, callee: Callee | None = None, config: UAConfig | None = None, **kw):  # type: ignore[no-untyped-def]
    net = Net(seed, **kw)
    alice = add_ua(net, "alice", "192.0.2.1")
    callee = callee or Callee()
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee, config=config)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    return net, alice, bob, callee, call


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (486, TerminatedReason.UAS_BUSY),
        (600, TerminatedReason.UAS_BUSY),
        (603, TerminatedReason.UAS_DECLINE),
        (404, TerminatedReason.PROXY_ERROR),
        (408, TerminatedReason.TIMEOUT),
        (480, TerminatedReason.UAS_OTHER),
    ],
)
def test_failure_statuses_map_to_reasons(status: int, reason: TerminatedReason) -> None:
    net, alice, bob, callee, call = _call(callee=Callee(status=status))
    net.drive()
    assert call.state is DialogState.TERMINATED
    assert (call.terminated_reason, call.status) == (reason, status)
    uas_reason = {404: TerminatedReason.UAS_OTHER, 408: TerminatedReason.UAS_OTHER}.get(
        status, reason
    )
    assert callee.calls[0].terminated_reason is uas_reason
    assert_clean(alice, bob)


def test_no_answer_at_all_is_timeout() -> None:
    net = Net(3)
    alice = add_ua(net, "alice", "192.0.2.1")
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.9", now=now))
    net.drive()
    assert (call.terminated_reason, call.status) == (TerminatedReason.TIMEOUT, 408)
    assert net.now == pytest.approx(32.0)  # Timer B = 64*T1
    assert_clean(alice)


def test_hangup_while_early_sends_cancel_and_gets_487() -> None:
    net, alice, bob, callee, call = _call(callee=Callee(ring=60))
    net.drive(until=1.0)
    assert call.state is DialogState.EARLY
    cancel = net.call(alice, lambda now: call.hangup(now=now))
    assert cancel is not None
    net.drive()
    assert (call.terminated_reason, call.status) == (TerminatedReason.UAC_CANCEL, 487)
    assert callee.calls[0].terminated_reason is TerminatedReason.UAC_CANCEL
    lines = [w.first_line for w in net.wire]
    assert "SIP/2.0 487 Request Terminated" in lines
    assert_clean(alice, bob)


def test_cancel_carries_headers_and_reason() -> None:
    """cancel(headers=, reason=) puts them on the CANCEL itself (§9.1, RFC 3326)."""
    net, alice, bob, _callee, call = _call(callee=Callee(ring=60))
    net.drive(until=1.0)
    reason = 'SIP;cause=200;text="Call completed elsewhere"'
    net.call(alice, lambda now: call.cancel(headers=[("X-Why", "test")], reason=reason, now=now))
    net.drive()
    (cancel,) = {bytes(w.data) for w in net.wire if w.first_line.startswith("CANCEL")}
    assert b"\r\nX-Why: test\r\n" in cancel
    assert f"\r\nReason: {reason}\r\n".encode() in cancel
    assert call.terminated_reason is TerminatedReason.UAC_CANCEL
    assert_clean(alice, bob)


def test_hangup_before_any_provisional_waits_for_it() -> None:
    net = Net(4)
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2")  # no handler: only the transaction's 100 Trying
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.call(alice, lambda now: call.hangup(now=now))
    assert not any(w.first_line.startswith("CANCEL") for w in net.wire)  # held (§9.1)
    net.drive()
    cancels = [w for w in net.wire if w.first_line.startswith("CANCEL")]
    trying = [w for w in net.wire if w.first_line.startswith("SIP/2.0 100")]
    assert cancels and cancels[0].time >= trying[0].time
    assert call.terminated_reason is TerminatedReason.UAC_CANCEL
    assert_clean(alice, bob)


def test_2xx_racing_cancel_is_acked_then_byed() -> None:
    net, alice, bob, callee, call = _call(callee=Callee(ring=60))
    net.drive(until=1.0)
    assert call.state is DialogState.EARLY
    # Bob accepts and Alice hangs up at the same instant: the CANCEL and the 200 cross.
    net.call(bob, lambda now: callee.calls[0].accept(body=SDP, now=now))
    net.call(alice, lambda now: call.hangup(now=now))
    net.drive()
    lines = [w.first_line for w in net.wire]
    assert any(line.startswith("CANCEL") for line in lines)
    assert any(line.startswith("ACK") for line in lines)
    assert any(line.startswith("BYE") for line in lines)
    assert call.terminated_reason is TerminatedReason.UAC_CANCEL
    assert callee.calls[0].terminated_reason is TerminatedReason.UAC_BYE
    assert_clean(alice, bob)


def test_in_dialog_info_options_message_and_defaults() -> None:
    net, alice, bob, _callee, call = _call(config=UAConfig(answer_timeout=2.0))
    net.drive(until=2.0)
    bob_ua = ua(bob)
    # One at a time: requests overtaking each other would get 500 (§12.2.2), see below.
    info = net.call(
        alice,
        lambda now: call.info(body=b"Signal=5", content_type="application/dtmf-relay", now=now),
    )
    net.drive(until=2.2)
    options = net.call(alice, lambda now: call.options(now=now))
    net.drive(until=2.4)
    message = net.call(alice, lambda now: call.message(body=b"hello", now=now))
    net.drive(until=3.0)
    got = {e.request.method: e for e in bob.of_type(InDialogRequest)}
    assert set(got) == {"INFO", "OPTIONS", "MESSAGE"}
    assert got["MESSAGE"].request.body == b"hello"
    # The app answers INFO itself; OPTIONS and MESSAGE get the defaults after 2 s.
    net.call(bob, lambda now: bob_ua.respond(got["INFO"].txn, 200, now=now))
    net.drive(until=6.0)
    finals = {  # by the handle each command returned
        e.txn: e.response for e in alice.of_type(ResponseReceived) if e.response.status_code >= 200
    }
    assert finals[info].status_code == 200
    assert finals[options].status_code == 200 and "INVITE" in (
        finals[options].headers.get("Allow") or ""
    )
    assert finals[message].status_code == 200
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_notify_and_generic_request_from_the_callee_side() -> None:
    """notify() and request(method) work on a ServerInviteDialog too; the peer gets
    them in the dialog with rising CSeqs (§12.2.1.1). A NOTIFY matching none of the
    peer's subscriptions gets 481 (RFC 6665 §4.1.3), which ends no dialog (RFC 5057).
    An extension method reaches the application when configured in ``allow``; one
    that is not gets 501 (§8.2.1)."""
    config = UAConfig(answer_timeout=2.0, allow=(*UAConfig().allow, "PING"))
    net = Net(1)
    alice = add_ua(net, "alice", "192.0.2.1", config=config)
    callee = Callee()
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee, config=config)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=2.0)
    incoming = callee.calls[0]
    notify = net.call(
        bob,
        lambda now: incoming.notify(
            body=b"SIP/2.0 200 OK\r\n",
            content_type="message/sipfrag",
            headers=[("Event", "refer"), ("Subscription-State", "terminated;reason=noresource")],
            now=now,
        ),
    )
    net.drive(until=2.5)
    ping = net.call(bob, lambda now: incoming.request("PING", headers=[("X-Probe", "1")], now=now))
    net.drive(until=2.7)
    frob = net.call(bob, lambda now: incoming.request("FROBNICATE", now=now))
    net.drive(until=3.0)
    got = {e.request.method: e for e in alice.of_type(InDialogRequest)}
    assert set(got) == {"PING"}
    sent = {w.first_line.split()[0]: w.data for w in net.wire if w.src == "bob"}
    assert b"\r\nEvent: refer\r\n" in sent["NOTIFY"]
    assert got["PING"].request.headers.get("X-Probe") == "1"
    assert got["PING"].dialog_id == call.id
    net.call(alice, lambda now: ua(alice).respond(got["PING"].txn, 202, now=now))  # type: ignore[arg-type]
    net.drive(until=6.0)
    finals = {
        e.txn: e.response for e in bob.of_type(ResponseReceived) if e.response.status_code >= 200
    }
    assert finals[notify].status_code == 481  # alice has no such subscription
    assert finals[ping].status_code == 202
    assert finals[frob].status_code == 501
    net.call(bob, lambda now: incoming.bye(now=now))
    net.drive()
    assert call.terminated_reason is TerminatedReason.UAS_BYE
    assert_clean(alice, bob)


def test_out_of_dialog_message_and_options() -> None:
    net = Net(5)
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2")
    from sipsans import Target, make_request

    req = make_request(
        "MESSAGE",
        "sip:bob@192.0.2.2",
        from_="<sip:alice@192.0.2.1>;tag=x",
        to="<sip:bob@192.0.2.2>",
        call_id="m1",
        cseq=1,
        body=b"hi",
        content_type="text/plain",
    )
    net.call(
        alice,
        lambda now: ua(alice).endpoint.send_request(
            req, target=Target("UDP", "192.0.2.2", 5060), now=now
        ),
    )
    opt = make_request(
        "OPTIONS",
        "sip:bob@192.0.2.2",
        from_="<sip:alice@192.0.2.1>;tag=y",
        to="<sip:bob@192.0.2.2>",
        call_id="o1",
        cseq=1,
    )
    net.call(
        alice,
        lambda now: ua(alice).endpoint.send_request(
            opt, target=Target("UDP", "192.0.2.2", 5060), now=now
        ),
    )
    net.drive()
    assert [e.request.body for e in bob.of_type(MessageReceived)] == [b"hi"]
    assert [e.request.method for e in bob.of_type(RequestReceived)] == ["OPTIONS"]
    finals = sorted(e.response.status_code for e in alice.of_type(ResponseReceived))
    assert finals == [200, 200]
    assert_clean(alice, bob)


def test_reinvite_and_update_refresh_session_and_target() -> None:
    net, alice, bob, callee, call = _call(callee=Callee(answer_in_dialog=True))
    net.drive(until=2.0)
    server = callee.calls[0]
    t1 = net.call(alice, lambda now: call.reinvite(body=SDP2, now=now))
    net.drive(until=4.0)
    resp = [e.response for e in alice.of_type(ResponseReceived) if e.txn == t1]
    assert resp[-1].status_code == 200 and resp[-1].body == SDP2
    acks = [w for w in net.wire if w.first_line.startswith("ACK")]
    assert len(acks) == 2  # initial INVITE and re-INVITE
    # UPDATE from the callee with a new Contact: Alice's remote target follows (§12.2.2).
    net.call(bob, lambda now: server.update(body=SDP, headers=(), now=now))
    net.drive(until=6.0)
    reqs = [e.request.method for e in alice.of_type(InDialogRequest)]
    assert reqs == ["UPDATE"]
    assert call.state is DialogState.CONFIRMED and server.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_unanswered_reinvite_gets_488_and_dialog_survives() -> None:
    net, alice, bob, _callee, call = _call(config=UAConfig(answer_timeout=1.0))
    net.drive(until=2.0)
    t = net.call(alice, lambda now: call.reinvite(body=SDP2, now=now))
    net.drive(until=5.0)
    finals = [
        e.response.status_code
        for e in alice.of_type(ResponseReceived)
        if e.txn == t and e.response.status_code >= 200
    ]
    assert finals == [488]
    assert call.state is DialogState.CONFIRMED
    net.call(alice, lambda now: call.hangup(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_glare_on_both_sides_resolves() -> None:
    """§14.1: the two re-INVITEs cross on the wire, so each side gets 491, backs off and
    retries. Each side's handle reports what the user asked for: the retry's 200 (the
    491 is the UA's business, like a 401 it answers with credentials)."""
    net, alice, bob, callee, call = _call(seed=7, latency=(0.02, 0.02))
    net.drive(until=2.0)
    server = callee.calls[0]

    def accept_all(node, event):  # type: ignore[no-untyped-def]
        if isinstance(event, InDialogRequest) and event.txn is not None:
            ua(node).respond(
                event.txn, 200, body=SDP2 if event.request.body else b"", now=node.net.now
            )

    alice.handler = accept_all
    bob.handler = accept_all
    t_alice = call.reinvite(body=SDP2, now=net.now)
    t_bob = server.reinvite(body=SDP2, now=net.now)
    net.pump(alice)
    net.pump(bob)
    net.drive(until=20.0)
    a = [e.response.status_code for e in alice.of_type(ResponseReceived) if e.txn == t_alice]
    b = [e.response.status_code for e in bob.of_type(ResponseReceived) if e.txn == t_bob]
    assert a == [200] and b == [200]
    answers = [w.first_line for w in net.wire if w.first_line.startswith("SIP/2.0 491")]
    assert len(answers) == 2  # one glare answer each way
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert_clean(alice, bob)


def test_unknown_dialog_method_and_require() -> None:
    from txhelpers import raw

    net = Net(6)
    bob = add_ua(net, "bob", "192.0.2.2")
    peer = net.add("peer", "192.0.2.1")
    cases = [
        (raw("BYE", to_tag="nope", branch="z9hG4bK1"), "481"),
        (raw("FOO", branch="z9hG4bK2"), "501"),
        (
            raw("SUBSCRIBE", branch="z9hG4bK3", extra=("Event: x", "Contact: <sip:a@192.0.2.1>")),
            "405",
        ),
        # 100rel and timer are supported (tests/ua/test_ua_prack.py covers them disabled).
        (raw("OPTIONS", branch="z9hG4bK4", extra=("Require: timer, foo",)), "420"),
        (raw("INFO", branch="z9hG4bK5"), "481"),
    ]
    for data, _ in cases:
        ua(bob).receive_datagram(data, remote=peer.address, now=net.now)
        net.pump(bob)
    net.drive()
    statuses = [w.first_line.split()[1] for w in net.wire if w.src == "bob"]
    assert statuses == [want for _, want in cases]
    allow = next(w.data for w in net.wire if b" 405 " in w.data.split(b"\r\n")[0])
    assert b"Allow: INVITE" in allow
    unsupported = next(w.data for w in net.wire if b" 420 " in w.data.split(b"\r\n")[0])
    assert b"Unsupported: foo\r\n" in unsupported  # only the tag we lack
    assert_clean(bob)
