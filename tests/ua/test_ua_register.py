"""Registrations hosted by the UserAgent (``ua.register``, RFC 3261 §10.2) in virtual time.

A registrar node (an Endpoint running :class:`sipsans.Registrar`) and UA nodes on a
:class:`sipsans.testing.Net`; the UA sends the REGISTERs, refreshes them, answers
digest challenges and reports ``RegistrationStateChanged``, and consumes the
REGISTER transactions' own events.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from netsim import Net
from uasim import SDP, Callee, add_ua, assert_clean, ua

from sipsans import (
    Credentials,
    DialogState,
    LocalProtocolError,
    Registrar,
    RegistrationHandle,
    RegistrationState,
    RegistrationStateChanged,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    parse_uri,
)
from sipsans.auth import DigestServer
from sipsans.services.registration import RegistrationStateChanged as OldImport
from sipsans.testing import Node

S = RegistrationState
SECRET = b"0123456789abcdef0123456789abcdef"
REGISTRAR = "sip:192.0.2.10"


def add_registrar(net: Net, *, auth: bool = False, min_expires: int = 60) -> Registrar:
    registrar = Registrar(
        # The UAs' identities are sip:NAME@THEIR-ADDRESS: serve those domains too.
        domains=["192.0.2.10", "192.0.2.1", "example.com"],
        authenticator=DigestServer(SECRET, "example.com", rng=random.Random(5)) if auth else None,
        password_lookup=lambda user, realm: {"alice": "secret", "bob": "hunter2"}.get(user),
        min_expires=min_expires,
        rng=random.Random(6),
    )

    def serve(node: Node[Any], event: object) -> None:
        if isinstance(event, RequestReceived) and event.txn is not None:
            response = registrar.handle_register(event.request, now=net.now, source=event.source)
            node.core.send_response(event.txn, response, now=net.now)

    net.add("registrar", "192.0.2.10", handler=serve)
    return registrar


def state_of(handle: RegistrationHandle) -> RegistrationState:
    # A call, so mypy does not narrow the state across commands.
    return handle.state


def states(node: Node[Any]) -> list[RegistrationState]:
    return [e.state for e in node.of_type(RegistrationStateChanged)]


def test_event_moved_but_old_import_still_works() -> None:
    assert OldImport is RegistrationStateChanged


@pytest.mark.parametrize("loss", [0.0, 0.2])
def test_register_refreshes_for_hours_with_digest_then_unregisters(loss: float) -> None:
    net = Net(21, loss=loss)
    registrar = add_registrar(net, auth=True)
    alice = add_ua(net, "alice", "192.0.2.1", credentials=Credentials("alice", "secret"))
    aor = "sip:alice@192.0.2.1"
    handle = net.call(alice, lambda now: ua(alice).register(REGISTRAR, expires=600, now=now))
    assert state_of(handle) is S.REGISTERING
    lapses = 0
    for _ in range(6 * 5):  # five hours, sampled every ten minutes
        net.drive_for(600)
        lapses += not registrar.location.lookup(aor, net.now)
    seen = states(alice)
    assert seen[:2] == [S.REGISTERING, S.REGISTERED]
    assert seen.count(S.REFRESHING) >= 5 * 3600 // 600  # at least one refresh per grant
    assert S.FAILED not in seen and lapses == 0
    assert state_of(handle) is S.REGISTERED and handle.granted == 600
    # The default contact is the UA's own, and the binding is ours.
    [binding] = registrar.location.lookup(aor, net.now)
    assert str(binding.uri) == "sip:alice@192.0.2.1:5060"
    # The UA consumed the REGISTER transactions: the app saw only state changes.
    assert not alice.of_type(ResponseReceived)
    assert not alice.of_type(TransactionTerminated)

    net.call(alice, lambda now: handle.stop(now=now))
    net.drive()
    assert state_of(handle) is S.UNREGISTERED
    assert registrar.location.lookup(aor, net.now) == []
    assert_clean(alice)


def test_register_sends_from_to_aor_contact_and_user_agent() -> None:
    net = Net(3)
    add_registrar(net)
    alice = add_ua(net, "alice", "192.0.2.1")
    net.call(alice, lambda now: ua(alice).register(REGISTRAR, now=now))
    net.drive_for(5)
    [request] = [w for w in net.wire if w.src == "alice"]
    text = request.data.decode()
    assert text.startswith(f"REGISTER {REGISTRAR} SIP/2.0\r\n")
    assert "\r\nTo: <sip:alice@192.0.2.1>\r\n" in text
    assert "\r\nContact: <sip:alice@192.0.2.1:5060>;expires=3600\r\n" in text
    assert "\r\nUser-Agent: sipsans\r\n" in text


def test_wrong_password_ends_in_failed_with_the_status() -> None:
    net = Net(4)
    add_registrar(net, auth=True)
    alice = add_ua(net, "alice", "192.0.2.1", credentials=Credentials("alice", "wrong"))
    handle = net.call(alice, lambda now: ua(alice).register(REGISTRAR, now=now))
    net.drive()
    assert state_of(handle) is S.FAILED
    last = alice.of_type(RegistrationStateChanged)[-1]
    assert last.status == 401 and last.previous is S.REGISTERING
    assert_clean(alice)  # a failed registration leaves nothing running


def test_per_registration_credentials_and_aor() -> None:
    net = Net(5)
    registrar = add_registrar(net, auth=True)
    alice = add_ua(net, "alice", "192.0.2.1")  # the UA itself has no credentials
    handle = net.call(
        alice,
        lambda now: ua(alice).register(
            aor="sip:bob@example.com",
            contacts=["<sip:bob@192.0.2.1:5060>;q=0.7", "sip:bob@192.0.2.1:5062"],
            credentials=Credentials("bob", "hunter2"),
            target=net.nodes["registrar"].target(),
            now=now,
        ),
    )
    net.drive_for(10)
    assert state_of(handle) is S.REGISTERED and handle.aor == "sip:bob@example.com"
    found = registrar.location.lookup("sip:bob@example.com", net.now)
    assert [str(b.uri) for b in found] == ["sip:bob@192.0.2.1:5062", "sip:bob@192.0.2.1:5060"]
    assert len(handle.bindings) == 2


def test_423_is_retried_with_min_expires() -> None:
    net = Net(6)
    add_registrar(net, min_expires=120)
    alice = add_ua(net, "alice", "192.0.2.1")
    handle = net.call(alice, lambda now: ua(alice).register(REGISTRAR, expires=30, now=now))
    net.drive_for(10)
    firsts = [w.first_line for w in net.wire]
    assert [f.split(" ")[1] for f in firsts] == [REGISTRAR, "423", REGISTRAR, "200"]
    assert state_of(handle) is S.REGISTERED and handle.granted == 120


def test_no_registrar_fails_after_three_timeouts_and_cleans_up() -> None:
    net = Net(7)
    alice = add_ua(net, "alice", "192.0.2.1")
    handle = net.call(
        alice, lambda now: ua(alice).register("sip:192.0.2.99", retry_interval=10, now=now)
    )
    net.drive()
    assert state_of(handle) is S.FAILED
    assert "timed out" in alice.of_type(RegistrationStateChanged)[-1].reason
    # 32 s of Timer F, 10 s, 32 s, 20 s, 32 s.
    assert net.now == pytest.approx(32 + 10 + 32 + 20 + 32, abs=1)
    assert_clean(alice)
    # A failed registration can start again.
    net.call(alice, lambda now: handle.start(now=now))
    assert state_of(handle) is S.REGISTERING and ua(alice).registrations == [handle]


def test_unregister_all_with_calls_running() -> None:
    net = Net(8, loss=0.2)
    registrar = add_registrar(net)
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2", handler=Callee())
    agent = ua(alice)
    first = net.call(alice, lambda now: agent.register(REGISTRAR, now=now))
    second = net.call(
        alice, lambda now: agent.register(REGISTRAR, aor="sip:carol@example.com", now=now)
    )
    call = net.call(alice, lambda now: agent.invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive_for(20)
    assert state_of(first) is S.REGISTERED and state_of(second) is S.REGISTERED
    assert call.state is DialogState.CONFIRMED
    assert set(agent.registrations) == {first, second}
    net.call(alice, lambda now: agent.unregister(now=now))
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert state_of(first) is S.UNREGISTERED and state_of(second) is S.UNREGISTERED
    assert registrar.location.lookup("sip:carol@example.com", net.now) == []
    # The call's own transactions still reach the app; the REGISTERs' do not.
    assert {e.response.cseq.method for e in alice.of_type(ResponseReceived)} <= {"INVITE", "BYE"}
    assert agent.registrations == []
    assert_clean(alice, bob)


def test_stop_while_registering_waits_for_the_answer() -> None:
    net = Net(9)
    add_registrar(net)
    alice = add_ua(net, "alice", "192.0.2.1")
    handle = net.call(alice, lambda now: ua(alice).register(REGISTRAR, now=now))
    net.call(alice, lambda now: handle.stop(now=now))  # §10.2: one REGISTER at a time
    assert len([w for w in net.wire if w.src == "alice"]) == 1
    net.drive()
    assert states(alice) == [S.REGISTERING, S.REGISTERED, S.UNREGISTERING, S.UNREGISTERED]
    assert_clean(alice)


def test_tel_identity_needs_an_aor() -> None:
    net = Net(10)
    alice = add_ua(net, "alice", "192.0.2.1")
    agent = ua(alice)
    agent.identity = agent.identity.replace(uri=parse_uri("tel:+15551234"))
    with pytest.raises(LocalProtocolError, match="aor="):
        agent.register(REGISTRAR, now=0.0)
    with pytest.raises(LocalProtocolError, match="register"):
        agent.register("sip:", aor="sip:alice@example.com", now=0.0)


def test_handle_shows_the_machine_state_read_only() -> None:
    net = Net(22)
    add_registrar(net)
    alice = add_ua(net, "alice", "192.0.2.1")
    handle = net.call(alice, lambda now: ua(alice).register(REGISTRAR, expires=300, now=now))
    net.drive_for(5)
    machine = handle.machine
    assert (handle.state, handle.granted, handle.expires_at, handle.bindings) == (
        machine.state,
        machine.granted,
        machine.expires_at,
        machine.bindings,
    )
    assert state_of(handle) is S.REGISTERED and handle.granted == 300
    with pytest.raises(AttributeError):
        handle.granted = 60
    assert RegistrationHandle.granted.__doc__ == "The expiry the registrar granted last (seconds)."
