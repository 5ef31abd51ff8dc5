"""SIP outbound (RFC 5626) in the UserAgent, in virtual time: ``;ob``, ``reg-id`` and
``+sip.instance`` on request, CRLF keep-alives on the registration's flow, and a new
registration over a new flow when the flow fails (``FlowFailed``)."""

from __future__ import annotations

import itertools
import random
from typing import Any, cast

import pytest
from netsim import Net
from uasim import add_ua, ua

from sipsans import (
    ConnectionClosed,
    FlowFailed,
    Registrar,
    RegistrationState,
    Request,
    RequestReceived,
    Target,
    UAConfig,
    parse_message,
)
from sipsans.testing import Node

REGISTRAR = Target("TCP", "192.0.2.10", 5060)


def add_registrar(net: Net, *, flow_timer: int | None = None) -> Node[Any]:
    registrar = Registrar(domains=["192.0.2.10", "192.0.2.1"], rng=random.Random(6))

    def serve(node: Node[Any], event: object) -> None:
        if isinstance(event, RequestReceived) and event.txn is not None:
            response = registrar.handle_register(event.request, now=net.now, source=event.source)
            if flow_timer is not None and response.status_code == 200:
                response.headers.add("Flow-Timer", str(flow_timer))
            node.core.send_response(event.txn, response, now=net.now)

    return net.add("registrar", "192.0.2.10", handler=serve)


def registers(net: Net) -> list[Request]:
    out = []
    for wire in net.wire:
        if wire.src == "alice" and wire.first_line.startswith("REGISTER "):
            message = parse_message(wire.data)
            assert isinstance(message, Request)
            out.append(message)
    return out


def pings(net: Net, src: str = "alice") -> list[float]:
    return [w.time for w in net.wire if w.src == src and w.data == b"\r\n\r\n"]


def state(handle: Any) -> RegistrationState:
    return handle.state  # type: ignore[no-any-return]


def test_outbound_registration_carries_ob_reg_id_and_instance() -> None:
    net = Net(1)
    add_registrar(net)
    alice = add_ua(net, "alice", "192.0.2.1", config=UAConfig(outbound=True))
    handle = net.call(
        alice, lambda now: ua(alice).register("sip:192.0.2.10", target=REGISTRAR, now=now)
    )
    net.drive(until=1.0)
    assert state(handle) is RegistrationState.REGISTERED
    (register,) = registers(net)
    assert register.headers.get("Supported") == "outbound"
    (contact,) = register.contacts
    uri = contact.uri
    assert uri.has_param("ob")  # type: ignore[union-attr]
    assert uri.transport == "tcp"  # type: ignore[union-attr]
    assert contact.param("reg-id") == "1"
    instance = contact.param("+sip.instance")
    assert instance is not None and instance.startswith('"<urn:uuid:')
    assert instance[25] == "4"  # a version 4 UUID (RFC 4122 §4.4)
    # Our Contact in other requests carries ;ob too (RFC 5626 §4.3).
    assert ";ob>" in ua(alice).contact


def test_the_instance_id_is_the_configured_one_and_outbound_can_be_asked_per_registration() -> None:
    net = Net(1)
    add_registrar(net)
    urn = "urn:uuid:00000000-0000-1000-8000-000a95a0e128"
    alice = add_ua(net, "alice", "192.0.2.1", config=UAConfig(instance_id=urn))
    net.call(
        alice,
        lambda now: ua(alice).register("sip:192.0.2.10", target=REGISTRAR, outbound=True, now=now),
    )
    net.drive(until=1.0)
    (contact,) = registers(net)[0].contacts
    assert contact.param("+sip.instance") == f'"<{urn}>"'
    assert ";ob" not in ua(alice).contact  # only the registration asked for outbound


def test_the_flow_is_kept_alive_with_crlf_pings_every_flow_timer() -> None:
    net = Net(1)
    add_registrar(net, flow_timer=30)
    alice = add_ua(net, "alice", "192.0.2.1", config=UAConfig(outbound=True))
    handle = net.call(
        alice,
        lambda now: ua(alice).register("sip:192.0.2.10", expires=3600, target=REGISTRAR, now=now),
    )
    net.drive(until=200.0)
    sent = pings(net)
    assert len(sent) >= 6  # one every 24-30 s (Flow-Timer: 30)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert all(23.9 <= gap <= 30.2 for gap in gaps), gaps
    # The registrar's endpoint answered each (RFC 5626 §3.5.1): the flow lives.
    assert [w.data for w in net.wire if w.src == "registrar"].count(b"\r\n") == len(sent)
    assert state(handle) is RegistrationState.REGISTERED
    assert not alice.of_type(FlowFailed)


def test_keepalives_only_when_asked_for() -> None:
    net = Net(1)
    add_registrar(net)
    alice = add_ua(net, "alice", "192.0.2.1")
    net.call(alice, lambda now: ua(alice).register("sip:192.0.2.10", target=REGISTRAR, now=now))
    net.drive(until=400.0)
    assert pings(net) == []
    net2 = Net(1)
    add_registrar(net2)
    bob = add_ua(net2, "alice", "192.0.2.1", config=UAConfig(keepalive_interval=50.0))
    net2.call(bob, lambda now: ua(bob).register("sip:192.0.2.10", target=REGISTRAR, now=now))
    net2.drive(until=200.0)
    assert len(pings(net2)) >= 4
    with pytest.raises(ValueError, match="keepalive_interval"):
        UAConfig(keepalive_interval=0)


def test_a_failed_flow_is_reported_and_the_aor_registered_again_over_a_new_one() -> None:
    net = Net(1)
    add_registrar(net)
    alice = add_ua(net, "alice", "192.0.2.1", config=UAConfig(outbound=True))
    handle = net.call(
        alice, lambda now: ua(alice).register("sip:192.0.2.10", target=REGISTRAR, now=now)
    )
    net.drive(until=10.0)
    assert state(handle) is RegistrationState.REGISTERED
    flow = handle.flow
    assert flow is not None
    net.reset(alice, flow)  # the connection breaks (a NAT forgot it, the proxy restarted)
    net.drive(until=20.0)
    (failed,) = alice.of_type(FlowFailed)
    assert (failed.aor, failed.conn) == ("sip:alice@192.0.2.1", flow)
    assert [type(e) for e in alice.events].index(ConnectionClosed) < [
        type(e) for e in alice.events
    ].index(FlowFailed)
    assert len(registers(net)) == 2
    assert state(handle) is RegistrationState.REGISTERED
    assert handle.flow is not None and handle.flow != flow
    net.call(alice, lambda now: ua(alice).unregister(now=now))
    net.drive(until=30.0)
    assert state(handle) is RegistrationState.UNREGISTERED


def test_a_silent_flow_fails_after_an_unanswered_ping() -> None:
    """The registrar's host stops answering (its pongs are lost): 10 s after a ping, the
    flow has failed (RFC 5626 §4.4.1) and the UA registers over a new connection."""
    net = Net(1)
    registrar = add_registrar(net, flow_timer=30)
    alice = add_ua(net, "alice", "192.0.2.1", config=UAConfig(outbound=True))
    handle = net.call(
        alice, lambda now: ua(alice).register("sip:192.0.2.10", target=REGISTRAR, now=now)
    )
    net.drive(until=1.0)
    real = registrar.core

    class NoPongs:
        """The registrar's core, its pongs lost on the way out. (A wrapper rather than a
        patched method: the compiled build's Endpoint has no instance attributes to set.)"""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def transmits(self) -> list[Any]:
            return [t for t in real.transmits() if t.data != b"\r\n"]

    registrar.core = cast(Any, NoPongs())
    net.drive(until=50.0)
    (failed,) = alice.of_type(FlowFailed)
    assert "CRLF keep-alive" in failed.reason
    registrar.core = real
    net.drive(until=60.0)
    assert len(registers(net)) == 2
    assert state(handle) is RegistrationState.REGISTERED
