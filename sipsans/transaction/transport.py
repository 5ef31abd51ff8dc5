"""What the Endpoint exchanges with its adapter: addresses, handles, targets, transmits.

Also the transport rules of RFC 3261 §18 that are pure functions of a message and
where it came from: stamping ``received``/``rport`` on a request's top Via
(§18.2.1, RFC 3581 §4) and choosing where a response goes (§18.2.2, RFC 3581 §5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from .._speed import maker, quick_init
from ..message.fields import Via
from ..message.headers import Headers
from ..message.model import Message

__all__ = [
    "RELIABLE_TRANSPORTS",
    "Address",
    "ClientTxn",
    "ConnHandle",
    "ServerTxn",
    "Source",
    "Target",
    "Transmit",
    "default_port",
    "is_reliable",
    "replace_top_via",
    "response_address",
    "stamp_via",
]

#: ``(host, port)``; the host is an IP literal or, in a Target, possibly a name.
Address: TypeAlias = tuple[str, int]

#: Transports with their own retransmission (§17.1.1.2 "reliable transport").
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


def is_reliable(transport: str) -> bool:
    if transport == "UDP":
        return False  # the usual case, without making an upper-case copy
    return transport.upper() in RELIABLE_TRANSPORTS


def default_port(transport: str) -> int:
    """5061 for TLS (§19.1.2, §26.2), 5060 otherwise."""
    return 5061 if transport.upper() in ("TLS", "WSS", "TLS-SCTP") else 5060


@quick_init
@dataclass(frozen=True, slots=True)
class ClientTxn:
    """Handle of a client transaction; ``id`` is also the token of its transmits."""

    id: int


@quick_init
@dataclass(frozen=True, slots=True)
class ServerTxn:
    """Handle of a server transaction; ``id`` is also the token of its transmits."""

    id: int


@quick_init
@dataclass(frozen=True, slots=True)
class ConnHandle:
    """Handle of a stream connection, issued by ``Endpoint.connection_made``."""

    id: int


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send a request: ``Target("UDP", "192.0.2.1", 5060)``.

    ``port`` None means the transport's default. ``conn`` pins an open stream
    connection (for example the one a registration came in on, RFC 5626).
    """

    transport: str
    host: str
    port: int | None = None
    conn: ConnHandle | None = None

    @property
    def address(self) -> Address:
        return (self.host, self.port if self.port is not None else default_port(self.transport))


@quick_init
@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from: transport, peer and local address, connection."""

    transport: str
    remote: Address
    local: Address | None = None
    conn: ConnHandle | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Transmit:
    """One instruction for the adapter.

    Send ``data`` over ``transport`` to ``remote`` (from ``local`` when given). On a
    stream transport, write to ``conn``; when ``conn`` is None, open (or reuse) a
    connection to ``remote``, register it with ``Endpoint.connection_made`` and write
    there. If sending fails, call ``Endpoint.transport_error(token)`` (token 0: nobody
    is waiting for it). ``close=True`` asks the adapter to close ``conn`` after
    writing ``data`` (which may be empty), e.g. after a framing error.
    """

    data: bytes
    transport: str
    remote: Address
    local: Address | None = None
    conn: ConnHandle | None = None
    token: int = 0
    close: bool = False


#: Positional constructor for the Endpoint, which sends every message through one
#: (see sipsans._speed.maker): every field, in order.
make_transmit = maker(Transmit)


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def stamp_via(via: Via, remote: Address) -> Via:
    """The top Via of a received request after §18.2.1 and RFC 3581 §4.

    ``received`` is added when the sent-by host differs from the source address
    (§18.2.1), and always when the client asked for ``rport``, whose value becomes
    the source port (RFC 3581 §4).
    """
    host, port = remote
    if via.has_rport:
        return via.with_param("received", _bare(host)).with_param("rport", str(port))
    if via.host != host and _bare(via.host).lower() != _bare(host).lower():
        return via.with_param("received", _bare(host))
    return via


def response_address(via: Via, transport: str, remote: Address | None) -> Address:
    """Where a response to a request with top Via ``via`` goes (§18.2.2, RFC 3581 §5).

    ``remote`` is the source of the request when it is known. For a stream transport
    this is the address of a *new* connection, used only when the request's
    connection is gone.
    """
    port = via.port if via.port is not None else default_port(transport)
    received = maddr = rport = None
    # One pass over the parameters, rather than the Via's received/rport/maddr properties
    # (a get_param() scan each: ~2 % of a UAS call); the first of a repeated one counts.
    for key, value in via.params:
        if key == "branch":
            continue  # in nearly every Via, and no address
        low = key.lower()
        if low == "received" and received is None:
            received = value or ""
        elif low == "rport" and rport is None:
            rport = value or ""
        elif low == "maddr" and maddr is None:
            maddr = value or ""
    if not is_reliable(transport):
        if maddr:
            return (maddr, port)
        # RFC 3581 §5: rport filled in means "answer the source address and port".
        if rport:
            return (received or via.host, int(rport))
        if rport is not None and remote is not None:
            return remote
    return (received or _bare(via.host), port)


def replace_top_via(message: Message, via: Via) -> None:
    """Replace the topmost Via value of ``message`` (the rest of its line stays).

    Editing headers drops every cached typed view, so the views a transaction reads
    (all already validated by the parser) are put back instead of being parsed again.
    The lower Vias stay unparsed: a bad one is the business of whoever reads it
    (``Message.validate()``), not a reason to fail here. The slot names are those of
    :mod:`sipsans.message`.
    """
    saved: dict[str, object] = {
        "vias": message.vias.with_top(via),
        "top-via": via,
        "from": message.from_,
        "to": message.to,
        "call-id": message.call_id,
        "cseq": message.cseq,
    }
    headers = message.headers
    headers.remove_first("via")
    headers.prepend("Via", str(via))
    for slot, value in saved.items():
        headers.cached(slot, _constant(value))


def _constant(value: object) -> Callable[[Headers], object]:
    def build(_headers: Headers) -> object:
        return value

    return build
