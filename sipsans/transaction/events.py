"""The transaction layer's events (DESIGN.md §4): what the Endpoint reports.

Events are frozen, slotted, keyword-only dataclasses; :data:`TransactionEvent` is their
union. A proxy or test tool that stops at the transaction layer needs nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .._speed import maker, quick_init
from ..message.model import Request, Response
from .timers import TimerKind
from .transport import ClientTxn, ConnHandle, ServerTxn, Source

__all__ = [
    "CancelReceived",
    "ConnectionClosed",
    "MalformedMessage",
    "RequestReceived",
    "ResponseReceived",
    "TransactionEvent",
    "TransactionTerminated",
    "TransactionTimedOut",
    "TransportFailed",
]


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived:
    """A new request for the TU, answered with ``Endpoint.send_response(txn, ...)``.

    ``txn`` is None for an ACK: an ACK for a 2xx is its own stateless message that
    the TU matches to a dialog (§13.3.1.4, §17.1.1.3), and so is an ACK reaching an
    INVITE server transaction in Accepted (RFC 6026 §8.7).
    """

    request: Request
    txn: ServerTxn | None
    source: Source


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived:
    """A response for the TU.

    ``txn`` is None for a response matching no client transaction whose top Via is
    ours (§18.1.2): typically a 2xx retransmission after the INVITE client
    transaction ended, which a UA ACKs again, or a response a stateless proxy forwards.
    """

    response: Response
    txn: ClientTxn | None
    source: Source


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelReceived:
    """A CANCEL matched the INVITE server transaction ``txn`` while it was in Proceeding.

    The endpoint has already answered the CANCEL with 200 (§9.2). ``answered`` is True
    when it also answered the INVITE with 487 (``EndpointConfig.answer_cancelled_invite``);
    otherwise the TU should send the 487 itself.
    """

    request: Request
    txn: ServerTxn
    answered: bool


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTimedOut:
    """Timer B or F (no final response), H (no ACK) or the §9.1 CANCEL wait expired.

    A client TU treats this like a 408 (§8.1.3.1).
    """

    txn: ClientTxn | ServerTxn
    timer: TimerKind


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TransportFailed:
    """Sending for ``txn`` failed (``Endpoint.transport_error``, a lost connection).

    A client TU treats this like a 503 (§8.1.3.1, §17.1.4).
    """

    txn: ClientTxn | ServerTxn
    reason: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTerminated:
    """``txn`` reached Terminated; its handle is dead from now on."""

    txn: ClientTxn | ServerTxn


# Positional constructors for the Endpoint, which makes one for every message it
# passes up (see sipsans._speed.maker): every field, in order. Classes of one field
# gain nothing from it (the class swap costs what the field store saves).
make_request_received = maker(RequestReceived)
make_response_received = maker(ResponseReceived)


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedMessage:
    """Bytes that were not a valid SIP message (dropped, or answered statelessly)."""

    source: Source
    error: str
    status_hint: int
    #: The first bytes received, for logs.
    raw_prefix: bytes


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    """A stream connection is gone: closed by the peer, lost, or closed by us."""

    conn: ConnHandle
    reason: str


TransactionEvent: TypeAlias = (
    RequestReceived
    | ResponseReceived
    | CancelReceived
    | TransactionTimedOut
    | TransportFailed
    | TransactionTerminated
    | MalformedMessage
    | ConnectionClosed
)


# -- UserAgent events (DESIGN.md §4) ------------------------------------------------
