"""What the client subcommands (``options``, ``message``, ``call``, ``subscribe``,
``register``) share: their flags, their UserAgent session sending to the targets of
their URI (RFC 3263), and turning a failure into a line and an exit status.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import sipsans
from sipsans_session import RequestTimeout, TransportError

from ..session import Session
from .common import add_identity_options, add_network_options, need_extra
from .feedback import Watcher
from .locating import add_dns_options, locate, resolver
from .stack import Stack, make_session

__all__ = [
    "NO_ANSWER",
    "Client",
    "add_client_options",
    "advertise_connection",
    "client_session",
    "why_no_answer",
]


def add_client_options(sub: argparse.ArgumentParser, *, timeout: float = 32.0) -> None:
    """The flags of every client subcommand: network, DNS, identity and credentials."""
    add_network_options(sub, listen="0.0.0.0:0", timeout=timeout)
    add_dns_options(sub)
    add_identity_options(sub)


@dataclass(slots=True)
class Client:
    """A client subcommand's running session, its UserAgent, its watcher, and the
    targets its requests go to (RFC 3263 order, failed over by the UserAgent)."""

    session: Session[Any]
    ua: sipsans.UserAgent
    watcher: Watcher
    targets: list[sipsans.Target]


@contextlib.asynccontextmanager
async def client_session(
    args: argparse.Namespace,
    uri: sipsans.SipURI,
    watcher: Watcher,
    *,
    identity: str | None = None,
    config: sipsans.UAConfig | None = None,
) -> AsyncIterator[Client]:
    """The UserAgent session of a client subcommand sending to ``uri``: its targets
    located (RFC 3263: ``--dns-server``, ``--transport``; a numeric host needs no DNS;
    CommandError when DNS gives none), started, its transcript open, its Contact
    reachable (:func:`advertise_connection`: may raise TransportError); closed (calls
    hung up, registrations removed, transcript closed) on exit. ``watcher`` sees every
    message."""
    wanted = (args.transport or uri.transport or "").upper()
    if wanted in ("WS", "WSS"):  # (before DNS: the missing extra is the first thing to say)
        need_extra("wsproto", "ws", f"--transport {wanted.lower()}")
    dns = resolver(args)
    targets = await locate(args, uri, dns)
    stack = Stack(
        args,
        identity=identity,
        config=config,
        watch=watcher.on_message,
        on_transport_error=watcher.on_transport_error,
    )
    with stack:
        session = make_session(
            args, stack.user_agent, transport=targets[0].transport, server=False, resolver=dns
        )
        watcher.session = session
        async with session:
            assert stack.ua is not None
            await advertise_connection(session, stack.ua, targets[0])
            yield Client(session, stack.ua, watcher, targets)


async def advertise_connection(
    session: Session[Any], ua: sipsans.UserAgent, target: sipsans.Target
) -> None:
    """A TLS or WSS client with no listener of that kind (no ``--cert``) opens its
    connection first and advertises its local end in Via and Contact: the peer's
    requests in the dialog (its BYE) then come back over that connection, instead of
    a TLS handshake towards a port that does not serve TLS. Raises TransportError."""
    name = target.transport.upper()
    if name not in ("TLS", "WSS") or name in session.addresses:
        return
    host, port = target.address
    local = await session.connect(name, host, port)
    ua.advertise(*local)


def why_no_answer(exc: BaseException, watcher: Watcher, timeout: float) -> str:
    """One line on why no final response came (and so exit status 3)."""
    if isinstance(exc, TransportError):
        return watcher.last_error or str(exc)
    if isinstance(exc, RequestTimeout):
        return f"no answer ({exc})"
    return f"no answer within {timeout:g} s"


#: The failures :func:`why_no_answer` explains, which all mean exit status 3.
NO_ANSWER = (RequestTimeout, TransportError, TimeoutError)
