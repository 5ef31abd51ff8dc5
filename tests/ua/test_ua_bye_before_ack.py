"""§15: a callee may not send BYE before its 2xx is ACKed, so a ``bye()`` asked for then
waits for the ACK, or for the ACK's timeout (64*T1, §13.3.1.4). ``bye()`` still returns
the BYE's handle at once, and the BYE's response, timeout and end arrive later with that
same handle (DESIGN.md §3: every command returns the ClientTxn its outcome carries).

One UA at 192.0.2.10 is driven by hand, in virtual time, with the raw messages of a
caller at 192.0.2.1.
"""

from __future__ import annotations

from uaharness import SDP, Harness

from sipsans import (
    ClientTxn,
    DialogState,
    IncomingCall,
    ResponseReceived,
    ServerInviteDialog,
    TerminatedReason,
    TransactionTerminated,
    TransactionTimedOut,
    make_response,
)

T1 = 0.5


def caller_request(method: str, *, to_tag: str = "", cseq: int = 1, branch: str) -> bytes:
    lines = [
        f"{method} sip:alice@192.0.2.10 SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}",
        "Max-Forwards: 70",
        "From: <sip:bob@192.0.2.1>;tag=caller",
        "To: <sip:alice@192.0.2.10>" + (f";tag={to_tag}" if to_tag else ""),
        "Call-ID: held-bye",
        f"CSeq: {cseq} {method}",
        "Contact: <sip:bob@192.0.2.1:5060>",
    ]
    body = SDP if method == "INVITE" else b""
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answered_call(h: Harness) -> tuple[ServerInviteDialog, str]:
    """An incoming call the application accepted; the caller has not ACKed yet."""
    h.receive(caller_request("INVITE", branch="z9hG4bKinv"))
    call = next(e for e in h.events if isinstance(e, IncomingCall))
    call.dialog.accept(body=SDP, now=h.now)
    h.pump()
    assert call.dialog.state is DialogState.WAIT_ACK
    return call.dialog, call.dialog.id.local_tag


def test_bye_before_the_ack_returns_the_handle_its_response_carries() -> None:
    h = Harness()
    dialog, tag = answered_call(h)
    handle = dialog.bye(reason="SIP;cause=200", now=0.1)
    assert isinstance(handle, ClientTxn)
    assert dialog.hangup(now=0.1) == handle  # asked again: the same BYE, the same handle
    h.pump()
    assert not h.requests("BYE")  # §15: not before the ACK
    h.now = 0.2
    h.receive(caller_request("ACK", to_tag=tag, branch="z9hG4bKack"))
    (bye,) = h.requests("BYE")
    assert bye.headers.get("Reason") == "SIP;cause=200"
    assert dialog.terminated_reason is TerminatedReason.UAS_BYE
    h.receive(bytes(make_response(bye, 200)))
    (answer,) = h.outcome(handle)
    assert isinstance(answer, ResponseReceived) and answer.response.status_code == 200
    assert h.settle() == {}
    assert h.outcome(handle) == [answer, TransactionTerminated(txn=handle)]
    assert len(h.requests("BYE")) == 1


def test_a_held_bye_whose_ack_never_comes_goes_at_the_ack_timeout() -> None:
    """§13.3.1.4: no ACK within 64*T1 ends the dialog with a BYE; it is the BYE the
    application asked for (its headers, its handle)."""
    h = Harness()
    dialog, _ = answered_call(h)
    handle = dialog.bye(headers=[("X-Why", "done")], now=0.0)
    h.advance(64 * T1 - 0.1)
    assert not h.requests("BYE")
    assert dialog.state is DialogState.WAIT_ACK
    h.advance(64 * T1 + 0.1)
    (bye,) = h.requests("BYE")
    assert bye.headers.get("X-Why") == "done"
    assert dialog.terminated_reason is TerminatedReason.TIMEOUT
    h.receive(bytes(make_response(bye, 200)))
    (answer,) = h.outcome(handle)
    assert isinstance(answer, ResponseReceived) and answer.response.status_code == 200
    assert h.settle() == {}


def test_a_held_bye_that_is_never_answered_times_out_with_its_handle() -> None:
    """Neither the ACK nor an answer to the BYE: the BYE's Timer F reaches the
    application under the handle bye() returned, and nothing is left."""
    h = Harness()
    dialog, _ = answered_call(h)
    handle = dialog.bye(now=0.0)
    assert h.settle() == {}
    assert len(h.requests("BYE")) >= 1
    outcome = h.outcome(handle)
    assert [type(e) for e in outcome] == [TransactionTimedOut, TransactionTerminated]
    assert dialog.state is DialogState.TERMINATED
