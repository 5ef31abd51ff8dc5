"""Failover through a real session (RFC 3263 §4.3, RFC 3261 §18.4): a first target
that cannot be reached is left on the transport error the adapter reports, and the
request goes to the next one at once, not after Timer F (64*T1, 32 s)."""

from __future__ import annotations

import socket
import sys
from typing import Any

import anyio
import pytest
from loopback import FLAVOURS, Flavour, by_flavour, ua_factory

import sipsans
import sipsans_asyncio
from sipsans import Target

pytestmark = pytest.mark.anyio

ASYNCIO = [f for f in FLAVOURS if f.session is sipsans_asyncio.Session]


def closed_port(kind: socket.SocketKind) -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def answer_options(bob: Any) -> None:
    async for event in bob:
        if isinstance(event, sipsans.RequestReceived):
            bob.respond(event.txn, 200)


async def fail_over(flavour: Flavour, first: Target) -> list[sipsans.TargetFailed]:
    """OPTIONS to ``[first, bob]``: bob's answer and the TargetFailed events Alice saw."""
    failed: list[sipsans.TargetFailed] = []
    async with (
        flavour(ua_factory("alice", 61)) as alice,
        flavour(ua_factory("bob", 62)) as bob,
        anyio.create_task_group() as tg,
    ):
        alice.on_event = lambda e: failed.append(e) if isinstance(e, sipsans.TargetFailed) else None
        tg.start_soon(answer_options, bob)
        port = bob.addresses["UDP"][1]
        second = Target("UDP", "127.0.0.1", port)
        # Far below Timer F (32 s): only a reported transport error leaves this early.
        with anyio.fail_after(10):
            response = await alice.options(f"sip:bob@127.0.0.1:{port}", targets=[first, second])
        assert response.status_code == 200
        tg.cancel_scope.cancel()
    return failed


@by_flavour()
async def test_a_refused_tcp_connection_fails_over_at_once(flavour: Flavour) -> None:
    first = Target("TCP", "127.0.0.1", closed_port(socket.SOCK_STREAM))
    [failed] = await fail_over(flavour, first)
    assert failed.target == first and failed.status is None
    assert "refused" in failed.reason and failed.next_target is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="IP_RECVERR is Linux's")
@by_flavour(ASYNCIO)
async def test_an_icmp_port_unreachable_fails_over_at_once(flavour: Flavour) -> None:
    """The asyncio adapter reads the socket's ICMP errors (Linux IP_RECVERR). The anyio
    adapter does not: its UDP sockets do not surface them (anyio's asyncio backend keeps
    the error without waking the reader), so a closed port there costs Timer F."""
    first = Target("UDP", "127.0.0.1", closed_port(socket.SOCK_DGRAM))
    [failed] = await fail_over(flavour, first)
    assert failed.target == first and failed.status is None
    assert "ICMP" in failed.reason and "Timer" not in failed.reason
