"""Server transactions after their final response (RFC 3261 §17.2, §9.2; RFC 6026 §8.7).

Once a server transaction has sent its final response it only lingers (up to 32 s,
Timers J and L) to absorb retransmissions. It keeps what matching and retransmission
need and nothing of the parsed request, so that a busy server does not hold every
request of the last 32 seconds. These tests check both halves: nothing parsed is
held, and every retransmission and late CANCEL/ACK is still handled as the RFC says.
"""

from __future__ import annotations

import random

import pytest
from txhelpers import first_line, raw

from sipsans import (
    Endpoint,
    EndpointConfig,
    LocalProtocolError,
    Message,
    RequestReceived,
    ServerTxn,
    make_response,
    parse_message,
)

PEER = ("192.0.2.1", 5060)
ME = ("192.0.2.2", 5060)


def uas() -> Endpoint:
    return Endpoint(EndpointConfig(advertised_host=ME[0]), rng=random.Random(7))


def deliver(ep: Endpoint, data: bytes, now: float) -> None:
    ep.receive_datagram(data, remote=PEER, local=ME, now=now)


def received(ep: Endpoint) -> RequestReceived:
    (event,) = ep.events()
    assert isinstance(event, RequestReceived) and event.txn is not None
    return event


def answer(ep: Endpoint, event: RequestReceived, status: int, now: float) -> bytes:
    assert event.txn is not None
    ep.send_response(event.txn, make_response(event.request, status, to_tag="uas"), now=now)
    (sent,) = ep.transmits()
    return sent.data


def held_messages(ep: Endpoint, txn: ServerTxn) -> list[str]:
    """Names of the transaction's fields that still hold a parsed message."""
    state = ep._transactions[txn.id]
    held = []
    for slot in type(state).__slots__:
        value = getattr(state, slot, None)
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(item, Message) for item in values):
            held.append(slot)
    return held


@pytest.mark.parametrize(("method", "status"), [("INVITE", 200), ("INVITE", 486), ("BYE", 200)])
def test_a_settled_server_transaction_holds_no_parsed_message(method: str, status: int) -> None:
    ep = uas()
    deliver(ep, raw(method, to_tag="x" if method == "BYE" else None), now=0.0)
    event = received(ep)
    assert event.txn is not None
    answer(ep, event, status, now=0.1)
    assert ep._transactions[event.txn.id].state.value in ("Accepted", "Completed")
    assert held_messages(ep, event.txn) == []


def test_a_retransmitted_bye_gets_the_same_bytes_after_settling() -> None:
    ep = uas()
    deliver(ep, raw("BYE", to_tag="x"), now=0.0)
    sent = answer(ep, received(ep), 200, now=0.1)
    deliver(ep, raw("BYE", to_tag="x"), now=0.6)  # §17.2.2: Completed resends the final
    (again,) = ep.transmits()
    assert again.data == sent
    assert ep.events() == []


def test_a_retransmitted_invite_in_accepted_is_absorbed() -> None:
    ep = uas()
    deliver(ep, raw(), now=0.0)
    event = received(ep)
    answer(ep, event, 200, now=0.1)
    deliver(ep, raw(), now=0.6)  # RFC 6026 §8.7: the TU, not the transaction, resends 2xx
    assert ep.transmits() == [] and ep.events() == []
    # ... and the TU can still send its 2xx retransmission through the transaction.
    assert event.txn is not None
    ep.send_response(event.txn, make_response(event.request, 200, to_tag="uas"), now=0.7)
    assert [first_line(t.data) for t in ep.transmits()] == ["SIP/2.0 200 OK"]


@pytest.mark.parametrize("branch", ["z9hG4bKabc1", None])
def test_a_late_cancel_gets_200_with_the_to_tag_of_the_final_response(branch: str | None) -> None:
    ep = uas()
    deliver(ep, raw(branch=branch), now=0.0)
    answer(ep, received(ep), 486, now=0.1)
    # §9.2: the CANCEL matches (RFC 2543: by the INVITE's To tag, here none), has no
    # effect on the answered INVITE, and its 200 carries the tag of that response.
    deliver(ep, raw("CANCEL", branch=branch), now=0.2)
    (ok,) = ep.transmits()
    response = parse_message(ok.data)
    assert first_line(ok.data) == "SIP/2.0 200 OK"
    assert response.to.tag == "uas"
    assert ep.events() == []


def test_a_response_with_another_cseq_is_refused_after_settling() -> None:
    ep = uas()
    deliver(ep, raw(), now=0.0)
    event = received(ep)
    answer(ep, event, 200, now=0.1)
    other = parse_message(raw(cseq=2))
    assert event.txn is not None
    with pytest.raises(LocalProtocolError, match="does not match the request's 1 INVITE"):
        ep.send_response(event.txn, make_response(other, 200, to_tag="uas"), now=0.2)  # type: ignore[arg-type]
