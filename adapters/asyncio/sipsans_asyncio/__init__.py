"""sipsans_asyncio: the asyncio adapter for sipsans.

The sipsans core is sans-IO: it consumes bytes and timer ticks and emits events and
transmits. :class:`Session` wires any such core (``sipsans.Endpoint``, or the
``sipsans.UserAgent``) to stdlib asyncio: UDP sockets read on ``loop.add_reader``, TCP
and TLS through stream protocols, SIP over WebSocket (RFC 7118) through wsproto, one
``loop.call_at`` timer re-armed after every pump, ``now = loop.time()``. It holds no
protocol logic of its own (DESIGN.md §6). :func:`run` uses uvloop when asked and
installed, and :func:`tune_gc` when asked (servers). The ``sipsans`` command line lives
in :mod:`sipsans_asyncio.cli`. Everything that does not need the loop (the pump, the
session's API, the awaitable dialogs and subscriptions, tracing, the rng, TLS contexts)
is :mod:`sipsans_session`, shared with :mod:`sipsans_anyio` and re-exported here.
"""

from __future__ import annotations

from sipsans_session import (
    AsyncDialog,
    AsyncSubscription,
    BufferedSystemRandom,
    CallFailed,
    Driver,
    Listen,
    RegistrationFailed,
    RequestCore,
    RequestDropped,
    RequestTimeout,
    SansIOCore,
    SipCore,
    SubscriptionFailed,
    TraceWriter,
    TransportError,
    client_context,
    server_context,
)

from .run import keep_frozen, run, tune_gc
from .session import Session

__all__ = [
    "AsyncDialog",
    "AsyncSubscription",
    "BufferedSystemRandom",
    "CallFailed",
    "Driver",
    "Listen",
    "RegistrationFailed",
    "RequestCore",
    "RequestDropped",
    "RequestTimeout",
    "SansIOCore",
    "Session",
    "SipCore",
    "SubscriptionFailed",
    "TraceWriter",
    "TransportError",
    "client_context",
    "keep_frozen",
    "run",
    "server_context",
    "tune_gc",
]
