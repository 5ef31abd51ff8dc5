"""Basic calls between two UserAgents on the virtual network (RFC 3261 §12-§15)."""

from __future__ import annotations

from netsim import Net
from uasim import SDP, Callee, add_ua, assert_clean, terminated, ua

from sipsans import (
    DialogState,
    DialogStateChanged,
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

    doc = (Path(__file__).resolve().parents[1] / "docs" / "dialogs.md").read_text()
    assert render_table() in doc, "docs/dialogs.md is stale: regenerate the table block"
