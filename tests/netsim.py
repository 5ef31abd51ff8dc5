"""A virtual-time network of Endpoints: seeded latency, loss, duplication, reordering.

The simulator plays the adapter's part for every node exactly as the driving loop
of the Endpoint docs says: after each input it drains events (handing each to the
node's handler, which may issue commands), sends every transmit, and arms one
wake-up at ``get_next_timer()``. Nothing sleeps and nothing touches a socket: time
jumps from one scheduled happening to the next.

UDP datagrams can be lost, duplicated and delayed out of order. Stream transports
(TCP, TLS) are reliable and ordered per connection; a Transmit with ``conn=None``
opens a connection (both ends get ``connection_made``), one to an address nobody
listens on fails with ``transport_error``.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sipsans import (
    ConnHandle,
    Endpoint,
    EndpointConfig,
    Event,
    Transmit,
)
from sipsans.transport import Address, is_reliable

Handler = Callable[["Node", Event], None]


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
        return self.data.split(b"\r\n", 1)[0].decode("utf-8", "replace")


@dataclass
class Node:
    name: str
    host: str
    port: int
    ep: Endpoint
    net: Net
    handler: Handler | None = None
    log: list[tuple[float, Event]] = field(default_factory=list)
    wakes: set[float] = field(default_factory=set)

    @property
    def address(self) -> Address:
        return (self.host, self.port)

    @property
    def events(self) -> list[Event]:
        return [event for _, event in self.log]

    def of_type(self, kind: type) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind)]


@dataclass
class _Pipe:
    """One direction of a stream connection."""

    src: Node
    src_conn: ConnHandle
    dst: Node
    dst_conn: ConnHandle
    last_delivery: float = 0.0
    open: bool = True


class Net:
    """N nodes on one virtual clock."""

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
        self.rng = random.Random(seed)
        self.latency = latency
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.reorder_delay = reorder_delay
        self.now = start
        self.nodes: dict[str, Node] = {}
        self._by_address: dict[Address, Node] = {}
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._pipes: dict[tuple[str, int], _Pipe] = {}  # (node, conn id) -> outgoing pipe
        self._ephemeral = itertools.count(40000)
        self.wire: list[Wire] = []
        self.steps = 0

    # -- building ---------------------------------------------------------------

    def add(
        self,
        name: str,
        host: str,
        port: int = 5060,
        *,
        config: EndpointConfig | None = None,
        handler: Handler | None = None,
    ) -> Node:
        if config is None:
            config = EndpointConfig(advertised_host=host, advertised_port=port)
        ep = Endpoint(config, rng=random.Random(self.rng.getrandbits(32)))
        node = Node(name, host, port, ep, self, handler)
        self.nodes[name] = node
        self._by_address[(host, port)] = node
        return node

    # -- scheduling -------------------------------------------------------------

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action`` at virtual time ``when`` (not before now)."""
        heapq.heappush(self._queue, (max(when, self.now), next(self._seq), action))

    def call(self, node: Node, command: Callable[[float], object]) -> object:
        """Run ``command(now)`` against a node now, then pump it (like an app call)."""
        result = command(self.now)
        self.pump(node)
        return result

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
        """Run until nothing is scheduled (or until virtual time ``until``)."""
        for _ in range(max_steps):
            if not self._queue or (until is not None and self._queue[0][0] > until):
                if until is not None:
                    self.now = max(self.now, until)
                return
            self.step()
        raise AssertionError(f"drive() did not settle within {max_steps} steps")

    @property
    def idle(self) -> bool:
        return not self._queue

    # -- the adapter loop ---------------------------------------------------------

    def pump(self, node: Node) -> None:
        """Drain events (handler may issue commands), send transmits, arm the wake-up."""
        ep = node.ep
        while True:
            event = ep.next_event()
            if event is None:
                transmits = ep.transmits()
                if not transmits:
                    break
                for transmit in transmits:
                    self._send(node, transmit)
                continue
            node.log.append((self.now, event))
            if node.handler is not None:
                node.handler(node, event)
        deadline = ep.get_next_timer()
        if deadline is not None and deadline not in node.wakes:
            node.wakes.add(deadline)
            self.at(deadline, lambda: self._wake(node, deadline))

    def _wake(self, node: Node, deadline: float) -> None:
        node.wakes.discard(deadline)
        node.ep.handle_timer(now=self.now)
        self.pump(node)

    def _delay(self) -> float:
        low, high = self.latency
        delay = self.rng.uniform(low, high)
        if self.reorder and self.rng.random() < self.reorder:
            delay += self.rng.uniform(0, self.reorder_delay)
        return delay

    def _send(self, node: Node, t: Transmit) -> None:
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

    def _datagram(self, dst: Node, src: Node, t: Transmit) -> Callable[[], None]:
        def deliver() -> None:
            dst.ep.receive_datagram(
                t.data, remote=src.address, local=dst.address, transport=t.transport, now=self.now
            )
            self.pump(dst)

        return deliver

    def _send_stream(self, node: Node, t: Transmit, record: Wire) -> None:
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
            mine = node.ep.connection_made(
                transport=t.transport, remote=t.remote, local=local, now=self.now
            )
            theirs = dst.ep.connection_made(
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

        def deliver() -> None:
            # Data written before a close still arrives; a closed receiver ignores it.
            pipe.dst.ep.receive_stream(pipe.dst_conn, data, now=self.now)
            self.pump(pipe.dst)

        self.at(when, deliver)

    def _refused(self, node: Node, token: int) -> None:
        node.ep.transport_error(token, now=self.now)
        self.pump(node)

    def _close(self, node: Node, t: Transmit) -> None:
        assert t.conn is not None
        pipe = self._pipes.get((node.name, t.conn.id))
        if pipe is None or not pipe.open:
            return
        pipe.open = False
        back = self._pipes.get((pipe.dst.name, pipe.dst_conn.id))
        when = max(self.now + self._delay(), pipe.last_delivery)

        def eof() -> None:
            if back is not None and back.open:
                back.open = False
                pipe.dst.ep.receive_stream(pipe.dst_conn, b"", now=self.now)
                self.pump(pipe.dst)

        self.at(when, eof)

    def reset(self, node: Node, conn: ConnHandle) -> None:
        """The connection breaks: both ends get connection_lost now."""
        pipe = self._pipes.get((node.name, conn.id))
        if pipe is None:
            return
        back = self._pipes.get((pipe.dst.name, pipe.dst_conn.id))
        pipe.open = False
        if back is not None:
            back.open = False
        node.ep.connection_lost(conn, now=self.now)
        self.pump(node)
        pipe.dst.ep.connection_lost(pipe.dst_conn, now=self.now)
        self.pump(pipe.dst)
