"""Every event the sipsans core emits (DESIGN.md §4).

Events are frozen, slotted, keyword-only dataclasses; :data:`Event` is their union,
so callers can ``match`` exhaustively. This module holds the transaction-level
events of :class:`sipsans.Endpoint`; the UserAgent adds its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .dialog.model import DialogId
from .dialog.state import DialogState, TerminatedReason
from .dialog.views import ServerInviteDialog
from .message import Request, Response
from .timers import TimerKind
from .transport import ClientTxn, ConnHandle, ServerTxn, Source

__all__ = [
    "AuthenticationFailed",
    "CancelReceived",
    "ConnectionClosed",
    "DialogStateChanged",
    "DialogTerminated",
    "Event",
    "InDialogRequest",
    "IncomingCall",
    "MalformedMessage",
    "MessageReceived",
    "RequestReceived",
    "ResponseReceived",
    "TransactionEvent",
    "TransactionTerminated",
    "TransactionTimedOut",
    "TransportFailed",
    "UAEvent",
]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTimedOut:
    """Timer B or F (no final response), H (no ACK) or the §9.1 CANCEL wait expired.

    A client TU treats this like a 408 (§8.1.3.1).
    """

    txn: ClientTxn | ServerTxn
    timer: TimerKind


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportFailed:
    """Sending for ``txn`` failed (``Endpoint.transport_error``, a lost connection).

    A client TU treats this like a 503 (§8.1.3.1, §17.1.4).
    """

    txn: ClientTxn | ServerTxn
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTerminated:
    """``txn`` reached Terminated; its handle is dead from now on."""

    txn: ClientTxn | ServerTxn


@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedMessage:
    """Bytes that were not a valid SIP message (dropped, or answered statelessly)."""

    source: Source
    error: str
    status_hint: int
    #: The first bytes received, for logs.
    raw_prefix: bytes


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


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingCall:
    """A new INVITE (no To tag) created the UAS dialog ``dialog``.

    Answer with ``dialog.ringing()``, ``.progress()``, ``.accept()`` or ``.reject()``;
    the UA has sent nothing yet but the transaction's own 100 Trying (§17.2.1).
    """

    dialog: ServerInviteDialog
    request: Request
    txn: ServerTxn


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogStateChanged:
    """A dialog moved from ``previous`` to ``state`` (see docs/dialogs.md).

    ``message`` is what caused it when a message did (the 180/183/200 with its
    body, the ACK carrying an answer, the BYE), else None. ``previous`` is None for
    a dialog that just appeared (an early dialog of a new fork).
    """

    dialog_id: DialogId
    previous: DialogState | None
    state: DialogState
    message: Request | Response | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogTerminated:
    """The dialog ended; ``status`` is the SIP status involved, when one applies."""

    dialog_id: DialogId
    reason: TerminatedReason
    status: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InDialogRequest:
    """A request within dialog ``dialog_id`` for the application to answer with
    ``ua.respond(txn, ...)``. Unanswered requests get the documented default after
    ``UAConfig.answer_timeout``. ``txn`` is None for an ACK carrying a body (the
    answer to an offer made in a 2xx), which needs no answer."""

    dialog_id: DialogId
    request: Request
    txn: ServerTxn | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived:
    """An out-of-dialog MESSAGE (RFC 3428); answer with ``ua.respond(txn, ...)``
    (200 is sent for you after ``UAConfig.answer_timeout``)."""

    request: Request
    txn: ServerTxn


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationFailed:
    """A 401/407 could not be answered (no credentials, unsupported challenge, or
    the credentials were rejected). ``txn`` is the handle the command returned."""

    dialog_id: DialogId | None
    txn: ClientTxn
    response: Response
    reason: str
    realm: str | None = None


UAEvent: TypeAlias = (
    IncomingCall
    | DialogStateChanged
    | DialogTerminated
    | InDialogRequest
    | MessageReceived
    | AuthenticationFailed
)

#: Every event of the core: the Endpoint's transaction events and the UserAgent's.
Event: TypeAlias = TransactionEvent | UAEvent
