"""The network simulator itself: deterministic, lossy when asked, streams in order."""

from __future__ import annotations

from netsim import Net, Node
from txhelpers import request

from sipsans import Event, RequestReceived, ResponseReceived, Target, make_response


def answer_200(node: Node, event: Event) -> None:
    if isinstance(event, RequestReceived) and event.txn is not None:
        node.ep.send_response(
            event.txn, make_response(event.request, 200, to_tag="b"), now=node.net.now
        )


def run(seed: int, **kw: float) -> list[tuple[float, str, str]]:
    net = Net(seed, **kw)  # type: ignore[arg-type]
    a = net.add("a", "192.0.2.1")
    net.add("b", "192.0.2.2", handler=answer_200)
    for i in range(5):
        net.call(
            a,
            lambda now: a.ep.send_request(
                request("OPTIONS"), target=Target("UDP", "192.0.2.2", 5060), now=now
            ),
        )
        net.drive(until=net.now + 0.1 * i)
    net.drive()
    return [(w.time, w.src, w.first_line) for w in net.wire]


def test_same_seed_same_run() -> None:
    assert run(3, loss=0.2, duplicate=0.1, reorder=0.2) == run(
        3, loss=0.2, duplicate=0.1, reorder=0.2
    )
    assert run(3, loss=0.2) != run(4, loss=0.2)


def test_lossless_exchange_and_clean_end() -> None:
    net = Net(1)
    a = net.add("a", "192.0.2.1")
    b = net.add("b", "192.0.2.2", handler=answer_200)
    net.call(
        a,
        lambda now: a.ep.send_request(
            request("OPTIONS"), target=Target("UDP", *b.address), now=now
        ),
    )
    net.drive()
    assert len(a.of_type(ResponseReceived)) == 1
    assert a.ep.stats()["transactions"] == b.ep.stats()["transactions"] == 0
    assert net.idle


def test_tcp_connections_are_opened_and_reused() -> None:
    net = Net(2)
    a = net.add("a", "192.0.2.1")
    b = net.add("b", "192.0.2.2", handler=answer_200)
    for _ in range(3):
        net.call(
            a,
            lambda now: a.ep.send_request(
                request("OPTIONS"), target=Target("TCP", *b.address), now=now
            ),
        )
        net.drive()
    assert len(a.of_type(ResponseReceived)) == 3
    assert a.ep.stats()["connections"] == 1 and b.ep.stats()["connections"] == 1


def test_tcp_to_nobody_is_a_transport_error() -> None:
    from sipsans import TransportFailed

    net = Net(2)
    a = net.add("a", "192.0.2.1")
    net.call(
        a,
        lambda now: a.ep.send_request(
            request("OPTIONS"), target=Target("TCP", "192.0.2.99", 5060), now=now
        ),
    )
    net.drive()
    ((when, _),) = [(t, e) for t, e in a.log if isinstance(e, TransportFailed)]
    assert when < 1.0  # after one latency, not after Timer F


def test_drive_until_stops_the_clock() -> None:
    net = Net(1)
    a = net.add("a", "192.0.2.1")
    net.call(
        a,
        lambda now: a.ep.send_request(
            request("INVITE"), target=Target("UDP", "192.0.2.99", 5060), now=now
        ),
    )
    net.drive(until=10.0)
    assert net.now == 10.0
    assert [round(w.time, 6) for w in net.wire] == [0.0, 0.5, 1.5, 3.5, 7.5]
