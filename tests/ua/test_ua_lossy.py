"""The same call flows over a network with 20% loss, duplication and reordering.

Every call must reach the end state its script implies, and nothing may leak:
every dialog, transaction and timer is gone once the network is quiet.
"""

from __future__ import annotations

import pytest
from netsim import Net
from uasim import SDP, SDP2, Callee, add_ua, assert_clean, ua

from sipsans import DialogState, TerminatedReason


@pytest.mark.parametrize("seed", range(6))
def test_calls_survive_loss_duplication_reordering(seed: int) -> None:
    net = Net(seed, loss=0.2, duplicate=0.1, reorder=0.2)
    alice = add_ua(net, "alice", "192.0.2.1")
    callee = Callee(answer_in_dialog=True)
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    calls = []
    for i in range(8):
        kind = ["bye-alice", "bye-bob", "cancel", "reinvite"][i % 4]
        start = i * 0.7

        def place(kind: str = kind) -> None:
            call = ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=net.now)
            net.pump(alice)
            calls.append((kind, call))

        net.at(start, place)
    net.drive(until=0.3)
    for _ in range(8):
        net.drive(until=net.now + 0.7)
    # Scripts: act at t=15 s (calls settled by then despite loss), hang up at t=25 s.
    net.drive(until=15.0)
    for kind, call in calls:
        if kind == "reinvite" and call.state is DialogState.CONFIRMED:
            call.reinvite(body=SDP2, now=net.now)
            net.pump(alice)
    net.drive(until=25.0)
    for kind, call in calls:
        if kind == "bye-bob":
            server = next(c for c in callee.calls if c.id.call_id == call.id.call_id)
            server.hangup(now=net.now)
            net.pump(bob)
        else:
            call.hangup(now=net.now)
            net.pump(alice)
    net.drive()
    for kind, call in calls:
        assert call.state is DialogState.TERMINATED, (kind, call)
        want = {
            "bye-alice": TerminatedReason.UAC_BYE,
            "bye-bob": TerminatedReason.UAS_BYE,
            "cancel": TerminatedReason.UAC_BYE,  # answered long before the hang-up
            "reinvite": TerminatedReason.UAC_BYE,
        }[kind]
        # A BYE lost 11 times (Timer F) still ends the dialog locally (§15.1.1).
        assert call.terminated_reason in (want, TerminatedReason.TIMEOUT), (kind, call)
    assert_clean(alice, bob)


@pytest.mark.parametrize("seed", range(4))
def test_early_hangups_survive_loss(seed: int) -> None:
    net = Net(100 + seed, loss=0.2, duplicate=0.1, reorder=0.2)
    alice = add_ua(net, "alice", "192.0.2.1")
    callee = Callee(ring=60.0)
    bob = add_ua(net, "bob", "192.0.2.2", handler=callee)
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=5.0)
    net.call(alice, lambda now: call.hangup(now=now))
    net.drive()
    assert call.terminated_reason in (TerminatedReason.UAC_CANCEL, TerminatedReason.TIMEOUT)
    assert all(c.state is DialogState.TERMINATED for c in callee.calls)
    assert_clean(alice, bob)
