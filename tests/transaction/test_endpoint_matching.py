"""Matching requests and responses to transactions (RFC 3261 §17.1.3, §17.2.3, §9, §8.2.2.2)."""

from __future__ import annotations

import random

import pytest
from txhelpers import first_line, raw, request

from sipsans import (
    CancelReceived,
    ClientTxn,
    Endpoint,
    EndpointConfig,
    LocalProtocolError,
    RequestReceived,
    Response,
    ResponseReceived,
    ServerTxn,
    Target,
    TimerKind,
    TransactionTerminated,
    TransactionTimedOut,
    make_response,
    parse_message,
)

PEER = ("192.0.2.1", 5060)
ME = ("192.0.2.2", 5060)


def uas(**config: object) -> Endpoint:
    cfg = EndpointConfig(advertised_host=ME[0], **config)  # type: ignore[arg-type]
    return Endpoint(cfg, rng=random.Random(7))


def uac(**config: object) -> Endpoint:
    cfg = EndpointConfig(advertised_host=PEER[0], **config)  # type: ignore[arg-type]
    return Endpoint(cfg, rng=random.Random(8))


def deliver(ep: Endpoint, data: bytes, now: float = 0.0, remote: tuple[str, int] = PEER) -> None:
    ep.receive_datagram(data, remote=remote, local=ME, now=now)


def new_txn(ep: Endpoint) -> tuple[ServerTxn, RequestReceived]:
    events = ep.events()
    assert len(events) == 1 and isinstance(events[0], RequestReceived)
    assert events[0].txn is not None
    return events[0].txn, events[0]


def answer(ep: Endpoint, event: RequestReceived, status: int, now: float = 0.0) -> Response:
    assert event.txn is not None
    response = make_response(event.request, status, to_tag="uas")
    ep.send_response(event.txn, response, now=now)
    return response


def statuses(ep: Endpoint) -> list[str]:
    return [first_line(t.data) for t in ep.transmits()]


# -- server side ------------------------------------------------------------------


def test_retransmitted_request_matches_its_transaction() -> None:
    ep = uas()
    deliver(ep, raw())
    new_txn(ep)
    deliver(ep, raw(), now=0.5)
    assert ep.events() == []
    assert ep.stats()["transactions"] == 1


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    ep = uas(detect_merged_requests=False)
    deliver(ep, raw())
    deliver(ep, raw(via="192.0.2.9:5060"))
    assert len([e for e in ep.events() if isinstance(e, RequestReceived)]) == 2


def test_ack_for_non2xx_is_absorbed_by_the_invite_server_transaction() -> None:
    ep = uas()
    deliver(ep, raw())
    txn, event = new_txn(ep)
    answer(ep, event, 486)
    deliver(ep, raw("ACK", to_tag="uas"), now=0.1)
    assert ep.events() == []
    assert ep._txns.by_id[txn.id].state.value == "Confirmed"


def test_ack_for_2xx_has_its_own_branch_and_goes_to_the_tu() -> None:
    ep = uas()
    deliver(ep, raw())
    _, event = new_txn(ep)
    answer(ep, event, 200)
    ack = raw("ACK", branch="z9hG4bKother", to_tag="uas")
    deliver(ep, ack, now=0.1)
    (got,) = ep.events()
    assert isinstance(got, RequestReceived) and got.txn is None and got.request.method == "ACK"


def test_ack_reusing_the_invite_branch_in_accepted_goes_to_the_tu() -> None:
    ep = uas()
    deliver(ep, raw())
    _, event = new_txn(ep)
    answer(ep, event, 200)
    deliver(ep, raw("ACK", to_tag="uas"), now=0.1)  # RFC 6026 §8.7: pass ACK to TU
    (got,) = ep.events()
    assert isinstance(got, RequestReceived) and got.txn is None


@pytest.mark.parametrize("branch", [None, "1234abc"])
def test_rfc2543_matching_without_magic_cookie(branch: str | None) -> None:
    ep = uas()
    deliver(ep, raw(branch=branch))
    txn, event = new_txn(ep)
    deliver(ep, raw(branch=branch), now=0.2)  # retransmission: URI, tags, Call-ID, CSeq, Via
    assert ep.events() == []
    deliver(ep, raw(branch=branch, cseq=2), now=0.3)  # another CSeq: a new transaction
    assert isinstance(ep.events()[0], RequestReceived)
    answer(ep, event, 404, now=0.35)
    # The ACK matches when its To tag is the one of our response (§17.2.3).
    deliver(ep, raw("ACK", branch=branch, to_tag="other"), now=0.4)
    assert [type(e).__name__ for e in ep.events()] == ["RequestReceived"]
    deliver(ep, raw("ACK", branch=branch, to_tag="uas"), now=0.5)
    assert ep.events() == []
    assert ep._txns.by_id[txn.id].state.value == "Confirmed"


def test_cancel_gets_200_and_the_invite_487_with_the_same_to_tag() -> None:
    ep = uas()
    deliver(ep, raw())
    txn, _ = new_txn(ep)
    deliver(ep, raw("CANCEL"), now=0.1)
    sent = ep.transmits()
    assert [first_line(t.data) for t in sent] == [
        "SIP/2.0 200 OK",
        "SIP/2.0 487 Request Terminated",
    ]
    ok, terminated = (parse_message(t.data) for t in sent)
    assert ok.cseq.method == "CANCEL" and terminated.cseq.method == "INVITE"
    assert ok.to.tag is not None and ok.to.tag == terminated.to.tag  # §9.2
    (cancelled,) = ep.events()
    assert cancelled == CancelReceived(request=cancelled.request, txn=txn, answered=True)  # type: ignore[union-attr]
    # A retransmitted CANCEL is answered by its own transaction again.
    deliver(ep, raw("CANCEL"), now=0.2)
    assert statuses(ep) == ["SIP/2.0 200 OK"]


def test_cancel_event_and_tu_decides_when_configured() -> None:
    ep = uas(answer_cancelled_invite=False)
    deliver(ep, raw())
    txn, event = new_txn(ep)
    deliver(ep, raw("CANCEL"), now=0.1)
    assert statuses(ep) == ["SIP/2.0 200 OK"]
    (cancelled,) = ep.events()
    assert isinstance(cancelled, CancelReceived)
    assert cancelled.txn == txn and not cancelled.answered
    answer(ep, event, 487, now=0.2)
    assert statuses(ep) == ["SIP/2.0 487 Request Terminated"]


def test_cancel_event_reports_the_automatic_487() -> None:
    ep = uas()
    deliver(ep, raw())
    txn, _ = new_txn(ep)
    deliver(ep, raw("CANCEL"), now=0.1)
    (cancelled,) = ep.events()
    assert isinstance(cancelled, CancelReceived) and cancelled.answered and cancelled.txn == txn
    assert cancelled.request.method == "CANCEL"
    with pytest.raises(LocalProtocolError):  # the INVITE already has its final response
        ep.send_response(txn, make_response(parse_message(raw()), 200), now=0.2)  # type: ignore[arg-type]


def test_cancel_without_transaction_gets_481() -> None:
    ep = uas()
    deliver(ep, raw("CANCEL"))
    assert statuses(ep) == ["SIP/2.0 481 Call/Transaction Does Not Exist"]
    assert ep.events() == []


def test_cancel_after_the_final_response_has_no_effect_but_gets_200() -> None:
    ep = uas()
    deliver(ep, raw())
    _, event = new_txn(ep)
    answer(ep, event, 200)
    ep.transmits()
    deliver(ep, raw("CANCEL"), now=0.1)
    assert statuses(ep) == ["SIP/2.0 200 OK"]
    assert ep.events() == []


def test_merged_request_gets_482() -> None:
    ep = uas()
    deliver(ep, raw())
    new_txn(ep)
    merged = raw(branch="z9hG4bKforked", via="192.0.2.7:5060")
    deliver(ep, merged, now=0.1, remote=("192.0.2.7", 5060))
    assert statuses(ep) == ["SIP/2.0 482 Loop Detected"]
    assert ep.events() == []
    deliver(ep, merged, now=0.2, remote=("192.0.2.7", 5060))  # retransmission: same answer
    assert statuses(ep) == ["SIP/2.0 482 Loop Detected"]


def test_merge_detection_is_off_for_proxies() -> None:
    ep = uas(detect_merged_requests=False)
    deliver(ep, raw())
    deliver(ep, raw(branch="z9hG4bKforked", via="192.0.2.7:5060"), now=0.1)
    assert len(ep.events()) == 2


def test_branch_reused_for_another_method_gets_400() -> None:
    ep = uas()
    deliver(ep, raw("OPTIONS"))
    new_txn(ep)
    deliver(ep, raw("INFO", cseq=2), now=0.1)
    assert statuses(ep) == ["SIP/2.0 400 Bad Request"]


# -- client side ------------------------------------------------------------------


def send_invite(ep: Endpoint) -> tuple[ClientTxn, bytes]:
    txn = ep.send_request(request("INVITE"), target=Target("UDP", *ME), now=0.0)
    (t,) = ep.transmits()
    return txn, t.data


def reply(ep: Endpoint, wire: bytes, status: int, now: float, **changes: str) -> None:
    req = parse_message(wire)
    assert not isinstance(req, Response)
    resp = make_response(req, status, to_tag="uas")
    data = bytes(resp)
    for old, new in changes.items():
        data = data.replace(old.encode(), new.encode())
    ep.receive_datagram(data, remote=ME, local=PEER, now=now)


def test_send_request_adds_via_with_branch_rport_and_keeps_the_callers_request() -> None:
    ep = uac()
    original = request("OPTIONS")
    before = bytes(original)
    ep.send_request(original, target=Target("UDP", *ME), now=0.0)
    assert bytes(original) == before
    (t,) = ep.transmits()
    sent = parse_message(t.data)
    via = sent.top_via
    assert len(sent.vias) == 1
    assert via.is_rfc3261_branch and via.has_rport
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.1", 5060)
    assert t.remote == ME and t.transport == "UDP" and t.conn is None


def test_send_request_refuses_ack_cancel_and_incomplete_requests() -> None:
    ep = uac()
    for method in ("ACK", "CANCEL"):
        with pytest.raises(LocalProtocolError):
            ep.send_request(request(method), target=Target("UDP", *ME), now=0.0)
    incomplete = request("OPTIONS")
    incomplete.headers.remove("call-id")
    with pytest.raises(LocalProtocolError):
        ep.send_request(incomplete, target=Target("UDP", *ME), now=0.0)
    assert ep.stats()["transactions"] == 0


def test_response_with_a_foreign_sent_by_is_silently_discarded() -> None:
    ep = uac()
    _txn, wire = send_invite(ep)
    reply(ep, wire, 180, 0.1, **{"192.0.2.1:5060;branch": "192.0.2.66:5060;branch"})
    assert ep.events() == []  # §18.1.2


def test_response_without_transaction_is_passed_up_with_no_txn() -> None:
    ep = uac()
    _txn, wire = send_invite(ep)
    reply(ep, wire, 200, 0.1, z9hG4bK="z9hG4bKx")
    (got,) = ep.events()
    assert isinstance(got, ResponseReceived) and got.txn is None


def test_cancel_is_held_until_a_provisional_then_sent_with_the_invite_branch() -> None:
    ep = uac()
    txn, wire = send_invite(ep)
    cancel = ep.cancel(txn, now=0.1)
    assert cancel is not None and ep.transmits() == []  # §9.1: not before a provisional
    assert ep.cancel(txn, now=0.1) == cancel
    reply(ep, wire, 180, 0.2)
    (t,) = ep.transmits()
    sent = parse_message(t.data)
    invite = parse_message(wire)
    assert isinstance(sent, type(invite)) and first_line(t.data).startswith("CANCEL sip:bob@")
    assert sent.vias == [invite.top_via]
    assert sent.cseq.seq == invite.cseq.seq and sent.cseq.method == "CANCEL"
    for name in ("from", "to", "call-id"):
        assert sent.headers.get(name) == invite.headers.get(name)
    assert t.token == cancel.id
    # The 200 for the CANCEL matches the CANCEL transaction, not the INVITE (§17.1.3).
    resp = make_response(sent, 200)  # type: ignore[arg-type]
    ep.receive_datagram(bytes(resp), remote=ME, local=PEER, now=0.3)
    events = ep.events()
    assert isinstance(events[1], ResponseReceived) and events[1].txn == cancel


def test_held_cancel_is_dropped_when_a_final_response_comes_first() -> None:
    ep = uac()
    txn, wire = send_invite(ep)
    cancel = ep.cancel(txn, now=0.1)
    reply(ep, wire, 486, 0.2)
    assert [first_line(t.data).split()[0] for t in ep.transmits()] == ["ACK"]
    assert TransactionTerminated(txn=cancel) in ep.events()  # type: ignore[arg-type]
    assert ep.cancel(txn, now=0.3) == cancel


def test_cancel_after_final_response_returns_none() -> None:
    ep = uac()
    txn, wire = send_invite(ep)
    reply(ep, wire, 200, 0.1)
    assert ep.cancel(txn, now=0.2) is None


def test_cancel_misuse() -> None:
    ep = uac()
    options = ep.send_request(request("OPTIONS"), target=Target("UDP", *ME), now=0.0)
    with pytest.raises(LocalProtocolError):
        ep.cancel(options, now=0.0)
    with pytest.raises(LocalProtocolError):
        ep.cancel(ClientTxn(999), now=0.0)


def test_invite_without_final_response_ends_64_t1_after_cancel() -> None:
    ep = uac()
    txn, wire = send_invite(ep)
    reply(ep, wire, 180, 0.2)
    cancel = ep.cancel(txn, now=1.0)
    ep.events()
    events = []
    while (deadline := ep.get_next_timer()) is not None:
        ep.handle_timer(now=deadline)
        events += [(deadline, e) for e in ep.events()]
    assert (33.0, TransactionTimedOut(txn=txn, timer=TimerKind.CANCEL_WAIT)) in events  # §9.1
    assert (33.0, TransactionTimedOut(txn=cancel, timer=TimerKind.F)) in events  # type: ignore[arg-type]
    assert ep.stats()["transactions"] == 0


def test_send_stateless_ack_for_2xx() -> None:
    ep = uac()
    ack = request("ACK", to_tag="uas")
    sent = ep.send_stateless(ack, target=Target("UDP", *ME), now=0.0)
    (t,) = ep.transmits()
    assert t.data == bytes(sent) and t.token == 0
    assert sent.top_via.is_rfc3261_branch
    again = ep.send_stateless(sent, target=Target("UDP", *ME), now=0.5)
    assert bytes(again) == bytes(sent)  # a request with a Via is sent as is
    assert ep.stats()["transactions"] == 0
