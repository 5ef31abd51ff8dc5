"""Locating SIP servers (RFC 3263) without doing any I/O.

* :class:`Planner` -- given a ``sip:``/``sips:`` URI, says which DNS record sets to
  fetch (NAPTR, SRV, A, AAAA) and turns the answers into the ordered list of
  :class:`~sipsans.Target` (transport, host, port) RFC 3263 §4 prescribes.
* :class:`Failover` -- walks those targets for a transaction user (§4.3), keeping
  failed ones at the back for a while.
* :class:`Backoffs` -- the per-target back-off deadlines, shareable between Failovers.
* :class:`DnsCache` -- record sets by (type, name) until their TTL, for adapters.
* :func:`order_srv` -- RFC 2782's priority and weighted order, on its own.

See docs/reaching-servers.md for a walk-through.
"""

from __future__ import annotations

from .cache import CachedSet, DnsCache
from .errors import (
    DnsQueryFailedError,
    LocateError,
    LookupLimitError,
    MalformedAnswerError,
    NaptrLoopError,
    NoTargetsError,
    ServiceNotOfferedError,
    TargetsExhaustedError,
    UnsupportedTransportError,
)
from .failover import Backoffs, Failover, describe_target
from .ordering import order_srv
from .planner import LocateLimits, Planner
from .records import AddressRecord, NaptrRecord, Query, Record, RecordKind, SrvRecord
from .transports import DEFAULT_TRANSPORTS, NAPTR_SERVICES, SRV_PREFIXES

__all__ = [
    "DEFAULT_TRANSPORTS",
    "NAPTR_SERVICES",
    "SRV_PREFIXES",
    "AddressRecord",
    "Backoffs",
    "CachedSet",
    "DnsCache",
    "DnsQueryFailedError",
    "Failover",
    "LocateError",
    "LocateLimits",
    "LookupLimitError",
    "MalformedAnswerError",
    "NaptrLoopError",
    "NaptrRecord",
    "NoTargetsError",
    "Planner",
    "Query",
    "Record",
    "RecordKind",
    "ServiceNotOfferedError",
    "SrvRecord",
    "TargetsExhaustedError",
    "UnsupportedTransportError",
    "describe_target",
    "order_srv",
]
