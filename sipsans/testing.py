"""A virtual-time test network for SIP applications: seeded latency, loss, duplication, reordering.

:class:`Net` plays the adapter's part for every node exactly as the driving loop of
the Endpoint docs says: after each input it drains events (handing each to the
node's handler, which may issue commands), sends every transmit, and arms one
wake-up at ``get_next_timer()``. Nothing sleeps and nothing touches a socket: time
jumps from one scheduled happening to the next, so a test of a 32-second timeout
runs in microseconds and the same seed always gives the same run.

A node's core is anything with the pull surface of :class:`sipsans.Endpoint`
(:class:`SipCore`): an Endpoint, a UserAgent, a :class:`sipsans.tools.trace.Recorder`
wrapping either, or your own object built on them.

.. code-block:: python

    net = Net(seed=7, loss=0.2)
    alice = net.add("alice", "192.0.2.1")
    bob = net.add("bob", "192.0.2.2", handler=answer_200)
    net.call(alice, lambda now: alice.core.send_request(req, target=bob.target(), now=now))
    net.drive()                       # until nothing is scheduled
    assert alice.of_type(ResponseReceived)

UDP datagrams can be lost, duplicated and delayed out of order. Stream transports
(TCP, TLS, ...) are reliable and ordered per connection; a Transmit with ``conn=None``
opens a connection (both ends get ``connection_made``), one to an address nobody
listens on fails with ``transport_error`` after one latency.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from .config import EndpointConfig
from .transaction.endpoint import Endpoint
from .transaction.surface import SipCore
from .transaction.transport import Address, ConnHandle, Target, Transmit, is_reliable
from .ua.events import Event

__all__ = ["Handler", "Net", "Node", "SipCore", "Wire"]


C = TypeVar("C", bound=SipCore)
E = TypeVar("E")

#: Called with the node and each event it emits; may issue commands on ``node.core``.
Handler = Callable[["Node[Any]", Any], None]


@dataclass
class Wire:
    """One transmit as it left a node (before loss)."""

    time: float
    src: str
    dst: Address
    transport: str
    data: bytes
    delivered: bool = True

    @property
    def first_line(self) -> str:
        """The start line, decoded leniently (``"INVITE sip:bob@b SIP/2.0"``)."""
        return self.data.split(b"\r\n", 1)[0].decode("utf-8", "replace")


@dataclass
class Node(Generic[C]):
    """One SIP element on the network: a name, an address and its core."""

    name: str
    host: str
    port: int
    core: C
    net: Net
    handler: Handler | None = None
    #: Every event the node emitted, with the virtual time it was emitted at.
    log: list[tuple[float, Event]] = field(default_factory=list)
    wakes: set[float] = field(default_factory=set)

    @property
    def ep(self) -> C:
        """The node's core (the name the transaction tests use)."""
        return self.core

    @property
    def address(self) -> Address:
        return (self.host, self.port)

    def target(self, transport: str = "UDP") -> Target:
        """A :class:`sipsans.Target` that reaches this node."""
        return Target(transport, self.host, self.port)

    @property
    def events(self) -> list[Event]:
        return [event for _, event in self.log]

    def of_type(self, kind: type[E]) -> list[E]:
        """The node's events of one type, in order."""
        return [event for event in self.events if isinstance(event, kind)]


@dataclass
class _Pipe:
    """One direction of a stream connection."""

    src: Node[Any]
    src_conn: ConnHandle
    dst: Node[Any]
    dst_conn: ConnHandle
    last_delivery: float = 0.0
    open: bool = True


class Net:
    """N nodes on one virtual clock.

    ``latency`` is the (low, high) range of one-way delays drawn uniformly; ``loss``,
    ``duplicate`` and ``reorder`` are per-datagram probabilities (a reordered
    datagram gets up to ``reorder_delay`` extra seconds). Every draw comes from
    ``random.Random(seed)``, and so do the nodes' own rngs.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        latency: tuple[float, float] = (0.01, 0.05),
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        reorder_delay: float = 0.3,
        start: float = 0.0,
    ) -> None:
        for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"Net {name} must be a probability in [0, 1], not {p}")
        if not 0.0 <= latency[0] <= latency[1]:
            raise ValueError(f"Net latency must be (low, high) with 0 <= low <= high: {latency}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.latency = latency
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.reorder_delay = reorder_delay
        self.now = start
        self.nodes: dict[str, Node[Any]] = {}
        self._by_address: dict[Address, Node[Any]] = {}
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._pipes: dict[tuple[str, int], _Pipe] = {}  # (node, conn id) -> outgoing pipe
        self._ephemeral = itertools.count(40000)
        #: Every transmit sent on the network, in sending order.
        self.wire: list[Wire] = []
        self.steps = 0

    # -- building ---------------------------------------------------------------

    def node_seed(self) -> int:
        """A seed for a new node's rng, drawn from the network's seed."""
        return self.rng.getrandbits(32)

    @overload
    def add(
        self,
        name: str,
        host: str,
        port: int = ...,
        *,
        config: EndpointConfig | None = ...,
        handler: Handler | None = ...,
        core: None = ...,
    ) -> Node[Endpoint]: ...

    @overload
    def add(
        self,
        name: str,
        host: str,
        port: int = ...,
        *,
        config: None = ...,
        handler: Handler | None = ...,
        core: C,
    ) -> Node[C]: ...

    def add(
        self,
        name: str,
        host: str,
        port: int = 5060,
        *,
        config: EndpointConfig | None = None,
        handler: Handler | None = None,
        core: Any = None,
    ) -> Node[Any]:
        """Put a node at ``host:port``.

        Without ``core`` the node is a fresh :class:`sipsans.Endpoint` (``config``,
        default advertising ``host:port``) whose rng is seeded from the network's.
        """
        if name in self.nodes or (host, port) in self._by_address:
            raise ValueError(f"a node named {name!r} or at {host}:{port} already exists")
        if core is None:
            if config is None:
                config = EndpointConfig(advertised_host=host, advertised_port=port)
            core = Endpoint(config, rng=random.Random(self.node_seed()))
        elif config is not None:
            raise ValueError("pass either core= or config=, not both")
        node: Node[Any] = Node(name, host, port, core, self, handler)
        self.nodes[name] = node
        self._by_address[(host, port)] = node
        return node

    # -- scheduling -------------------------------------------------------------

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action`` at virtual time ``when`` (not before now)."""
        heapq.heappush(self._queue, (max(when, self.now), next(self._seq), action))

    def call(self, node: Node[Any], command: Callable[[float], E]) -> E:
        """Run ``command(now)`` against a node now, then pump it (like an app call)."""
        result = command(self.now)
        self.pump(node)
        return result

    def call_at(self, when: float, node: Node[Any], command: Callable[[float], object]) -> None:
        """Schedule ``command(now)`` against ``node`` at virtual time ``when``."""

        def run() -> None:
            self.call(node, command)

        self.at(when, run)

    def step(self) -> bool:
        """Run the next happening; False when nothing is left."""
        if not self._queue:
            return False
        when, _, action = heapq.heappop(self._queue)
        self.now = max(self.now, when)
        self.steps += 1
        action()
        return True

    def drive(self, until: float | None = None, max_steps: int = 1_000_000) -> None:
        """Run until nothing is scheduled, or until virtual time ``until``.

        With ``until`` the clock ends exactly there, even when the network went
        quiet earlier. Raises AssertionError when ``max_steps`` happenings did not
        settle it (a retransmission loop that never ends is a bug worth a failure).
        """
        for _ in range(max_steps):
            if not self._queue or (until is not None and self._queue[0][0] > until):
                if until is not None:
                    self.now = max(self.now, until)
                return
            self.step()
        raise AssertionError(f"drive() did not settle within {max_steps} steps")

    def drive_for(self, seconds: float) -> None:
        """Advance the virtual clock by ``seconds``, running everything due meanwhile."""
        self.drive(until=self.now + seconds)

    @property
    def idle(self) -> bool:
        """Nothing is scheduled: no datagram in flight, no timer armed."""
        return not self._queue

    def next_time(self) -> float | None:
        """When the next happening is due, or None when idle."""
        return self._queue[0][0] if self._queue else None

    # -- the adapter loop ---------------------------------------------------------

    def pump(self, node: Node[Any]) -> None:
        """Drain events (handler may issue commands), send transmits, arm the wake-up."""
        core = node.core
        while True:
            events = core.events()
            if events:
                for event in events:
                    node.log.append((self.now, event))
                    if node.handler is not None:
                        node.handler(node, event)
                continue
            transmits = core.transmits()
            if not transmits:
                break
            for transmit in transmits:
                self._send(node, transmit)
        deadline = core.get_next_timer()
        if deadline is not None and deadline not in node.wakes:
            node.wakes.add(deadline)
            self.at(deadline, lambda: self._wake(node, deadline))

    def _wake(self, node: Node[Any], deadline: float) -> None:
        node.wakes.discard(deadline)
        node.core.handle_timer(now=self.now)
        self.pump(node)

    def _delay(self) -> float:
        low, high = self.latency
        delay = self.rng.uniform(low, high)
        if self.reorder and self.rng.random() < self.reorder:
            delay += self.rng.uniform(0, self.reorder_delay)
        return delay

    def _send(self, node: Node[Any], t: Transmit) -> None:
        if t.close:
            self._close(node, t)
            return
        record = Wire(self.now, node.name, t.remote, t.transport, t.data)
        self.wire.append(record)
        if is_reliable(t.transport):
            self._send_stream(node, t, record)
            return
        dst = self._by_address.get(t.remote)
        if dst is None or (self.loss and self.rng.random() < self.loss):
            record.delivered = False
            return
        copies = 2 if self.duplicate and self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            self.at(self.now + self._delay(), self._datagram(dst, node, t))

    def _datagram(self, dst: Node[Any], src: Node[Any], t: Transmit) -> Callable[[], None]:
        def deliver() -> None:
            dst.core.receive_datagram(
                t.data, remote=src.address, local=dst.address, transport=t.transport, now=self.now
            )
            self.pump(dst)

        return deliver

    def _send_stream(self, node: Node[Any], t: Transmit, record: Wire) -> None:
        pipe = self._pipes.get((node.name, t.conn.id)) if t.conn is not None else None
        if pipe is None:
            dst = self._by_address.get(t.remote)
            if dst is None or t.conn is not None:
                record.delivered = False
                token = t.token
                # Connection refused (or the connection is gone) after one latency.
                self.at(self.now + self._delay(), lambda: self._refused(node, token))
                return
            local = (node.host, next(self._ephemeral))
            mine = node.core.connection_made(
                transport=t.transport, remote=t.remote, local=local, now=self.now
            )
            theirs = dst.core.connection_made(
                transport=t.transport, remote=local, local=dst.address, now=self.now
            )
            pipe = _Pipe(node, mine, dst, theirs)
            self._pipes[(node.name, mine.id)] = pipe
            self._pipes[(dst.name, theirs.id)] = _Pipe(dst, theirs, node, mine)
        if not pipe.open:
            record.delivered = False
            return
        when = max(self.now + self._delay(), pipe.last_delivery)
        pipe.last_delivery = when
        data = t.data
        live = pipe

        def deliver() -> None:
            # Data written before a close still arrives; a closed receiver ignores it.
            live.dst.core.receive_stream(live.dst_conn, data, now=self.now)
            self.pump(live.dst)

        self.at(when, deliver)

    def _refused(self, node: Node[Any], token: int) -> None:
        node.core.transport_error(token, now=self.now)
        self.pump(node)

    def _close(self, node: Node[Any], t: Transmit) -> None:
        if t.conn is None:
            return
        pipe = self._pipes.get((node.name, t.conn.id))
        if pipe is None or not pipe.open:
            return
        pipe.open = False
        back = self._pipes.get((pipe.dst.name, pipe.dst_conn.id))
        when = max(self.now + self._delay(), pipe.last_delivery)

        def eof() -> None:
            if back is not None and back.open:
                back.open = False
                pipe.dst.core.receive_stream(pipe.dst_conn, b"", now=self.now)
                self.pump(pipe.dst)

        self.at(when, eof)

    def reset(self, node: Node[Any], conn: ConnHandle) -> None:
        """The connection breaks: both ends get connection_lost now."""
        pipe = self._pipes.get((node.name, conn.id))
        if pipe is None:
            return
        back = self._pipes.get((pipe.dst.name, pipe.dst_conn.id))
        pipe.open = False
        if back is not None:
            back.open = False
        node.core.connection_lost(conn, now=self.now)
        self.pump(node)
        pipe.dst.core.connection_lost(pipe.dst_conn, now=self.now)
        self.pump(pipe.dst)

    # -- pytest helpers -------------------------------------------------------------

    def first_lines(self, *, delivered_only: bool = False) -> list[tuple[str, str]]:
        """``(sender, start line)`` of every message on the wire, in sending order."""
        return [
            (w.src, w.first_line)
            for w in self.wire
            if w.data.strip() and (w.delivered or not delivered_only)
        ]

    def assert_quiet(self) -> None:
        """Fail unless nothing is scheduled (every timer ran out, no datagram in flight)."""
        if self._queue:
            raise AssertionError(
                f"the network is not quiet: {len(self._queue)} happenings left, "
                f"the next at t={self._queue[0][0]}"
            )
