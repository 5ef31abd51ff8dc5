"""Transports as RFC 3263 names them: NAPTR services, SRV labels, URI parameters.

One table per mapping, so that adding a transport is one line in each:

=========  ==============  ===============  =======================================
transport  NAPTR service   SRV prefix       source
=========  ==============  ===============  =======================================
UDP        SIP+D2U         _sip._udp        RFC 3263 §4.1
TCP        SIP+D2T         _sip._tcp        RFC 3263 §4.1
TLS        SIPS+D2T        _sips._tcp       RFC 3263 §4.1 (TLS over TCP)
SCTP       SIP+D2S         _sip._sctp       RFC 3263 §4.1, RFC 4168
TLS-SCTP   SIPS+D2S        _sips._sctp      RFC 3263 §4.1, RFC 4168
WS         SIP+D2W         _sip._ws         RFC 7118 §7
WSS        SIPS+D2W        _sips._ws        RFC 7118 §7 (WebSocket over TLS)
=========  ==============  ===============  =======================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..errors import LocalProtocolError
from .errors import UnsupportedTransportError

__all__ = [
    "DEFAULT_TRANSPORTS",
    "KNOWN_TRANSPORTS",
    "NAPTR_SERVICES",
    "SECURE_TRANSPORTS",
    "SRV_PREFIXES",
    "check_transports",
    "default_transport",
    "uri_transport",
]

#: NAPTR service field (upper case) -> transport.
NAPTR_SERVICES: Final[dict[str, str]] = {
    "SIP+D2U": "UDP",
    "SIP+D2T": "TCP",
    "SIPS+D2T": "TLS",
    "SIP+D2S": "SCTP",
    "SIPS+D2S": "TLS-SCTP",
    "SIP+D2W": "WS",
    "SIPS+D2W": "WSS",
}

#: Transport -> the SRV service and protocol labels (RFC 3263 §4.2, RFC 7118 §7).
SRV_PREFIXES: Final[dict[str, str]] = {
    "UDP": "_sip._udp",
    "TCP": "_sip._tcp",
    "TLS": "_sips._tcp",
    "SCTP": "_sip._sctp",
    "TLS-SCTP": "_sips._sctp",
    "WS": "_sip._ws",
    "WSS": "_sips._ws",
}

KNOWN_TRANSPORTS: Final = frozenset(SRV_PREFIXES)

#: The transports a ``sips:`` URI may use: TLS on every hop (RFC 3261 §26.2.2).
SECURE_TRANSPORTS: Final = frozenset({"TLS", "TLS-SCTP", "WSS"})

#: What a client supports unless told otherwise, in order of preference. The order
#: matters only where RFC 3263 leaves it to the client: the SRV queries made when a
#: domain has no usable NAPTR records (§4.1 "the client MAY use any transport protocol
#: it desires which is supported by the server"). TLS first, as §4.1 encourages.
DEFAULT_TRANSPORTS: Final = ("TLS", "TCP", "UDP")

# A URI's transport parameter -> transport, for sip: and for sips: URIs. For sips:,
# "tcp" means TLS over TCP and "ws" WebSocket over TLS (RFC 3261 §26.2.2, RFC 7118 §5);
# "tls" and "wss" are not registered URI values but are common and unambiguous.
_SIP_URI_TRANSPORTS: Final = {
    "udp": "UDP",
    "tcp": "TCP",
    "tls": "TLS",
    "sctp": "SCTP",
    "tls-sctp": "TLS-SCTP",
    "ws": "WS",
    "wss": "WSS",
}
_SIPS_URI_TRANSPORTS: Final = {
    "tcp": "TLS",
    "tls": "TLS",
    "sctp": "TLS-SCTP",
    "tls-sctp": "TLS-SCTP",
    "ws": "WSS",
    "wss": "WSS",
}


def check_transports(transports: Iterable[str]) -> tuple[str, ...]:
    """The supported transports upper-cased, duplicates dropped, order kept.

    Raises :class:`~sipsans.errors.LocalProtocolError` for a name outside
    :data:`KNOWN_TRANSPORTS` or an empty list.
    """
    out: list[str] = []
    for name in transports:
        upper = name.upper()
        if upper not in KNOWN_TRANSPORTS:
            raise LocalProtocolError(
                f"unknown transport {name!r}; use some of {sorted(KNOWN_TRANSPORTS)}"
            )
        if upper not in out:
            out.append(upper)
    if not out:
        raise LocalProtocolError("transports must name at least one transport")
    return tuple(out)


def uri_transport(param: str, *, secure: bool, supported: tuple[str, ...]) -> str:
    """The transport a URI's ``transport=`` parameter (lower case) asks for.

    Raises :class:`UnsupportedTransportError` when the scheme forbids it (``sips:``
    with ``udp``) or this client does not support it.
    """
    table = _SIPS_URI_TRANSPORTS if secure else _SIP_URI_TRANSPORTS
    transport = table.get(param)
    if transport is None:
        if secure and param in _SIP_URI_TRANSPORTS:
            raise UnsupportedTransportError(
                f"a sips: URI cannot use transport={param}: sips requires TLS on every hop "
                "(RFC 3261 §26.2.2)"
            )
        raise UnsupportedTransportError(f"unknown transport={param} in the URI")
    if transport not in supported:
        raise UnsupportedTransportError(
            f"the URI asks for transport={param} ({transport}), which this client does not "
            f"support (supported: {', '.join(supported)})"
        )
    return transport


def default_transport(*, secure: bool, supported: tuple[str, ...]) -> str:
    """The transport for a URI that names none, when DNS does not choose one.

    RFC 3263 §4.1: UDP for a ``sip:`` URI, TLS over TCP for a ``sips:`` URI. A client
    without that transport takes TCP for ``sip:`` (RFC 3261 §18 makes TCP mandatory
    too), else its first transport. For ``sips:``, *supported* must already hold only
    secure transports (the planner filters it).
    """
    preferred = ("TLS",) if secure else ("UDP", "TCP")
    for transport in preferred:
        if transport in supported:
            return transport
    return supported[0]
