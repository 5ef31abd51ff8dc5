"""What the client subcommands (``options``, ``message``, ``call``, ``subscribe``,
``register``) share: their flags, their UserAgent session, the wait for one request's
final response, and turning a failure into a line and an exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import sipsans
from sipsans_session import RequestTimeout, TransportError

from ..session import Session
from .common import add_identity_options, add_network_options
from .feedback import Watcher
from .stack import Stack, make_session

__all__ = [
    "NO_ANSWER",
    "Client",
    "add_client_options",
    "advertise_connection",
    "client_session",
    "final_response",
    "why_no_answer",
]


def add_client_options(sub: argparse.ArgumentParser, *, timeout: float = 32.0) -> None:
    """The flags of every client subcommand: network, identity and credentials."""
    add_network_options(sub, listen="0.0.0.0:0", timeout=timeout)
    add_identity_options(sub)


@dataclass(slots=True)
class Client:
    """A client subcommand's running session, its UserAgent and its watcher."""

    session: Session[Any]
    ua: sipsans.UserAgent
    watcher: Watcher
    target: sipsans.Target


@contextlib.asynccontextmanager
async def client_session(
    args: argparse.Namespace,
    target: sipsans.Target,
    watcher: Watcher,
    *,
    identity: str | None = None,
    config: sipsans.UAConfig | None = None,
) -> AsyncIterator[Client]:
    """The UserAgent session of a client subcommand sending to ``target``: started,
    its transcript open, its Contact reachable (:func:`advertise_connection`: may
    raise TransportError); closed (calls hung up, registrations removed, transcript
    closed) on exit. ``watcher`` sees every message."""
    stack = Stack(
        args,
        identity=identity,
        config=config,
        watch=watcher.on_message,
        on_transport_error=watcher.on_transport_error,
    )  # (its own watcher: the subcommand listens to it)
    with stack:
        session = make_session(args, stack.user_agent, transport=target.transport, server=False)
        watcher.session = session
        async with session:
            assert stack.ua is not None
            await advertise_connection(session, stack.ua, target)
            yield Client(session, stack.ua, watcher, target)


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


async def final_response(
    session: Session[Any], command: Callable[..., sipsans.ClientTxn], *args: Any, **kwargs: Any
) -> sipsans.Response:
    """Run a UserAgent command that sends a request (``ua.request``, ``ua.options``,
    ...) and return its final response (401/407 are answered by the UA on the way).
    Raises RequestTimeout or TransportError when none comes."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[sipsans.Response] = loop.create_future()

    def resolve(result: sipsans.Response | Exception) -> None:
        if outcome.done():
            return
        if isinstance(result, Exception):
            outcome.set_exception(result)
        else:
            outcome.set_result(result)

    driver = session.driver
    txn = command(*args, now=driver.now(), **kwargs)
    driver.wait_for(txn, resolve)  # before the pump: a failure may come at once
    driver.pump()
    try:
        return await outcome
    finally:
        driver.forget(txn)


def why_no_answer(exc: BaseException, watcher: Watcher, timeout: float) -> str:
    """One line on why no final response came (and so exit status 3)."""
    if isinstance(exc, TransportError):
        return watcher.last_error or str(exc)
    if isinstance(exc, RequestTimeout):
        return f"no answer ({exc})"
    return f"no answer within {timeout:g} s"


#: The failures :func:`why_no_answer` explains, which all mean exit status 3.
NO_ANSWER = (RequestTimeout, TransportError, TimeoutError)
