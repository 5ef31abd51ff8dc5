"""UserAgent findings of fuzz/fuzz_ua.py: misuse raises LocalProtocolError, peers'
misbehaviour never raises, and every call ends so that ``ua.stats()`` empties.

Each test drives one UA by hand with the raw messages of a peer at 192.0.2.1, the way
the harness does (its reproducers are in fuzz/corpus/ua/).
"""

from __future__ import annotations

import random

import pytest
from uaharness import PEER, SDP, Harness

from sipsans import (
    CancelReceived,
    ClientInviteDialog,
    ClientTxn,
    Credentials,
    DialogState,
    DialogTerminated,
    Endpoint,
    EndpointConfig,
    IncomingCall,
    InDialogRequest,
    LocalProtocolError,
    ReferReceived,
    Request,
    Response,
    ResponseReceived,
    Target,
    TerminatedReason,
    TransactionTerminated,
    Transmit,
    UserAgent,
    make_response,
    parse_message,
)


def peer_request(method: str, *, call_id: str, from_tag: str, to_tag: str = "", cseq: int = 1,
                 branch: str = "z9hG4bKpeer1", body: bytes = b"") -> bytes:  # fmt: skip
    lines = [
        f"{method} sip:alice@192.0.2.10 SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}",
        "Max-Forwards: 70",
        f"From: <sip:bob@192.0.2.1>;tag={from_tag}",
        "To: <sip:alice@192.0.2.10>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        "Contact: <sip:bob@192.0.2.1:5060>",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def confirmed_incoming_call(h: Harness) -> IncomingCall:
    """An INVITE from the peer, accepted by the app and ACKed by the peer."""
    h.receive(peer_request("INVITE", call_id="c1", from_tag="f1", body=SDP))
    call = next(e for e in h.events if isinstance(e, IncomingCall))
    call.dialog.accept(body=SDP, now=h.now)
    h.pump()
    ok = h.last("SIP/2.0 200")
    assert isinstance(ok, Response)
    local_tag = ok.to.tag or ""
    h.receive(
        peer_request("ACK", call_id="c1", from_tag="f1", to_tag=local_tag, branch="z9hG4bKack")
    )
    assert call.dialog.state is DialogState.CONFIRMED
    return call


def test_an_invalid_target_is_misuse() -> None:
    """DESIGN.md §4: what the caller passes in raises LocalProtocolError, not the parser's
    RemoteProtocolError."""
    h = Harness(seeds=(1, 2))
    for bad in ("not a uri", "<sip:>", "sip:bob@[::1"):
        with pytest.raises(LocalProtocolError):
            h.ua.invite(bad, now=0.0)
    assert h.settle() == {}


def test_bye_on_an_early_uac_dialog_ends_the_call() -> None:
    """§15: a callee MUST NOT BYE an early dialog. When one does, the dialog ends and, with
    no other fork left, the INVITE is CANCELled (§9.1) so that nothing lingers."""
    h = Harness(seeds=(1, 2))
    dialog = h.ua.invite("sip:bob@192.0.2.1", now=0.0)
    h.pump()
    invite = h.last("INVITE")
    assert isinstance(invite, Request)
    h.receive(
        bytes(make_response(invite, 180, to_tag="t1", headers=[("Contact", "<sip:b@192.0.2.1>")]))
    )
    assert dialog.state is DialogState.EARLY
    local_tag = invite.from_.tag or ""
    h.receive(peer_request("BYE", call_id=invite.call_id, from_tag="t1", to_tag=local_tag))
    assert dialog.terminated_reason is TerminatedReason.UAS_BYE  # the callee's BYE ended it
    assert isinstance(h.last("SIP/2.0 200"), Response)  # the BYE is answered (§15.1.2)
    assert isinstance(h.last("CANCEL"), Request)
    assert h.settle() == {}  # the peer never answers: the INVITE still ends (64*T1)


def test_a_bye_held_for_the_ack_is_dropped_when_the_dialog_ends_otherwise() -> None:
    """§15: the callee's BYE waits for the ACK of its 2xx. If the dialog ends before (here
    an in-dialog OPTIONS times out, §12.2.1.2), the held BYE goes with it."""
    h = Harness(seeds=(1, 2))
    h.receive(peer_request("INVITE", call_id="c1", from_tag="f1", body=SDP))
    call = next(e for e in h.events if isinstance(e, IncomingCall))
    call.dialog.accept(body=SDP, now=0.0)
    call.dialog.options(now=0.0)
    handle = call.dialog.bye(now=0.0)  # held until the ACK
    assert isinstance(handle, ClientTxn)
    assert h.settle() == {}
    assert call.dialog.state is DialogState.TERMINATED
    assert not any(bytes(m).startswith(b"BYE ") for m in h.sent)  # never sent...
    ends = [e for e in h.events if isinstance(e, TransactionTerminated) and e.txn == handle]
    assert len(ends) == 1  # ...and its handle still ends, without a response
    assert not any(isinstance(e, ResponseReceived) and e.txn == handle for e in h.events)


def test_a_cancelled_reinvite_is_not_answered_again() -> None:
    """§9.2: a CANCEL of a pending re-INVITE gets 200 and the re-INVITE 487; the dialog
    stays, the app learns of it, and the UA's default answer must not fire afterwards."""
    h = Harness(seeds=(1, 2))
    call = confirmed_incoming_call(h)
    local_tag = call.dialog.id.local_tag
    reinvite = peer_request(
        "INVITE",
        call_id="c1",
        from_tag="f1",
        to_tag=local_tag,
        cseq=2,
        branch="z9hG4bKre",
        body=SDP,
    )
    h.receive(reinvite)
    request = next(e for e in h.events if isinstance(e, InDialogRequest))
    cancel = peer_request(
        "CANCEL", call_id="c1", from_tag="f1", to_tag=local_tag, cseq=2, branch="z9hG4bKre"
    )
    h.receive(cancel)
    assert any(isinstance(e, CancelReceived) for e in h.events)
    assert isinstance(h.last("SIP/2.0 487"), Response)
    with pytest.raises(LocalProtocolError):
        h.ua.respond(request.txn, 200, now=h.now)  # type: ignore[arg-type]
    h.now += 10.0  # past UAConfig.answer_timeout: no second answer, nothing raised
    h.ua.handle_timer(now=h.now)
    h.pump()
    assert call.dialog.state is DialogState.CONFIRMED
    call.dialog.bye(now=h.now)
    h.pump()
    assert h.settle() == {}
    assert any(isinstance(e, DialogTerminated) for e in h.events)


def test_an_early_dialog_that_fails_still_answers_its_invite() -> None:
    """§12.2.1.2 ends a dialog whose in-dialog request times out; when that dialog is an
    early one of ours as UAS, its INVITE still needs a final response (§13.3.1.3)."""
    h = Harness(seeds=(1, 2))
    h.receive(peer_request("INVITE", call_id="c1", from_tag="f1", body=SDP))
    call = next(e for e in h.events if isinstance(e, IncomingCall))
    call.dialog.ringing(now=0.0)
    call.dialog.options(now=0.0)  # the peer never answers it
    assert h.settle() == {}
    assert call.dialog.terminated_reason is TerminatedReason.TIMEOUT
    final = h.last("SIP/2.0 408")
    assert isinstance(final, Response) and final.cseq.method == "INVITE"


def test_a_late_wake_up_with_a_register_in_flight_does_not_spin() -> None:
    """A registration whose refresh and expiry both passed while the UA slept sends a new
    REGISTER; with it in flight, no timer of the registration is due (its answer or
    timeout moves it on), so handle_timer returns instead of firing the same deadline
    forever."""
    h = Harness(seeds=(1, 2))
    h.ua.register("sip:192.0.2.1", expires=30, target=Target("UDP", *PEER), now=0.0)
    h.pump()
    register = h.last("REGISTER")
    assert isinstance(register, Request)
    contact = register.headers.get("contact")
    h.receive(bytes(make_response(register, 200, headers=[("Contact", f"{contact};expires=30")])))
    h.now = 64.0  # past the refresh and the expiry at once
    h.ua.handle_timer(now=h.now)
    h.pump()
    again = h.last("REGISTER")
    assert isinstance(again, Request) and again.cseq.seq == register.cseq.seq + 1
    deadline = h.ua.get_next_timer()
    assert deadline is not None and deadline > h.now


def test_a_2xx_whose_contact_is_no_sip_uri_is_acked_then_byed() -> None:
    """A 2xx whose Contact is a tel: URI names no remote target a request can go to
    (§8.1.1.8, §12.1.2). That is the peer's error, not the application's: the UA must not
    raise out of receive_datagram. It ACKs the 2xx toward the next hop (so the peer stops
    retransmitting it) and ends the dialog with BYE and a Reason saying why."""
    h = Harness()
    dialog = h.ua.invite("sip:bob@192.0.2.1", body=SDP, now=0.0)
    h.pump()
    invite = h.requests("INVITE")[0]
    ok = make_response(
        invite, 200, to_tag="b1", headers=[("Contact", "<tel:+15551234567>")], body=SDP,
        content_type="application/sdp",
    )  # fmt: skip
    h.receive(bytes(ok))
    (ack,) = h.requests("ACK")
    (bye,) = h.requests("BYE")
    assert str(ack.uri) == str(bye.uri) == "sip:bob@192.0.2.1"  # the next hop, not tel:
    assert "Contact is not a SIP or SIPS URI" in (bye.headers.get("Reason") or "")
    assert dialog.state is DialogState.TERMINATED
    assert dialog.terminated_reason is TerminatedReason.UAS_OTHER


def test_an_invite_whose_contact_is_no_sip_uri_gets_400() -> None:
    """§8.1.1.8: a request that can create a dialog MUST carry exactly one SIP or SIPS
    URI in Contact; a callee cannot send a BYE to tel:+1555... ."""
    h = Harness()
    invite = peer_request("INVITE", call_id="t1", from_tag="f1", body=SDP).replace(
        b"Contact: <sip:bob@192.0.2.1:5060>", b"Contact: <tel:+15551234567>"
    )
    h.receive(invite)
    assert not [e for e in h.events if isinstance(e, IncomingCall)]
    assert bytes(h.last("SIP/2.0")).startswith(b"SIP/2.0 400")


def test_a_2xx_without_contact_to_a_tel_uri_is_acked_to_the_first_hop_and_ends_the_call() -> None:
    """A call to a tel: URI through a proxy (a Route header), answered by a 2xx without
    the Contact §12.1.2 requires: the dialog's remote target is the tel: URI, which
    names no host. The UA must not raise out of receive_datagram: it ACKs toward the
    INVITE's first hop and ends the dialog (no BYE can be routed). Found by fuzz_ua."""
    h = Harness()
    route = ("Route", "<sip:192.0.2.1:5060;lr>")
    dialog = h.ua.invite("tel:+15551234", headers=[route], body=SDP, now=0.0)
    h.pump()
    invite = h.requests("INVITE")[0]
    h.receive(
        bytes(make_response(invite, 200, to_tag="b1", body=SDP, content_type="application/sdp"))
    )
    (ack,) = h.requests("ACK")
    assert str(ack.uri) == "tel:+15551234"
    assert not h.requests("BYE")
    assert dialog.state is DialogState.TERMINATED
    assert dialog.terminated_reason is TerminatedReason.UAS_OTHER


def test_a_reinvite_challenged_after_its_dialog_ended_is_not_retried() -> None:
    """Found by fuzz/fuzz_ua.py (fuzz/corpus/ua/uas-reinvite-407-after-bye): our
    re-INVITE is challenged (407) after the dialog ended (our BYE). The UA answered the
    challenge with a new re-INVITE on the dead dialog; the peer's 100 Trying left that
    INVITE client transaction in Proceeding, which has no timer (§17.1.1.2), so nothing
    ever ended it. A re-INVITE is retried only while its dialog is confirmed."""
    h = Harness(seeds=(1, 2))
    h.ua = UserAgent(
        Endpoint(EndpointConfig(advertised_host="192.0.2.10"), rng=random.Random(1)),
        identity="sip:alice@192.0.2.10",
        credentials=Credentials(username="alice", password="secret"),
        rng=random.Random(2),
    )
    call = confirmed_incoming_call(h)
    handle = call.dialog.reinvite(body=SDP, now=h.now)
    call.dialog.bye(now=h.now)
    h.pump()
    reinvite = h.requests("INVITE")[-1]
    challenge = make_response(
        reinvite, 407, headers=[("Proxy-Authenticate", 'Digest realm="r", nonce="n1"')]
    )
    h.receive(bytes(challenge))
    assert [r.cseq.seq for r in h.requests("INVITE")] == [reinvite.cseq.seq]  # no retry
    assert [
        e.response.status_code for e in h.outcome(handle) if isinstance(e, ResponseReceived)
    ] == [407]
    h.receive(bytes(make_response(h.requests("BYE")[0], 200)))
    assert h.settle() == {}


def _with_credentials(h: Harness) -> None:
    h.ua = UserAgent(
        Endpoint(EndpointConfig(advertised_host="192.0.2.10"), rng=random.Random(1)),
        identity="sip:alice@192.0.2.10",
        credentials=Credentials(username="alice", password="secret"),
        rng=random.Random(2),
    )


def test_a_refer_challenged_after_its_subscription_ended_leaves_nothing_behind() -> None:
    """Found by fuzz/fuzz_ua.py (fuzz/corpus/ua/uas-refer-407-after-final-notify): the
    peer's final NOTIFY for our REFER (terminated) comes before its 407 to the REFER. The
    UA retried the REFER and re-attached the subscription, already forgotten, to the
    dialog under the new CSeq: the dialog stayed in the table for ever after its BYE."""
    h = Harness(seeds=(1, 2))
    _with_credentials(h)
    call = confirmed_incoming_call(h)
    local_tag = call.dialog.id.local_tag
    call.dialog.refer("sip:carol@192.0.2.3", now=h.now)
    h.pump()
    refer = h.requests("REFER")[-1]
    body = b"SIP/2.0 200 OK\r\n"
    notify = (
        "NOTIFY sip:alice@192.0.2.10 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnotify1\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:bob@192.0.2.1>;tag=f1\r\n"
        f"To: <sip:alice@192.0.2.10>;tag={local_tag}\r\n"
        "Call-ID: c1\r\n"
        "CSeq: 2 NOTIFY\r\n"
        "Contact: <sip:bob@192.0.2.1:5060>\r\n"
        f"Event: refer;id={refer.cseq.seq}\r\n"
        "Subscription-State: terminated;reason=noresource\r\n"
        "Content-Type: message/sipfrag\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    h.receive(notify)
    challenge = make_response(
        refer, 407, to_tag=local_tag,
        headers=[("Proxy-Authenticate", 'Digest realm="r", nonce="n1"')],
    )  # fmt: skip
    h.receive(bytes(challenge))
    call.dialog.bye(now=h.now)
    h.pump()
    for request in (h.requests("REFER")[-1], h.requests("BYE")[-1]):
        h.receive(bytes(make_response(request, 200, to_tag=local_tag)))
    assert h.settle() == {}


def _tel_call_through_a_proxy(h: Harness) -> tuple[ClientInviteDialog, Request, list[Transmit]]:
    """A call to a tel: URI through an outbound proxy at the peer's address (a Route):
    the dialog's remote target is tel: until a 2xx gives it a SIP Contact."""
    dialog = h.ua.invite(
        "tel:+15551234", headers=[("Route", "<sip:192.0.2.1;lr>")], body=SDP, now=0.0
    )
    transmits = h.ua.transmits()
    invite = parse_message(transmits[0].data)
    assert isinstance(invite, Request) and str(invite.uri) == "tel:+15551234"
    return dialog, invite, transmits


def _sent(h: Harness, method: str) -> list[Transmit]:
    return [t for t in h.ua.transmits() if t.data.startswith(method.encode() + b" ")]


def test_an_early_dialog_of_a_tel_call_sends_its_requests_through_the_proxy() -> None:
    """Found by fuzz/fuzz_ua.py (fuzz/corpus/ua/uac-tel-early-refer): a 180 without a
    SIP Contact left the early dialog of a call to tel: with the tel: Request-URI as
    remote target; the peer's REFER in it was accepted, and the NOTIFY that must follow
    (RFC 3515 §2.4.4) could go nowhere: the subscription stayed for ever. Requests
    within such a dialog follow the INVITE to the proxy until a SIP Contact comes; then
    they go to that Contact."""
    h = Harness()
    dialog, invite, sent = _tel_call_through_a_proxy(h)
    ringing = make_response(invite, 180, to_tag="b1")  # no Contact
    h.ua.receive_datagram(bytes(ringing), remote=PEER, now=0.1)
    h.ua.transmits()
    local_tag = invite.from_.tag or ""
    refer = (
        f"REFER sip:alice@192.0.2.10 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKrefer1\r\n"
        "Max-Forwards: 70\r\n"
        "From: <tel:+15551234>;tag=b1\r\n"
        f"To: <sip:alice@192.0.2.10>;tag={local_tag}\r\n"
        f"Call-ID: {invite.call_id}\r\n"
        "CSeq: 1 REFER\r\n"
        "Contact: <sip:bob@192.0.2.1:5060>\r\n"
        "Refer-To: <sip:carol@192.0.2.3>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    h.ua.receive_datagram(refer, remote=PEER, now=0.2)
    (referred,) = [e for e in h.ua.events() if isinstance(e, ReferReceived)]
    h.ua.respond(referred.txn, 202, now=0.2)
    notify = [t for t in h.ua.transmits() if t.data.startswith(b"NOTIFY ")]
    assert [t.remote for t in notify] == [sent[0].remote]  # the proxy, where the INVITE went
    ok = make_response(
        invite, 200, to_tag="b1", body=SDP, content_type="application/sdp",
        headers=[("Contact", "<sip:bob@192.0.2.5>")],
    )  # fmt: skip
    h.ua.receive_datagram(bytes(ok), remote=PEER, now=0.3)
    assert [t.remote for t in _sent(h, "ACK")] == [("192.0.2.5", 5060)]  # now the Contact
    assert dialog.state is DialogState.CONFIRMED


@pytest.mark.parametrize(
    ("status", "header"),
    [
        (401, ("WWW-Authenticate", 'Digest realm="r", nonce="n0"')),
        (407, ("Proxy-Authenticate", 'Digest realm="r", nonce="n0"')),
        (422, ("Min-SE", "3600")),
    ],
)
def test_a_call_cancelled_before_its_challenge_is_not_sent_again(
    status: int, header: tuple[str, str]
) -> None:
    """Found by fuzz/fuzz_ua.py (fuzz/corpus/ua/uac-cancelled-then-challenged): the caller
    CANCELs a ringing call (§9.1) and the INVITE's final response is a 401 (or a 407, a
    422). That is the call's end: the UA sent the INVITE again with credentials, with no
    CANCEL to follow it, and the new INVITE, once ringing, stayed in the table for ever."""
    h = Harness(seeds=(1, 2))
    _with_credentials(h)
    dialog = h.ua.invite("sip:bob@192.0.2.1", body=SDP, now=0.0)
    h.pump()
    invite = h.last("INVITE")
    assert isinstance(invite, Request)
    h.receive(bytes(make_response(invite, 180, to_tag="t1")))
    dialog.hangup(now=0.0)
    h.pump()
    assert isinstance(h.last("CANCEL"), Request)
    h.receive(bytes(make_response(invite, status, to_tag="t1", headers=[header])))
    assert len(h.requests("INVITE")) == 1  # not sent again
    assert dialog.state is DialogState.TERMINATED
    assert h.settle() == {}
