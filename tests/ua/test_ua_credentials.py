"""Credentials a UserAgent sends stay with the server that asked for them (RFC 7616
§3.6, RFC 3261 §22.3): a call challenged by one server leaves nothing on a REGISTER to
another."""

from __future__ import annotations

import random
from typing import Any

from netsim import Net
from uasim import SDP, add_ua, ua

from sipsans import (
    Credentials,
    DialogState,
    Registrar,
    RequestReceived,
    make_response,
    parse_message,
)
from sipsans.auth import DigestServer
from sipsans.testing import Node


def challenging_callee(net: Net) -> DigestServer:
    """bob at 192.0.2.2: a plain endpoint that challenges every request (realm bob.example)."""
    guard = DigestServer(b"0123456789abcdef-bob", "bob.example", rng=random.Random(3))

    def serve(node: Node[Any], event: object) -> None:
        if not isinstance(event, RequestReceived) or event.txn is None:
            return
        req, now = event.request, net.now
        if not guard.verify(req, now=now, password=lambda user, realm: "secret").ok:
            node.core.send_response(
                event.txn, guard.challenge_response(req, now=now, to_tag="b1"), now=now
            )
            return
        contact = [("Contact", "<sip:bob@192.0.2.2>")]
        node.core.send_response(
            event.txn, make_response(req, 200, to_tag="b1", headers=contact), now=now
        )

    net.add("bob", "192.0.2.2", handler=serve)
    return guard


def registrar(net: Net, *, realm: str | None) -> list[str]:
    """A registrar at 192.0.2.10 (digest realm ``realm``, or none); returns the
    Authorization lines of every REGISTER it receives, in order."""
    seen: list[str] = []
    reg = Registrar(
        authenticator=DigestServer(b"0123456789abcdef-reg", realm, rng=random.Random(4))
        if realm
        else None,
        password_lookup=(lambda user, r: "secret") if realm else None,
        rng=random.Random(5),
    )

    def serve(node: Node[Any], event: object) -> None:
        if isinstance(event, RequestReceived) and event.txn is not None:
            seen.append(event.request.headers.get("Authorization") or "")
            response = reg.handle_register(event.request, now=net.now, source=event.source)
            node.core.send_response(event.txn, response, now=net.now)

    net.add("registrar", "192.0.2.10", handler=serve)
    return seen


def test_call_credentials_do_not_ride_on_a_register_to_another_server() -> None:
    net = Net(31)
    challenging_callee(net)
    seen = registrar(net, realm=None)
    alice = add_ua(net, "alice", "192.0.2.1", credentials=Credentials("alice", "secret"))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive_for(2)
    assert call.state is DialogState.CONFIRMED  # the 401 was answered for bob.example
    net.call(alice, lambda now: ua(alice).register("sip:192.0.2.10", now=now))
    net.drive_for(2)
    assert seen == [""]  # no Authorization: Digest realm="bob.example" for the registrar
    sent = [parse_message(w.data) for w in net.wire if w.first_line.startswith("REGISTER")]
    assert all("Authorization" not in m.headers for m in sent)


def test_registrar_credentials_still_go_ahead_on_refreshes() -> None:
    # The same server keeps getting them up front (§22.3): one challenge, then none,
    # even after a call challenged elsewhere.
    net = Net(32)
    challenging_callee(net)
    seen = registrar(net, realm="example.com")
    alice = add_ua(net, "alice", "192.0.2.1", credentials=Credentials("alice", "secret"))
    net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive_for(2)
    net.call(alice, lambda now: ua(alice).register("sip:192.0.2.10", expires=120, now=now))
    net.drive_for(300)
    assert seen[0] == ""  # first REGISTER: no credentials of bob.example's
    assert 'realm="example.com"' in seen[1]  # the retry
    refreshes = seen[2:]
    assert refreshes and all('realm="example.com"' in line for line in refreshes)
    assert not any("bob.example" in line for line in seen)
