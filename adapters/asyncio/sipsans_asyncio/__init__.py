"""sipsans_asyncio: the asyncio adapter for sipsans.

The sipsans core is sans-IO: it consumes bytes and timer ticks and emits events and
transmits. :class:`Session` wires any such core (``sipsans.Endpoint``, or the
``sipsans.UserAgent``) to stdlib asyncio: UDP through a ``DatagramProtocol``, TCP and
TLS through stream protocols, SIP over WebSocket (RFC 7118) through wsproto, one
``loop.call_at`` timer re-armed after every pump, ``now = loop.time()``. It holds no
protocol logic of its own (DESIGN.md §6). :func:`run` uses uvloop when asked and
installed, and :func:`tune_gc` when asked (servers). The ``sipsans`` command line lives
in :mod:`sipsans_asyncio.cli`.
"""

from __future__ import annotations

from .calls import AsyncDialog, CallFailed
from .driver import (
    Driver,
    RequestCore,
    RequestDropped,
    RequestTimeout,
    SansIOCore,
    SipCore,
    TransportError,
)
from .rng import BufferedSystemRandom
from .run import keep_frozen, run, tune_gc
from .session import Listen, Session
from .subscriptions import AsyncSubscription, RegistrationFailed, SubscriptionFailed
from .tls import client_context, server_context
from .tracing import TraceWriter

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
