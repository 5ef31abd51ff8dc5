"""Many transactions over a lossy, duplicating, reordering network (virtual time).

The application on each node behaves like a minimal UA: a UAS answers every request
(INVITEs with 180 first), retransmits its 2xx until the ACK arrives (§13.3.1.4), and
a UAC ACKs every 2xx statelessly (§13.2.2.4). The assertions are the RFC's promises:
every client transaction ends exactly once, with its final response or with Timer
B/F at exactly 64*T1, retransmissions stay on schedule, and no state is left.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from netsim import Net, Node
from txhelpers import request

from sipsans import (
    CancelReceived,
    ClientTxn,
    EndpointConfig,
    Event,
    LocalProtocolError,
    Request,
    RequestReceived,
    ResponseReceived,
    ServerTxn,
    Target,
    TimerKind,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
    make_response,
)


@dataclass
class App:
    """Test application state shared by the handlers."""

    rng: random.Random
    statuses: tuple[int, ...] = (200, 486, 404, 603)
    delay: tuple[float, float] = (0.0, 3.0)
    acked: set[str] = field(default_factory=set)

    def uas(self, node: Node, event: Event) -> None:
        if isinstance(event, RequestReceived):
            if event.txn is None:
                self.acked.add(event.request.call_id)  # ACK for a 2xx
                return
            txn, req = event.txn, event.request
            net = node.net
            if req.method == "INVITE":
                node.ep.send_response(txn, make_response(req, 180, to_tag="uas"), now=net.now)
            status = self.rng.choice(self.statuses)
            when = net.now + self.rng.uniform(*self.delay)
            net.at(when, lambda: self.final(node, txn, req, status, 0.5))

    def final(self, node: Node, txn: ServerTxn, req: Request, status: int, interval: float) -> None:
        net = node.net
        try:
            node.ep.send_response(txn, make_response(req, status, to_tag="uas"), now=net.now)
        except LocalProtocolError:
            return  # cancelled (487 sent), failed, or the transaction ended (Timer L)
        net.pump(node)
        if req.method == "INVITE" and 200 <= status < 300 and req.call_id not in self.acked:
            # §13.3.1.4: the UAS core retransmits its 2xx, T1 doubling up to T2.
            net.at(
                net.now + interval,
                lambda: self.final(node, txn, req, status, min(2 * interval, 4.0)),
            )

    def uac(self, node: Node, event: Event) -> None:
        if isinstance(event, ResponseReceived) and event.response.cseq.method == "INVITE":
            resp = event.response
            if 200 <= resp.status_code < 300:
                ack = request("ACK", call_id=resp.call_id, to_tag=resp.to.tag)
                target = Target("UDP", *event.source.remote)
                node.ep.send_stateless(ack, target=target, now=node.net.now)


def client_story(node: Node, txn: ClientTxn) -> list[tuple[float, Event]]:
    return [(t, e) for t, e in node.log if getattr(e, "txn", None) == txn]


def check_client(node: Node, txn: ClientTxn, started: float, method: str) -> str:
    """Assert the RFC's promise for one client transaction; return how it ended."""
    story = client_story(node, txn)
    ends = [t for t, e in story if isinstance(e, TransactionTerminated)]
    assert len(ends) == 1, story
    assert isinstance(story[-1][1], TransactionTerminated)
    finals = [
        (t, e)
        for t, e in story
        if isinstance(e, ResponseReceived) and e.response.status_code >= 200
    ]
    timeouts = [(t, e) for t, e in story if isinstance(e, TransactionTimedOut)]
    if timeouts:
        assert not finals and len(timeouts) == 1
        when, timeout = timeouts[0]
        assert isinstance(timeout, TransactionTimedOut)
        assert timeout.timer in (TimerKind.B, TimerKind.F)
        assert when == started + 32.0  # Timer B / F = 64*T1 exactly
        return "timeout"
    assert finals, story
    first_final = finals[0][1]
    assert isinstance(first_final, ResponseReceived)
    code = first_final.response.status_code
    if method != "INVITE" or code >= 300:
        assert len(finals) == 1  # Completed absorbs retransmitted finals
    linger = 5.0 if method != "INVITE" else 32.0  # K = T4; D = 32 s; M = 64*T1
    assert ends[0] == finals[0][0] + linger
    return "completed"


def lossy_run(seed: int, n: int) -> tuple[Net, list[str]]:
    rng = random.Random(seed)
    app = App(rng)
    net = Net(seed, loss=0.2, duplicate=0.1, reorder=0.2)
    a = net.add("a", "192.0.2.1", handler=app.uac)
    b = net.add("b", "192.0.2.2", handler=app.uas)
    started: list[tuple[ClientTxn, float, str]] = []
    for i in range(n):
        method = "INVITE" if i % 2 else rng.choice(["OPTIONS", "REGISTER", "MESSAGE"])

        def send(method: str = method, i: int = i) -> None:
            txn = a.ep.send_request(
                request(method, call_id=f"c{i}", cseq=i + 1),
                target=Target("UDP", *b.address),
                now=net.now,
            )
            started.append((txn, net.now, method))
            net.pump(a)

        net.at(rng.uniform(0, 5), send)
    net.drive()
    outcomes = [check_client(a, txn, t0, method) for txn, t0, method in started]
    for node in (a, b):
        assert all(v == 0 for v in node.ep.stats().values()), node.ep.stats()
    server_txns = {e.txn for e in b.events if isinstance(e, RequestReceived) and e.txn}
    ended = {e.txn for e in b.events if isinstance(e, TransactionTerminated)}
    assert server_txns <= ended
    return net, outcomes


def test_twenty_percent_loss_with_duplication_and_reordering() -> None:
    net, outcomes = lossy_run(11, 60)
    assert outcomes.count("completed") > 40  # most survive 20% loss thanks to retransmission
    assert len([w for w in net.wire if not w.delivered]) > 10  # the loss was real


def test_lossy_runs_with_other_seeds() -> None:
    for seed in (1, 2, 3):
        lossy_run(seed, 20)


def test_retransmissions_keep_their_schedule_under_loss() -> None:
    net = Net(5, loss=0.5, duplicate=0.2, reorder=0.3)
    a = net.add("a", "192.0.2.1")
    # b's TU never answers and b sends no 100 Trying, so nothing stops Timer A.
    net.add("b", "192.0.2.2", config=EndpointConfig(advertised_host="192.0.2.2", trying_delay=None))
    net.call(
        a,
        lambda now: a.ep.send_request(
            request("INVITE"), target=Target("UDP", "192.0.2.2", 5060), now=now
        ),
    )
    net.drive()
    sent = [round(w.time, 6) for w in net.wire if w.src == "a"]
    assert sent == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]


def test_cancel_races_over_a_lossy_network() -> None:
    rng = random.Random(4)
    app = App(rng, statuses=(200, 486), delay=(1.0, 6.0))
    net = Net(4, loss=0.2, duplicate=0.1, reorder=0.2)
    a = net.add("a", "192.0.2.1", handler=app.uac)
    b = net.add("b", "192.0.2.2", handler=app.uas)
    txns: list[ClientTxn] = []
    for i in range(30):

        def call(i: int = i) -> None:
            txn = a.ep.send_request(
                request("INVITE", call_id=f"x{i}"), target=Target("UDP", *b.address), now=net.now
            )
            txns.append(txn)
            net.pump(a)

            def cancel() -> None:
                a.ep.cancel(txn, now=net.now)
                net.pump(a)

            net.at(net.now + rng.uniform(0, 4), cancel)

        net.at(rng.uniform(0, 3), call)
    net.drive()
    for txn in txns:
        assert (
            len([e for e in client_story(a, txn) if isinstance(e[1], TransactionTerminated)]) == 1
        )
    assert any(isinstance(e, CancelReceived) for e in b.events)
    for node in (a, b):
        assert all(v == 0 for v in node.ep.stats().values()), node.ep.stats()


# -- random operation sequences ---------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["invite", "options", "cancel", "reset", "nobody", "wait"]),
        st.sampled_from(["UDP", "TCP"]),
        st.floats(0, 5),
    ),
    max_size=25,
)


@settings(max_examples=60)
@given(OPS, st.integers(0, 2**16))
def test_random_operations_always_end_clean(ops: list[tuple[str, str, float]], seed: int) -> None:
    rng = random.Random(seed)
    app = App(rng, statuses=(200, 486, 500), delay=(0.0, 10.0))
    net = Net(seed, loss=0.1, duplicate=0.1, reorder=0.1)
    a = net.add("a", "192.0.2.1", handler=app.uac)
    b = net.add("b", "192.0.2.2", handler=app.uas)
    issued: list[ClientTxn] = []
    for op, transport, pause in ops:
        now = net.now
        if op in ("invite", "options", "nobody"):
            method = "INVITE" if op != "options" else "OPTIONS"
            host = "192.0.2.99" if op == "nobody" else "192.0.2.2"
            req = request(method, call_id=f"r{len(issued)}")
            issued.append(a.ep.send_request(req, target=Target(transport, host, 5060), now=now))
        elif op == "cancel" and issued:
            try:
                cancel = a.ep.cancel(rng.choice(issued), now=now)
            except LocalProtocolError:
                cancel = None  # cancelling an OPTIONS is misuse
            if cancel is not None and cancel not in issued:
                issued.append(cancel)
        elif op == "reset":
            for handle in a.ep._conns.handles():
                net.reset(a, handle)
        net.pump(a)
        net.drive(until=net.now + pause)
    net.drive()
    for txn in issued:
        ends = [e for _, e in client_story(a, txn) if isinstance(e, TransactionTerminated)]
        assert len(ends) == 1, (txn, client_story(a, txn))
    failures = a.of_type(TransportFailed)
    assert all(isinstance(f, TransportFailed) for f in failures)
    for node in (a, b):
        assert all(v == 0 for k, v in node.ep.stats().items() if k != "connections"), (
            node.ep.stats()
        )
