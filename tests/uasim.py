"""UserAgents on the virtual-time network of netsim.

A :class:`~sipsans.UserAgent` has the Endpoint's pull surface, so a netsim
``Node`` drives one unchanged: ``node.ep`` is the UA here. :func:`add_ua` builds
such a node; :class:`Callee` is a scripted application answering calls.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from netsim import Net, Node

from sipsans import (
    Credentials,
    DialogTerminated,
    Endpoint,
    EndpointConfig,
    Event,
    IncomingCall,
    InDialogRequest,
    ServerInviteDialog,
    UAConfig,
    UserAgent,
)

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\n"
)
SDP2 = SDP.replace(b"4000", b"4002")


def add_ua(
    net: Net,
    name: str,
    host: str,
    port: int = 5060,
    *,
    user: str | None = None,
    credentials: Credentials | None = None,
    config: UAConfig | None = None,
    handler: Callable[[Node, Event], None] | None = None,
) -> Node:
    ep = Endpoint(
        EndpointConfig(advertised_host=host, advertised_port=port),
        rng=random.Random(net.rng.getrandbits(32)),
    )
    ua = UserAgent(
        ep,
        identity=f"sip:{user or name}@{host}",
        credentials=credentials,
        config=config,
        rng=random.Random(net.rng.getrandbits(32)),
    )
    node = Node(name, host, port, ua, net, handler)  # type: ignore[arg-type]
    net.nodes[name] = node
    net._by_address[(host, port)] = node
    return node


def ua(node: Node) -> UserAgent:
    agent = node.ep
    assert isinstance(agent, UserAgent)
    return agent


@dataclass
class Callee:
    """Answers each call: ``ring`` seconds of 180, then ``status`` (200 with SDP)."""

    status: int = 200
    ring: float = 0.5
    body: bytes = SDP
    answer_in_dialog: bool = False
    calls: list[ServerInviteDialog] = field(default_factory=list)

    def __call__(self, node: Node, event: Event) -> None:
        net = node.net
        if isinstance(event, IncomingCall):
            dialog = event.dialog
            self.calls.append(dialog)
            dialog.ringing(now=net.now)

            def answer() -> None:
                if dialog.state.value in ("Trying", "Early"):
                    if self.status == 200:
                        dialog.accept(body=self.body, now=net.now)
                    else:
                        dialog.reject(self.status, now=net.now)
                    net.pump(node)

            net.at(net.now + self.ring, answer)
        elif isinstance(event, InDialogRequest) and self.answer_in_dialog and event.txn:
            body = (
                SDP2 if event.request.method in ("INVITE", "UPDATE") and event.request.body else b""
            )
            ua(node).respond(event.txn, 200, body=body, now=net.now)


def terminated(node: Node) -> list[DialogTerminated]:
    return [e for e in node.events if isinstance(e, DialogTerminated)]


def assert_clean(*nodes: Node) -> None:
    """Nothing left: no dialog, transaction, timer or pending answer."""
    for node in nodes:
        stats = ua(node).stats()
        assert all(v == 0 for v in stats.values()), (node.name, stats)
