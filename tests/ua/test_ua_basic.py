"""Basic calls between two UserAgents on the virtual network (RFC 3261 §12-§15)."""

from __future__ import annotations

import pytest
from netsim import Net
from uasim import SDP, Callee, add_ua, assert_clean, terminated, ua

from sipsans import (
    DialogState,
    DialogStateChanged,
    LocalProtocolError,
    MessageReceived,
    ResponseReceived,
    TerminatedReason,
)


def test_basic_call_and_bye_from_caller() -> None:
    net = Net(1)
    alice = add_ua(net, "alice", "192.0.2.1")
    callee = Callee()
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=2.0)
    assert call.state is DialogState.CONFIRMED
    server = callee.calls[0]
    assert server.state is DialogState.CONFIRMED
    assert call.id.call_id == server.id.call_id
    assert call.id.local_tag == server.id.remote_tag and call.id.remote_tag == server.id.local_tag
    states = [e.state for e in alice.of_type(DialogStateChanged)]
    # Bob rings at once, so no 100 Trying is sent (§17.2.1: only after 200 ms).
    assert states == [DialogState.EARLY, DialogState.CONFIRMED]
    bob_states = [e.state for e in bob.of_type(DialogStateChanged)]
    assert bob_states == [DialogState.EARLY, DialogState.WAIT_ACK, DialogState.CONFIRMED]
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    final_state: DialogState = call.state  # re-read after the BYE (mypy keeps the narrowing)
    assert final_state is DialogState.TERMINATED
    assert call.terminated_reason is TerminatedReason.UAC_BYE
    assert server.terminated_reason is TerminatedReason.UAC_BYE
    assert [e.reason for e in terminated(bob)] == [TerminatedReason.UAC_BYE]
    assert_clean(alice, bob)


def test_bye_from_callee() -> None:
    net = Net(2)
    alice = add_ua(net, "alice", "192.0.2.1")
    callee = Callee()
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=2.0)
    server = callee.calls[0]
    txn = net.call(bob, lambda now: server.bye(reason="Q.850;cause=16", now=now))
    net.drive()
    assert call.terminated_reason is TerminatedReason.UAS_BYE
    assert server.terminated_reason is TerminatedReason.UAS_BYE
    finals = [e for e in bob.of_type(ResponseReceived) if e.txn == txn]
    assert [e.response.status_code for e in finals] == [200]
    assert any(
        b"Reason: Q.850;cause=16" in w.data for w in net.wire if w.first_line.startswith("BYE")
    )
    assert_clean(alice, bob)


def test_dialogs_doc_shows_the_current_table() -> None:
    from pathlib import Path

    from sipsans.dialog.state import render_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "dialogs.md").read_text()
    assert render_table() in doc, "docs/dialogs.md is stale: regenerate the table block"


def test_options_and_message_outside_a_dialog() -> None:
    """OPTIONS (§11) and MESSAGE (RFC 3428) need no dialog: ``ua.options`` and
    ``ua.message`` send them and report the answer under the handle they return."""
    net = Net(3)
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2")
    probe = net.call(alice, lambda now: ua(alice).options("sip:bob@192.0.2.2", now=now))
    text = net.call(
        alice, lambda now: ua(alice).message("sip:bob@192.0.2.2", body=b"hello", now=now)
    )
    net.drive(until=1.0)
    (incoming,) = bob.of_type(MessageReceived)
    assert incoming.request.body == b"hello"
    assert incoming.request.content_type == "text/plain"
    net.call(bob, lambda now: ua(bob).respond(incoming.txn, 200, now=now))
    net.drive()  # OPTIONS: the UA answers 200 itself after answer_timeout
    answers = {
        txn: [e.response for e in alice.of_type(ResponseReceived) if e.txn == txn]
        for txn in (probe, text)
    }
    (ok,) = answers[probe]
    assert ok.status_code == 200 and "MESSAGE" in (ok.headers.get("Allow") or "")
    assert [r.status_code for r in answers[text]] == [200]
    assert_clean(alice, bob)


def test_a_body_needs_a_type_unless_it_says_what_it_is() -> None:
    """§20.15: a body goes with its Content-Type. A session description given to an
    INVITE is taken for SDP and a MESSAGE's text for text/plain; any other body without
    content_type= is the caller's mistake, not something to label application/sdp."""
    net = Net(3)
    alice = add_ua(net, "alice", "192.0.2.1")
    add_ua(net, "bob", "192.0.2.2", handler=Callee(ring=0.0))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=1.0)
    (invite,) = [w for w in net.wire if w.first_line.startswith("INVITE")]
    assert b"Content-Type: application/sdp" in invite.data
    with pytest.raises(LocalProtocolError, match="content_type="):
        call.info(body=b"Signal=1\r\nDuration=100\r\n", now=net.now)
    txn = call.info(body=b"Signal=1", content_type="application/dtmf-relay", now=net.now)
    assert txn is not None
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()


def test_a_dialog_that_just_ended_can_still_be_looked_up() -> None:
    """``ua.dialog(id)`` while handling DialogTerminated: the dialog is gone from the
    UA's tables, but a view of it still reads its last state and why it ended."""
    net = Net(3)
    alice = add_ua(net, "alice", "192.0.2.1")
    add_ua(net, "bob", "192.0.2.2", handler=Callee(ring=0.0))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=1.0)
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    (ended,) = terminated(alice)
    view = ua(alice).dialog(ended.dialog_id)
    assert view.state is DialogState.TERMINATED
    assert view.terminated_reason is TerminatedReason.UAC_BYE
    assert ua(alice).stats()["dialogs"] == 0


def test_advertise_changes_via_and_contact_of_what_follows() -> None:
    """An adapter binds its socket after the core exists (port 0): ``ua.advertise`` makes
    the core say the address really bound, in the Via sent-by and the Contact, and take
    the responses sent there (§18.1.2 discards responses for any other sent-by)."""
    from sipsans import Endpoint, Request, UserAgent, make_response, parse_message

    agent = UserAgent(Endpoint(), identity="sip:alice@example.com")
    assert agent.contact == "<sip:alice@127.0.0.1:5060>"
    agent.advertise("192.0.2.9", 5070)
    assert agent.contact == "<sip:alice@192.0.2.9:5070>"
    call = agent.invite("sip:bob@192.0.2.2", body=SDP, now=0.0)
    (sent,) = agent.transmits()
    invite = parse_message(sent.data)
    assert isinstance(invite, Request)
    assert (invite.top_via.host, invite.top_via.port) == ("192.0.2.9", 5070)
    assert invite.headers.get("Contact") == "<sip:alice@192.0.2.9:5070>"
    ringing = make_response(invite, 180, to_tag="b", headers=[("Contact", "<sip:b@192.0.2.2>")])
    agent.receive_datagram(bytes(ringing), remote=("192.0.2.2", 5060), now=0.1)
    assert call.state is DialogState.EARLY
