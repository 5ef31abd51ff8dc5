"""Bad input never raises out of the Endpoint; misuse does (DESIGN.md §4)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from txhelpers import first_line, raw, request

from sipsans import (
    Endpoint,
    EndpointConfig,
    LocalProtocolError,
    MalformedMessage,
    RemoteProtocolError,
    RequestReceived,
    ServerTxn,
    Target,
    make_response,
    parse_message,
)

PEER = ("192.0.2.1", 5060)
ME = ("192.0.2.2", 5060)


def ep_at(**config: object) -> Endpoint:
    cfg = EndpointConfig(advertised_host=ME[0], **config)  # type: ignore[arg-type]
    return Endpoint(cfg, rng=random.Random(9))


def test_garbage_datagram_becomes_malformed_message_only() -> None:
    ep = ep_at()
    ep.receive_datagram(b"\x00\xffhello", remote=PEER, local=ME, now=0.0)
    (event,) = ep.events()
    assert isinstance(event, MalformedMessage)
    assert event.raw_prefix == b"\x00\xffhello" and event.source.remote == PEER
    assert ep.transmits() == []


def test_bad_request_with_readable_transaction_headers_gets_a_stateless_error() -> None:
    ep = ep_at()
    # RFC 4475 clerr: a Content-Length larger than the body.
    data = raw(via_params=";rport").replace(b"Content-Length: 0", b"Content-Length: 50")
    ep.receive_datagram(data, remote=("203.0.113.1", 9999), local=ME, now=0.0)
    (event,) = ep.events()
    assert isinstance(event, MalformedMessage) and event.status_hint == 400
    (t,) = ep.transmits()
    assert first_line(t.data) == "SIP/2.0 400 Bad Request"
    assert t.remote == ("203.0.113.1", 9999)  # routed by rport like any response
    response = parse_message(t.data)
    assert response.to.tag is not None and response.call_id == "c1@192.0.2.1"
    assert ep.stats()["transactions"] == 0


def test_cseq_method_mismatch_is_answered_400() -> None:
    ep = ep_at()
    ep.receive_datagram(raw("INVITE", cseq_method="OPTIONS"), remote=PEER, local=ME, now=0.0)
    assert [first_line(t.data) for t in ep.transmits()] == ["SIP/2.0 400 Bad Request"]


def test_bad_request_without_call_id_is_only_reported() -> None:
    ep = ep_at()
    data = raw().replace(b"Call-ID: c1@192.0.2.1\r\n", b"")
    ep.receive_datagram(data, remote=PEER, local=ME, now=0.0)
    assert [type(e) for e in ep.events()] == [MalformedMessage]
    assert ep.transmits() == []


def test_bad_ack_is_never_answered() -> None:
    ep = ep_at()
    data = raw("ACK").replace(b"Content-Length: 0", b"Content-Length: 50")
    ep.receive_datagram(data, remote=PEER, local=ME, now=0.0)
    assert ep.transmits() == []


def test_bad_response_is_dropped() -> None:
    ep = ep_at()
    ep.receive_datagram(b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n", remote=PEER, local=ME, now=0.0)
    assert [type(e) for e in ep.events()] == [MalformedMessage]
    assert ep.transmits() == []


def test_too_many_transactions_get_503_with_retry_after() -> None:
    ep = ep_at(max_transactions=1, retry_after=7)
    ep.receive_datagram(raw(), remote=PEER, local=ME, now=0.0)
    ep.receive_datagram(raw(branch="z9hG4bK2", call_id="c2"), remote=PEER, local=ME, now=0.0)
    assert len(ep.events()) == 1
    (t,) = ep.transmits()
    response = parse_message(t.data)
    assert first_line(t.data) == "SIP/2.0 503 Service Unavailable"
    assert response.headers.get("retry-after") == "7"
    with pytest.raises(LocalProtocolError):
        ep.send_request(request("OPTIONS"), target=Target("UDP", *PEER), now=0.0)


def test_now_must_not_go_backwards() -> None:
    ep = ep_at()
    ep.handle_timer(now=5.0)
    with pytest.raises(LocalProtocolError):
        ep.handle_timer(now=4.0)
    with pytest.raises(LocalProtocolError):
        ep.receive_datagram(raw(), remote=PEER, local=ME, now=1.0)
    assert ep.now == 5.0  # the clock stays where the last accepted input left it


def test_the_clock_is_the_latest_inputs_now() -> None:
    ep = ep_at()
    assert ep.now == float("-inf")
    ep.receive_datagram(raw(), remote=PEER, local=ME, now=2.5)
    assert ep.now == 2.5
    ep.handle_timer(now=3.0)
    assert ep.now == 3.0


def test_send_response_misuse() -> None:
    ep = ep_at()
    ep.receive_datagram(raw("OPTIONS"), remote=PEER, local=ME, now=0.0)
    (event,) = ep.events()
    assert isinstance(event, RequestReceived) and event.txn is not None
    ok = make_response(event.request, 200, to_tag="t")
    with pytest.raises(LocalProtocolError):
        ep.send_response(ServerTxn(42), ok, now=0.0)
    other = make_response(parse_message(raw("OPTIONS", cseq=9)), 200)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        ep.send_response(event.txn, other, now=0.0)
    ep.send_response(event.txn, ok, now=0.0)
    with pytest.raises(LocalProtocolError):
        ep.send_response(event.txn, ok, now=0.0)  # a second final response
    assert len(ep.transmits()) == 1


def test_unknown_connection_is_misuse() -> None:
    from sipsans import ConnHandle

    ep = ep_at()
    with pytest.raises(LocalProtocolError):
        ep.receive_stream(ConnHandle(5), b"x", now=0.0)


@given(st.binary(max_size=600))
def test_random_datagrams_never_raise(data: bytes) -> None:
    ep = ep_at()
    ep.receive_datagram(data, remote=PEER, local=ME, now=0.0)
    ep.receive_datagram(raw() + data, remote=PEER, local=ME, now=0.0)
    ep.events()
    ep.transmits()


@given(st.lists(st.binary(max_size=200), max_size=8), st.booleans())
def test_random_stream_bytes_never_raise(chunks: list[bytes], eof: bool) -> None:
    ep = ep_at()
    conn = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=0.0)
    for chunk in [raw(transport="TCP"), *chunks, *([b""] if eof else [])]:
        ep.receive_stream(conn, chunk, now=0.0)
    ep.events()


@given(
    st.sampled_from([b"Via", b"From", b"To", b"Call-ID", b"CSeq", b"Max-Forwards", b"INVITE"]),
    st.binary(min_size=1, max_size=12),
)
def test_mutated_requests_never_raise(field: bytes, junk: bytes) -> None:
    ep = ep_at()
    data = raw().replace(field, junk, 1)
    ep.receive_datagram(data, remote=PEER, local=ME, now=0.0)
    for t in ep.transmits():
        assert parse_message(t.data).status_code in (400, 420, 505, 513, 416)  # type: ignore[union-attr]


# -- inputs once found by fuzz/fuzz_endpoint.py (fuzz/corpus/endpoint/ keeps the programs) --

ELSEWHERE = ("203.0.113.1", 9999)  # not the Via sent-by, so received/rport get stamped


def test_bare_lf_inside_a_via_parameter_is_malformed_not_a_crash() -> None:
    """§25.1: a Via parameter value cannot hold LF. The request is refused as malformed
    (the 400 cannot be sent: its Via could not be copied into a response)."""
    ep = ep_at()
    ep.receive_datagram(raw(via_params=";x=a\nb"), remote=ELSEWHERE, local=ME, now=0.0)
    (event,) = ep.events()
    assert isinstance(event, MalformedMessage) and event.status_hint == 400
    assert ep.stats()["transactions"] == 0


def test_bare_cr_elsewhere_in_a_request_is_answered_400() -> None:
    ep = ep_at()
    data = raw(extra=("Subject: a\rb",))
    ep.receive_datagram(data, remote=ELSEWHERE, local=ME, now=0.0)
    (event,) = ep.events()
    assert isinstance(event, MalformedMessage) and event.status_hint == 400
    assert [first_line(t.data) for t in ep.transmits()] == ["SIP/2.0 400 Bad Request"]


def test_invalid_lower_via_does_not_stop_stamping_received() -> None:
    """§18.2.1 stamps only the top Via; a bad lower Via is for whoever reads it (the
    UA's validate()), and the response copies it back unchanged (§8.2.6.2)."""
    ep = ep_at()
    ep.receive_datagram(raw(extra=("Via: ACK",)), remote=ELSEWHERE, local=ME, now=0.0)
    (event,) = ep.events()
    assert isinstance(event, RequestReceived) and event.txn is not None
    assert event.request.top_via.received == ELSEWHERE[0]
    with pytest.raises(RemoteProtocolError):
        event.request.validate()
    response = make_response(event.request, 486, to_tag="b1")
    ep.send_response(event.txn, response, now=0.0)
    (t,) = ep.transmits()
    assert b"\r\nVia: ACK\r\n" in t.data and b"received=203.0.113.1" in t.data


def test_rfc2543_request_with_invalid_request_uri_gets_a_transaction() -> None:
    """§17.2.3 matches RFC 2543 requests (no magic cookie) on the Request-URI too; an
    invalid one is keyed by its text, so the request still reaches the TU (which
    answers 400 after validate()) and its retransmission is absorbed."""
    ep = ep_at()
    data = raw("OPTIONS", branch="old1", uri="sip:b@fec0::1:5060")
    ep.receive_datagram(data, remote=PEER, local=ME, now=0.0)
    (event,) = ep.events()
    assert isinstance(event, RequestReceived) and event.txn is not None
    with pytest.raises(RemoteProtocolError):
        event.request.validate()
    ep.receive_datagram(data, remote=PEER, local=ME, now=0.5)
    assert ep.events() == []  # a retransmission of the same transaction


@pytest.mark.parametrize("data", [b"", b"\r\n", b"\r\n\r\n", b" \r\n\t\r\n"])
def test_crlf_keepalive_datagrams_are_ignored(data: bytes) -> None:
    """A CRLF datagram is a common UDP keep-alive (RFC 5626 §4.4.1 prefers STUN; RFC 3261
    §7.5 ignores CRLFs before a start line): it holds no message, so no event, no answer;
    CRLFs before a real request are still skipped."""
    ep = ep_at()
    ep.receive_datagram(data, remote=PEER, local=ME, now=0.0)
    assert ep.events() == [] and ep.transmits() == []
    ep.receive_datagram(b"\r\n" + raw(), remote=PEER, local=ME, now=0.0)
    assert [type(e) for e in ep.events()] == [RequestReceived]
