"""Reach a domain's servers the RFC 3263 way: NAPTR, SRV and A records, then fail over.

No network and no DNS server: a small zone in a dict plays DNS, and the call runs on
``sipsans.testing.Net``, a virtual network on one virtual clock. That is the sans-IO
split in full: ``sipsans.locate.Planner`` says which record sets it needs and turns the
answers into ordered targets; the UserAgent sends the INVITE to the first and, when a
target fails (here a 503 from the first SRV server), sends it again, in a new client
transaction, to the next one (RFC 3263 §4.3), reporting ``TargetFailed``. A real
program asks a DNS server instead (``sipsans_session.resolve.Resolver``, or
``Session(..., locate=True)`` which does it for every request; docs/reaching-servers.md).

Run it from the repository root:

    python examples/locate_failover.py
"""

from __future__ import annotations

import random
import sys
from typing import Any

import sipsans
from sipsans.locate import AddressRecord, NaptrRecord, Planner, Record, SrvRecord
from sipsans.testing import Net, Node

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)

#: The zone of example.com: UDP by NAPTR, two SRV servers (the first is overloaded).
ZONE: dict[tuple[str, str], list[Record]] = {
    ("NAPTR", "example.com"): [
        NaptrRecord(
            name="example.com",
            order=10,
            preference=50,
            flags="s",
            service="SIP+D2U",
            regexp="",
            replacement="_sip._udp.example.com",
            ttl=3600,
        )
    ],
    ("SRV", "_sip._udp.example.com"): [
        SrvRecord(
            name="_sip._udp.example.com",
            priority=10,
            weight=0,
            port=5060,
            target="busy.example.com",
            ttl=600,
        ),
        SrvRecord(
            name="_sip._udp.example.com",
            priority=20,
            weight=0,
            port=5060,
            target="bob.example.com",
            ttl=600,
        ),
    ],
    ("A", "busy.example.com"): [
        AddressRecord(name="busy.example.com", address="192.0.2.3", ttl=300)
    ],
    ("A", "bob.example.com"): [AddressRecord(name="bob.example.com", address="192.0.2.2", ttl=300)],
}


def locate(uri: str, now: float) -> list[sipsans.Target]:
    """RFC 3263 §4 for ``uri``, with the zone above as DNS."""
    plan = Planner(uri, rng=random.Random(1), transports=["UDP"])
    while (query := plan.next_query()) is not None:
        print(f"dns: {query}")
        plan.answer(query, ZONE.get((query.kind, query.name), []), now=now)
    return plan.targets()


def user_agent(net: Net, name: str, host: str) -> sipsans.UserAgent:
    endpoint = sipsans.Endpoint(
        sipsans.EndpointConfig(advertised_host=host), rng=random.Random(net.node_seed())
    )
    return sipsans.UserAgent(
        endpoint, identity=f"sip:{name}@example.com", rng=random.Random(net.node_seed())
    )


def overloaded(node: Node[Any], event: object) -> None:
    """The first SRV server: every request gets 503 Service Unavailable."""
    if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
        busy = sipsans.make_response(event.request, 503, headers=[("Retry-After", "60")])
        node.core.send_response(event.txn, busy, now=node.net.now)


def bob_answers(node: Node[Any], event: object) -> None:
    if isinstance(event, sipsans.IncomingCall):
        event.dialog.accept(body=SDP, now=node.net.now)


def main() -> int:
    net = Net(seed=7)
    alice = net.add("alice", "192.0.2.1", core=user_agent(net, "alice", "192.0.2.1"))
    net.add("busy", "192.0.2.3", handler=overloaded)
    net.add("bob", "192.0.2.2", core=user_agent(net, "bob", "192.0.2.2"), handler=bob_answers)

    targets = locate("sip:bob@example.com", now=net.now)
    print("targets:", ", ".join(f"{t.transport} {t.host}:{t.port}" for t in targets))
    call = net.call(
        alice,
        lambda now: alice.core.invite("sip:bob@example.com", body=SDP, targets=targets, now=now),
    )
    net.drive(until=5.0)

    for event in alice.events:
        if isinstance(event, sipsans.TargetFailed):
            following = event.next_target.host if event.next_target else "none left"
            print(f"alice: left {event.target.host}: {event.reason}; next {following}")
    print(f"alice: call {call.state.value}")
    if call.state is not sipsans.DialogState.CONFIRMED:
        print("failed: the call was not answered", file=sys.stderr)
        return 1
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    print("ok: failed over from the overloaded server to the next SRV target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
