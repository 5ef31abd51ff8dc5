"""sipsans.testing: the public virtual-time network."""

from __future__ import annotations

import random
from typing import Any

import pytest
from txhelpers import request

from sipsans import (
    Endpoint,
    EndpointConfig,
    Event,
    RequestReceived,
    ResponseReceived,
    Target,
    TimerKind,
    TransactionTimedOut,
    Transmit,
    make_response,
)
from sipsans.testing import Net, Node, SipCore
from sipsans.tools.trace import Recorder, replay_transcript


def answer(code: int) -> Any:
    def handler(node: Node[Any], event: Event) -> None:
        if isinstance(event, RequestReceived) and event.txn is not None:
            response = make_response(event.request, code, to_tag="b")
            node.core.send_response(event.txn, response, now=node.net.now)

    return handler


class Wrapped:
    """Any object with the pull surface works as a node's core (here: no next_event)."""

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.inputs = 0

    def receive_datagram(
        self,
        data: bytes,
        *,
        remote: tuple[str, int],
        local: tuple[str, int] | None = None,
        transport: str = "UDP",
        now: float,
    ) -> None:
        self.inputs += 1
        self.ep.receive_datagram(data, remote=remote, local=local, transport=transport, now=now)

    def connection_made(
        self,
        *,
        transport: str,
        remote: tuple[str, int],
        local: tuple[str, int] | None = None,
        now: float,
    ) -> Any:
        return self.ep.connection_made(transport=transport, remote=remote, local=local, now=now)

    def receive_stream(self, conn: Any, data: bytes, *, now: float) -> None:
        self.inputs += 1
        self.ep.receive_stream(conn, data, now=now)

    def connection_lost(self, conn: Any, *, now: float) -> None:
        self.ep.connection_lost(conn, now=now)

    def transport_error(self, token: int, *, now: float, reason: str | None = None) -> None:
        self.ep.transport_error(token, now=now, reason=reason)

    def handle_timer(self, *, now: float) -> None:
        self.ep.handle_timer(now=now)

    def events(self) -> list[Any]:
        return self.ep.events()

    def transmits(self) -> list[Transmit]:
        return self.ep.transmits()

    def get_next_timer(self) -> float | None:
        return self.ep.get_next_timer()

    def send_response(self, txn: Any, response: Any, *, now: float) -> None:
        self.ep.send_response(txn, response, now=now)


def test_a_custom_core_takes_part() -> None:
    net = Net(1)
    alice = net.add("alice", "192.0.2.1")
    wrapped = Wrapped(Endpoint(EndpointConfig(advertised_host="192.0.2.2"), rng=random.Random(2)))
    core: SipCore = wrapped  # the protocol is structural
    bob = net.add("bob", "192.0.2.2", core=core, handler=answer(200))
    assert bob.core is wrapped and bob.ep is wrapped
    net.call(
        alice, lambda now: alice.core.send_request(request("OPTIONS"), target=bob.target(), now=now)
    )
    net.drive()
    assert wrapped.inputs == 1
    (response,) = alice.of_type(ResponseReceived)
    assert response.response.status_code == 200
    net.assert_quiet()


def test_retransmission_instants_are_exact_in_virtual_time() -> None:
    net = Net(3, latency=(0.0, 0.0))
    alice = net.add("alice", "192.0.2.1")
    net.call(
        alice,
        lambda now: alice.core.send_request(
            request("OPTIONS"), target=Target("UDP", "192.0.2.99", 5060), now=now
        ),
    )
    assert net.next_time() == 0.5
    net.drive()
    assert [w.time for w in net.wire] == [
        0.0,
        0.5,
        1.5,
        3.5,
        7.5,
        11.5,
        15.5,
        19.5,
        23.5,
        27.5,
        31.5,
    ]
    assert not any(w.delivered for w in net.wire)
    ((when, timeout),) = [(t, e) for t, e in alice.log if isinstance(e, TransactionTimedOut)]
    assert when == 32.0 and timeout.timer is TimerKind.F
    assert net.next_time() is None and net.idle


def test_drive_for_call_at_and_first_lines() -> None:
    net = Net(4)
    alice = net.add("alice", "192.0.2.1")
    bob = net.add("bob", "192.0.2.2", handler=answer(486))
    net.call_at(
        1.0,
        alice,
        lambda now: alice.core.send_request(request("INVITE"), target=bob.target(), now=now),
    )
    net.drive_for(0.5)
    assert net.now == 0.5 and net.wire == []
    net.drive_for(1.0)
    assert net.now == 1.5
    assert net.first_lines() == [
        ("alice", "INVITE sip:bob@192.0.2.2 SIP/2.0"),
        ("bob", "SIP/2.0 486 Busy Here"),
        ("alice", "ACK sip:bob@192.0.2.2 SIP/2.0"),
    ]
    with pytest.raises(AssertionError, match="not quiet"):
        net.assert_quiet()  # Timer D (32 s) and Timer I are still armed
    net.drive()
    net.assert_quiet()


def test_seeded_loss_duplication_and_reordering_are_reproducible() -> None:
    def run(seed: int) -> list[tuple[float, str, str, bool]]:
        net = Net(seed, loss=0.3, duplicate=0.3, reorder=0.5)
        alice = net.add("alice", "192.0.2.1")
        bob = net.add("bob", "192.0.2.2", handler=answer(200))
        for i in range(10):
            net.call_at(
                i * 0.1,
                alice,
                lambda now, i=i: alice.core.send_request(  # type: ignore[misc]
                    request("MESSAGE", call_id=f"m{i}"), target=bob.target(), now=now
                ),
            )
        net.drive()
        return [(w.time, w.src, w.first_line, w.delivered) for w in net.wire]

    first = run(21)
    assert first == run(21)
    assert first != run(22)
    assert any(not delivered for *_, delivered in first)


def test_tcp_through_recorders_replays() -> None:
    net = Net(6)
    recorders = []
    for name, host in (("alice", "192.0.2.1"), ("bob", "192.0.2.2")):
        seed = net.node_seed()
        config = EndpointConfig(advertised_host=host)
        rec = Recorder(Endpoint(config, rng=random.Random(seed)), seed=seed)
        recorders.append(rec)
        net.add(name, host, core=rec, handler=answer(200) if name == "bob" else None)
    alice, bob = net.nodes["alice"], net.nodes["bob"]
    net.call(
        alice,
        lambda now: alice.core.send_request(request("OPTIONS"), target=bob.target("TCP"), now=now),
    )
    net.drive()
    assert alice.of_type(ResponseReceived)
    for rec in recorders:
        assert replay_transcript(rec.lines), rec.text()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="loss"):
        Net(loss=1.5)
    with pytest.raises(ValueError, match="latency"):
        Net(latency=(0.2, 0.1))
    net = Net()
    net.add("a", "192.0.2.1")
    with pytest.raises(ValueError, match="already exists"):
        net.add("a", "192.0.2.9")
    with pytest.raises(ValueError, match="already exists"):
        net.add("b", "192.0.2.1")
    with pytest.raises(ValueError, match="either core= or config="):
        net.add("c", "192.0.2.3", core=Endpoint(), config=EndpointConfig())  # type: ignore[call-overload]


def test_drive_refuses_to_spin_forever() -> None:
    net = Net()

    def again() -> None:
        net.at(net.now + 1.0, again)

    net.at(0.0, again)
    with pytest.raises(AssertionError, match="did not settle"):
        net.drive(max_steps=50)


def test_connections_close_and_reset() -> None:
    from sipsans import ConnectionClosed

    net = Net(8)
    alice = net.add("alice", "192.0.2.1")
    bob = net.add("bob", "192.0.2.2", handler=answer(200))
    for _ in range(2):
        net.call(
            alice,
            lambda now: alice.core.send_request(
                request("OPTIONS"), target=bob.target("TCP"), now=now
            ),
        )
        net.drive()
    (response, _) = alice.of_type(ResponseReceived)
    conn = response.source.conn
    assert conn is not None
    # A framing error at alice: she closes the connection, bob sees EOF after a latency.
    alice.core.receive_stream(conn, b"garbage\r\n\r\n", now=net.now)
    net.pump(alice)
    net.drive()
    assert [e.reason for e in bob.of_type(ConnectionClosed)] == ["closed by peer"]
    assert len(alice.of_type(ConnectionClosed)) == 1
    # A new connection, then the network breaks it: both ends hear of it at once.
    net.call(
        alice,
        lambda now: alice.core.send_request(request("OPTIONS"), target=bob.target("TCP"), now=now),
    )
    net.drive()
    conn = alice.of_type(ResponseReceived)[-1].source.conn
    assert conn is not None
    net.reset(alice, conn)
    assert [e.reason for e in alice.of_type(ConnectionClosed)][-1] == "connection lost"
    assert [e.reason for e in bob.of_type(ConnectionClosed)][-1] == "connection lost"
    net.reset(alice, conn)  # already gone: nothing happens
