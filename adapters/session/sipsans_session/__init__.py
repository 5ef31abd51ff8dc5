"""sipsans_session: the loop-agnostic half of the sipsans adapters.

Everything a session does that needs no event loop lives here once, and both
:mod:`sipsans_asyncio` and :mod:`sipsans_anyio` build their ``Session`` on it: the pump
around a sans-IO core (:mod:`~sipsans_session.driver`), transmit routing and connection
reuse (:mod:`~sipsans_session.routing`), the waits for responses and states
(:mod:`~sipsans_session.waits`), the public session API (:mod:`~sipsans_session.session`),
the awaitable dialog and subscription handles (:mod:`~sipsans_session.dialogs`,
:mod:`~sipsans_session.subscriptions`), transcripts (:mod:`~sipsans_session.tracing`), the
buffered cryptographic rng (:mod:`~sipsans_session.rng`), SIP over WebSocket without I/O
(:mod:`~sipsans_session.rfc7118`, the ``ws`` extra), TLS contexts
(:mod:`~sipsans_session.tls`), addresses and errors; dialogs shared by worker processes
through a store (:mod:`~sipsans_session.shared`, :mod:`~sipsans_session.store`, Redis in
:mod:`~sipsans_session.redis_store` through the ``redis`` extra). It imports neither asyncio nor
anyio, and holds no SIP logic (DESIGN.md §6): that is the core's.
"""

from __future__ import annotations

from .addresses import Address, Listen
from .dialogs import AsyncDialog, CallFailed
from .driver import Driver, RequestCore, SansIOCore, SipCore
from .errors import RegistrationFailed, RequestDropped, RequestTimeout, TransportError
from .rng import BufferedSystemRandom
from .session import SessionBase
from .shared import SharedDialogs, shared_config
from .store import MemoryStore, Store, StoreUnavailable, open_store
from .subscriptions import AsyncSubscription, SubscriptionFailed
from .tls import client_context, server_context
from .tracing import TraceWriter
from .waits import Waiter

__all__ = [
    "Address",
    "AsyncDialog",
    "AsyncSubscription",
    "BufferedSystemRandom",
    "CallFailed",
    "Driver",
    "Listen",
    "MemoryStore",
    "RegistrationFailed",
    "RequestCore",
    "RequestDropped",
    "RequestTimeout",
    "SansIOCore",
    "SessionBase",
    "SharedDialogs",
    "SipCore",
    "Store",
    "StoreUnavailable",
    "SubscriptionFailed",
    "TraceWriter",
    "TransportError",
    "Waiter",
    "client_context",
    "open_store",
    "server_context",
    "shared_config",
]
