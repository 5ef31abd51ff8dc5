"""sipsans_anyio: the anyio adapter for sipsans, on asyncio or trio.

:class:`Session` runs a sans-IO core (``sipsans.Endpoint`` or ``sipsans.UserAgent``) in
an anyio task group: UDP, TCP/TLS and WebSocket (RFC 7118, the ``ws`` extra) receive
loops, writer tasks, and one timer task on ``anyio.current_time()``, so the same code
serves asyncio and trio.
:class:`sipsans_anyio.blocking.BlockingSession` gives plain threads the same API through
anyio's blocking portal (DESIGN.md §6). It needs the ``anyio`` extra
(``pip install sipsans[anyio]``, or ``sipsans[trio]`` for trio); the sipsans core never
imports it. The pump and every loop-independent part of the session are
:mod:`sipsans_session`, shared with :mod:`sipsans_asyncio` and re-exported here.
"""

from __future__ import annotations

from sipsans_session import (
    AsyncDialog,
    AsyncSubscription,
    BufferedSystemRandom,
    CallFailed,
    Listen,
    RegistrationFailed,
    RequestDropped,
    RequestTimeout,
    SansIOCore,
    SipCore,
    SubscriptionFailed,
    TransportError,
)

from .session import Session

__all__ = [
    "AsyncDialog",
    "AsyncSubscription",
    "BufferedSystemRandom",
    "CallFailed",
    "Listen",
    "RegistrationFailed",
    "RequestDropped",
    "RequestTimeout",
    "SansIOCore",
    "Session",
    "SipCore",
    "SubscriptionFailed",
    "TransportError",
]
