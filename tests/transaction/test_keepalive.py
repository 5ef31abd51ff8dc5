"""CRLF keep-alives on stream connections (RFC 5626 §3.5.1, §4.4.1), in virtual time:
``Endpoint.keep_alive(conn, interval=...)`` pings, a pong (or any bytes) ends the wait,
silence for 10 s closes the connection with ``ConnectionClosed``."""

from __future__ import annotations

import random

import pytest
from txhelpers import raw

from sipsans import ConnectionClosed, Endpoint, EndpointConfig, LocalProtocolError
from sipsans.transaction.connections import NO_PONG

PEER = ("192.0.2.1", 5060)
ME = ("192.0.2.2", 5060)


def endpoint() -> Endpoint:
    return Endpoint(EndpointConfig(advertised_host=ME[0]), rng=random.Random(3))


@pytest.mark.parametrize("transport", ["TCP", "TLS", "WS", "WSS"])
def test_pings_every_interval_with_jitter_while_pongs_come(transport: str) -> None:
    ep = endpoint()
    conn = ep.connection_made(transport=transport, remote=PEER, local=ME, now=0.0)
    ep.keep_alive(conn, interval=30.0, now=0.0)
    sent_at = []
    now = 0.0
    for _ in range(5):
        deadline = ep.get_next_timer()
        assert deadline is not None
        # §4.4.1: between 80 % and 100 % of the interval after the last pong.
        assert now + 24.0 <= deadline <= now + 30.0
        now = deadline
        ep.handle_timer(now=now)
        (ping,) = ep.transmits()
        assert (ping.data, ping.conn, ping.transport) == (b"\r\n\r\n", conn, transport)
        sent_at.append(now)
        now += 0.05
        ep.receive_stream(conn, b"\r\n", now=now)  # the pong
        assert ep.transmits() == [] and ep.events() == []
    assert len(set(sent_at)) == 5


def test_a_ping_left_unanswered_for_10_s_closes_the_connection() -> None:
    ep = endpoint()
    conn = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=0.0)
    ep.keep_alive(conn, interval=60.0, now=0.0)
    first = ep.get_next_timer()
    assert first is not None
    ep.handle_timer(now=first)
    assert [t.data for t in ep.transmits()] == [b"\r\n\r\n"]
    assert ep.get_next_timer() == pytest.approx(first + 10.0)
    ep.handle_timer(now=first + 9.9)
    assert ep.events() == []
    ep.handle_timer(now=first + 10.0)
    (closed,) = ep.events()
    assert isinstance(closed, ConnectionClosed)
    assert (closed.conn, closed.reason) == (conn, NO_PONG)
    (close,) = ep.transmits()
    assert close.close and close.conn == conn
    assert ep.get_next_timer() is None
    assert ep.stats()["connections"] == 0


def test_any_message_after_the_ping_counts_as_an_answer() -> None:
    ep = endpoint()
    conn = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=0.0)
    ep.keep_alive(conn, interval=60.0, now=0.0)
    first = ep.get_next_timer()
    assert first is not None
    ep.handle_timer(now=first)
    ep.transmits()
    ep.receive_stream(conn, raw("OPTIONS", transport="TCP"), now=first + 1)
    ep.events()
    ep.handle_timer(now=first + 11.0)  # past the 10 s wait for a pong
    assert not any(isinstance(e, ConnectionClosed) for e in ep.events())
    assert ep.stats()["connections"] == 1


def test_stopping_closing_and_misuse() -> None:
    ep = endpoint()
    conn = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=0.0)
    ep.keep_alive(conn, interval=60.0, now=0.0)
    ep.keep_alive(conn, interval=None, now=1.0)
    assert ep.get_next_timer() is None
    ep.keep_alive(conn, interval=60.0, now=2.0)
    ep.connection_lost(conn, now=3.0)
    ep.events()
    deadline = ep.get_next_timer()
    assert deadline is not None
    ep.handle_timer(now=deadline)  # the connection is gone: nothing sent, nothing left
    assert ep.transmits() == [] and ep.get_next_timer() is None
    ep.keep_alive(conn, interval=60.0, now=deadline)  # closed: nothing to keep alive
    assert ep.get_next_timer() is None
    other = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=deadline)
    with pytest.raises(LocalProtocolError, match="interval"):
        ep.keep_alive(other, interval=0.0, now=deadline)
    with pytest.raises(LocalProtocolError):
        from sipsans import ConnHandle

        ep.keep_alive(ConnHandle(99), interval=30.0, now=deadline)
