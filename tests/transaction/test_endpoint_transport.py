"""Transport rules (RFC 3261 §18, RFC 3581, RFC 5626 keep-alive) and connections."""

from __future__ import annotations

import random

from txhelpers import first_line, raw, request

from sipsans import (
    ConnectionClosed,
    Endpoint,
    EndpointConfig,
    MalformedMessage,
    RequestReceived,
    ResponseReceived,
    Target,
    TransactionTerminated,
    TransportFailed,
    make_response,
    parse_message,
)

PEER = ("192.0.2.1", 5060)
ME = ("192.0.2.2", 5060)


def ep_at(host: str = ME[0], **config: object) -> Endpoint:
    cfg = EndpointConfig(advertised_host=host, **config)  # type: ignore[arg-type]
    return Endpoint(cfg, rng=random.Random(5))


def received_request(ep: Endpoint) -> RequestReceived:
    (event,) = ep.events()
    assert isinstance(event, RequestReceived)
    return event


def reply_to(ep: Endpoint, event: RequestReceived, status: int = 200, now: float = 0.0) -> None:
    assert event.txn is not None
    ep.send_response(event.txn, make_response(event.request, status, to_tag="t"), now=now)


# -- §18.2.1 and RFC 3581 -------------------------------------------------------------


def test_received_is_added_when_sent_by_differs_from_the_source() -> None:
    ep = ep_at()
    ep.receive_datagram(raw(via="pc.example.com:5060"), remote=PEER, local=ME, now=0.0)
    via = received_request(ep).request.top_via
    assert via.received == "192.0.2.1" and not via.has_rport


def test_no_received_when_sent_by_is_the_source_address() -> None:
    ep = ep_at()
    ep.receive_datagram(raw(), remote=PEER, local=ME, now=0.0)
    assert received_request(ep).request.top_via.received is None


def test_rport_is_filled_and_received_always_added() -> None:
    ep = ep_at()
    nat = ("203.0.113.9", 40123)
    ep.receive_datagram(raw(via_params=";rport"), remote=nat, local=ME, now=0.0)
    event = received_request(ep)
    via = event.request.top_via
    assert (via.received, via.rport) == ("203.0.113.9", 40123)
    reply_to(ep, event)
    (t,) = ep.transmits()
    # RFC 3581 §4: the response goes to the source IP and port, from where it came in.
    assert t.remote == nat and t.local == ME
    echoed = parse_message(t.data).top_via
    assert (echoed.received, echoed.rport) == ("203.0.113.9", 40123)


def test_rport_on_the_source_address_also_gets_received() -> None:
    ep = ep_at()
    ep.receive_datagram(raw(via_params=";rport"), remote=PEER, local=ME, now=0.0)
    assert received_request(ep).request.top_via.received == "192.0.2.1"  # RFC 3581 §4


# -- §18.2.2 -------------------------------------------------------------------------


def test_udp_response_without_rport_goes_to_received_and_sent_by_port() -> None:
    ep = ep_at()
    ep.receive_datagram(
        raw(via="pc.example.com:5080"), remote=("192.0.2.1", 40000), local=ME, now=0.0
    )
    reply_to(ep, received_request(ep))
    assert ep.transmits()[0].remote == ("192.0.2.1", 5080)


def test_udp_response_without_port_uses_5060() -> None:
    ep = ep_at()
    ep.receive_datagram(raw(via="192.0.2.1"), remote=("192.0.2.1", 40000), local=ME, now=0.0)
    reply_to(ep, received_request(ep))
    assert ep.transmits()[0].remote == ("192.0.2.1", 5060)


def test_udp_response_goes_to_maddr() -> None:
    ep = ep_at()
    data = raw(via="192.0.2.1:5062", via_params=";maddr=239.255.255.1;ttl=1")
    ep.receive_datagram(data, remote=PEER, local=ME, now=0.0)
    reply_to(ep, received_request(ep))
    assert ep.transmits()[0].remote == ("239.255.255.1", 5062)


def test_stream_response_goes_back_on_the_same_connection() -> None:
    ep = ep_at()
    conn = ep.connection_made(transport="TCP", remote=("192.0.2.1", 41000), local=ME, now=0.0)
    ep.receive_stream(conn, raw(transport="TCP"), now=0.0)
    reply_to(ep, received_request(ep))
    (t,) = ep.transmits()
    assert (t.conn, t.transport, t.remote) == (conn, "TCP", ("192.0.2.1", 41000))


def test_stream_response_after_connection_loss_opens_a_new_one_to_sent_by() -> None:
    ep = ep_at()
    conn = ep.connection_made(transport="TCP", remote=("192.0.2.1", 41000), local=ME, now=0.0)
    ep.receive_stream(conn, raw(transport="TCP", via="192.0.2.1:5070"), now=0.0)
    event = received_request(ep)
    ep.connection_lost(conn, now=0.1)
    assert ep.events() == [ConnectionClosed(conn=conn, reason="connection lost")]
    reply_to(ep, event, now=0.2)
    (t,) = ep.transmits()
    assert t.conn is None and t.remote == ("192.0.2.1", 5070)  # §18.2.2


# -- §18.1.1 -------------------------------------------------------------------------


def test_large_udp_request_switches_to_tcp() -> None:
    ep = ep_at(PEER[0])
    big = request("MESSAGE", body=b"x" * 1400)
    txn = ep.send_request(big, target=Target("UDP", *ME), now=0.0)
    (t,) = ep.transmits()
    assert t.transport == "TCP" and len(t.data) > 1300
    assert parse_message(t.data).top_via.transport == "TCP"
    assert ep.get_next_timer() == 32.0  # only Timer F: no retransmission over TCP
    assert txn.id == t.token


def test_request_below_the_limit_stays_on_udp() -> None:
    ep = ep_at(PEER[0])
    ep.send_request(request("MESSAGE", body=b"x" * 100), target=Target("UDP", *ME), now=0.0)
    assert ep.transmits()[0].transport == "UDP"


def test_mtu_is_configurable() -> None:
    ep = ep_at(PEER[0], mtu=600)
    ep.send_request(request("MESSAGE", body=b"x" * 100), target=Target("UDP", *ME), now=0.0)
    assert ep.transmits()[0].transport == "TCP"


# -- transport errors (§17.1.4, §8.1.3.1) ---------------------------------------------


def test_transport_error_fails_a_client_transaction() -> None:
    ep = ep_at(PEER[0])
    txn = ep.send_request(request("INVITE"), target=Target("UDP", *ME), now=0.0)
    (t,) = ep.transmits()
    ep.transport_error(t.token, now=0.1)
    events = ep.events()
    assert [type(e) for e in events] == [TransportFailed, TransactionTerminated]
    assert events[0].txn == txn  # type: ignore[union-attr]
    assert ep.get_next_timer() is None and ep.stats()["transactions"] == 0
    ep.transport_error(t.token, now=0.2)  # stale token: ignored
    ep.transport_error(0, now=0.2)
    assert ep.events() == []


def test_a_transport_error_carries_the_adapters_words() -> None:
    """What the adapter knows of the failure (a refused connection, an ICMP error) is
    the event's reason, so the application can say what went wrong."""
    ep = ep_at(PEER[0])
    ep.send_request(request("OPTIONS"), target=Target("UDP", *ME), now=0.0)
    (t,) = ep.transmits()
    ep.transport_error(t.token, now=0.1, reason="UDP to 192.0.2.1:5060: connection refused")
    failed = ep.events()[0]
    assert isinstance(failed, TransportFailed)
    assert failed.reason == "UDP to 192.0.2.1:5060: connection refused"


def test_transport_error_on_a_server_final_response() -> None:
    ep = ep_at()
    ep.receive_datagram(raw(), remote=PEER, local=ME, now=0.0)
    event = received_request(ep)
    reply_to(ep, event, 503)
    (t,) = ep.transmits()
    ep.transport_error(t.token, now=0.1)
    assert [type(e) for e in ep.events()] == [TransportFailed, TransactionTerminated]


def test_lost_connection_fails_the_client_transaction_waiting_on_it() -> None:
    ep = ep_at(PEER[0])
    conn = ep.connection_made(transport="TCP", remote=ME, local=("192.0.2.1", 40000), now=0.0)
    txn = ep.send_request(request("OPTIONS"), target=Target("TCP", *ME), now=0.0)
    assert ep.transmits()[0].conn == conn  # reuses the open connection
    ep.connection_lost(conn, now=1.0)
    events = ep.events()
    assert isinstance(events[0], ConnectionClosed)
    assert TransportFailed(txn=txn, reason="transport error reported") in events


def test_lost_connection_ends_an_invite_that_got_a_provisional_response() -> None:
    """§17.1.4: an INVITE client transaction in Proceeding runs no timer (the final
    response may take minutes). When the connection its response would come back on is
    lost, the transaction ends with a transport failure; absorbed, it waited for ever."""
    ep = ep_at(PEER[0])
    conn = ep.connection_made(transport="TCP", remote=ME, local=("192.0.2.1", 40000), now=0.0)
    txn = ep.send_request(request("INVITE"), target=Target("TCP", *ME), now=0.0)
    (t,) = ep.transmits()
    req = parse_message(t.data)
    ep.receive_stream(conn, bytes(make_response(req, 180, to_tag="t")), now=0.1)  # type: ignore[arg-type]
    ep.events()
    ep.connection_lost(conn, now=1.0)
    events = ep.events()
    assert TransportFailed(txn=txn, reason="transport error reported") in events
    assert TransactionTerminated(txn=txn) in events
    assert ep.stats()["transactions"] == 0


def test_response_on_a_new_connection_binds_the_transaction_for_its_ack() -> None:
    ep = ep_at(PEER[0])
    ep.send_request(request("INVITE"), target=Target("TCP", *ME), now=0.0)
    (t,) = ep.transmits()
    assert t.conn is None  # the adapter opens one and registers it
    conn = ep.connection_made(transport="TCP", remote=ME, local=("192.0.2.1", 40000), now=0.0)
    req = parse_message(t.data)
    ep.receive_stream(conn, bytes(make_response(req, 486, to_tag="t")), now=0.1)  # type: ignore[arg-type]
    (ack,) = ep.transmits()
    assert first_line(ack.data).startswith("ACK") and ack.conn == conn


# -- streams --------------------------------------------------------------------------


def test_stream_reassembles_split_and_coalesced_messages() -> None:
    ep = ep_at()
    conn = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=0.0)
    one, two = (
        raw("OPTIONS", transport="TCP"),
        raw("OPTIONS", transport="TCP", branch="z9hG4bK2", cseq=2),
    )
    data = one + two
    for i in range(0, len(data), 7):
        ep.receive_stream(conn, data[i : i + 7], now=0.0)
    assert [type(e) for e in ep.events()] == [RequestReceived, RequestReceived]


def test_keepalive_ping_is_answered_with_a_pong() -> None:
    ep = ep_at()
    conn = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=0.0)
    ep.receive_stream(conn, b"\r\n\r\n", now=0.0)
    (t,) = ep.transmits()
    assert t.data == b"\r\n" and t.conn == conn  # RFC 5626 §3.5.1


def test_framing_error_closes_only_that_connection() -> None:
    ep = ep_at()
    bad = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=0.0)
    good = ep.connection_made(transport="TCP", remote=("192.0.2.3", 5060), local=ME, now=0.0)
    no_length = raw("OPTIONS", transport="TCP").replace(b"Content-Length: 0\r\n", b"")
    ep.receive_stream(bad, no_length, now=0.0)
    events = ep.events()
    assert [type(e) for e in events] == [MalformedMessage, ConnectionClosed]
    (close,) = ep.transmits()
    assert close.close and close.conn == bad and close.data == b""
    ep.receive_stream(bad, raw("OPTIONS"), now=0.1)  # late data for a closed connection
    assert ep.events() == []
    ep.receive_stream(good, raw("OPTIONS", transport="TCP"), now=0.1)
    assert [type(e) for e in ep.events()] == [RequestReceived]


def test_eof_closes_the_connection() -> None:
    ep = ep_at()
    conn = ep.connection_made(transport="TLS", remote=PEER, local=ME, now=0.0)
    ep.receive_stream(conn, b"", now=0.0)
    assert ep.events() == [ConnectionClosed(conn=conn, reason="closed by peer")]
    assert ep.transmits()[0].close
    assert ep.stats()["connections"] == 0


def test_stateless_response_without_target_follows_its_via() -> None:
    ep = ep_at()
    ep.receive_datagram(raw(via_params=";rport"), remote=("203.0.113.5", 7000), local=ME, now=0.0)
    event = received_request(ep)
    ep.send_stateless(make_response(event.request, 200, to_tag="x"), now=0.0)
    assert ep.transmits()[-1].remote == ("203.0.113.5", 7000)


def test_response_received_over_udp_reports_its_source() -> None:
    ep = ep_at(PEER[0])
    ep.send_request(request("OPTIONS"), target=Target("UDP", *ME), now=0.0)
    req = parse_message(ep.transmits()[0].data)
    ep.receive_datagram(bytes(make_response(req, 200)), remote=ME, local=PEER, now=0.1)  # type: ignore[arg-type]
    event = ep.events()[0]
    assert isinstance(event, ResponseReceived) and event.source.remote == ME
