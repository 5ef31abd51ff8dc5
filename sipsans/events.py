"""Every event the sipsans core emits (DESIGN.md §4).

Events are frozen, slotted, keyword-only dataclasses; :data:`Event` is their union,
so callers can ``match`` exhaustively. Their ``__init__`` stores through the slots
(:func:`sipsans._frozen.quick_init`): a server makes several per call. This module
holds the transaction-level events of :class:`sipsans.Endpoint`; the UserAgent adds
its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from ._frozen import maker, quick_init
from .dialog.model import DialogId
from .dialog.state import DialogState, TerminatedReason
from .dialog.subscription import SubscriptionState
from .dialog.views import (
    ClientInviteDialog,
    ClientSubscription,
    ServerInviteDialog,
    ServerSubscription,
)
from .fields import NameAddr
from .message import Request, Response
from .replaces import Replaces
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
    "IncomingSubscription",
    "MalformedMessage",
    "MessageReceived",
    "NotifyReceived",
    "ReferReceived",
    "RegistrationState",
    "RegistrationStateChanged",
    "RequestReceived",
    "ResponseReceived",
    "SubscriptionStateChanged",
    "TransactionEvent",
    "TransactionTerminated",
    "TransactionTimedOut",
    "TransportFailed",
    "UAEvent",
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
# passes up (see sipsans._frozen.maker): every field, in order. Classes of one field
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


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingCall:
    """A new INVITE (no To tag) created the UAS dialog ``dialog``.

    Answer with ``dialog.ringing()``, ``.progress()``, ``.accept()`` or ``.reject()``;
    the UA has sent nothing yet but the transaction's own 100 Trying (§17.2.1).

    ``replaces`` is the dialog the INVITE's Replaces header names (RFC 3891), already
    checked against §3 (no match 481, ended 603, early-only but confirmed 486):
    once this call is confirmed the UA ends that dialog with BYE (CANCEL if early).
    """

    dialog: ServerInviteDialog
    request: Request
    txn: ServerTxn
    replaces: ClientInviteDialog | ServerInviteDialog | None = None


@quick_init
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


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DialogTerminated:
    """The dialog ended; ``status`` is the SIP status involved, when one applies."""

    dialog_id: DialogId
    reason: TerminatedReason
    status: int | None = None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class InDialogRequest:
    """A request within dialog ``dialog_id`` for the application to answer with
    ``ua.respond(txn, ...)``. Unanswered requests get the documented default after
    ``UAConfig.answer_timeout``. ``txn`` is None for an ACK carrying a body (the
    answer to an offer made in a 2xx), which needs no answer."""

    dialog_id: DialogId
    request: Request
    txn: ServerTxn | None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived:
    """An out-of-dialog MESSAGE (RFC 3428); answer with ``ua.respond(txn, ...)``
    (200 is sent for you after ``UAConfig.answer_timeout``)."""

    request: Request
    txn: ServerTxn


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationFailed:
    """A 401/407 could not be answered (no credentials, unsupported challenge, or
    the credentials were rejected). ``txn`` is the handle the command returned."""

    dialog_id: DialogId | None
    txn: ClientTxn
    response: Response
    reason: str
    realm: str | None = None


class RegistrationState(enum.Enum):
    """Where a :class:`~sipsans.Registration` is (state table in sipsans/registration.py).

    Defined here rather than beside the REGISTER machine so that this module, which
    the machine imports, needs nothing from it."""

    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    REFRESHING = "refreshing"
    UNREGISTERING = "unregistering"
    FAILED = "failed"


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationStateChanged:
    """A :class:`~sipsans.Registration` changed state (``ua.register`` or a
    RegistrationDriver).

    ``status`` is the response status that caused it (None for a local cause such as
    ``start()`` or a timer); ``reason`` says why in words (for FAILED it names the
    status or the timeout); ``expires`` is the granted interval on REGISTERED.
    """

    aor: str
    state: RegistrationState
    previous: RegistrationState
    status: int | None = None
    reason: str = ""
    expires: int | None = None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionStateChanged:
    """A subscription (either role) moved from ``previous`` to ``state``.

    ``previous`` is None for a subscription that just appeared (a fork of our
    SUBSCRIBE, a REFER's implicit subscription). ``reason`` and ``retry_after`` are
    the Subscription-State parameters sent or received, or the local cause (see
    docs/subscriptions.md); ``status`` is the SIP status that caused it, if one did;
    ``message`` the request or response that did.
    """

    subscription: ClientSubscription | ServerSubscription
    previous: SubscriptionState | None
    state: SubscriptionState
    reason: str | None = None
    retry_after: int | None = None
    status: int | None = None
    message: Request | Response | None = None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyReceived:
    """A NOTIFY for one of our subscriptions (already answered 200 by the UA).

    ``state``, ``reason``, ``expires`` and ``retry_after`` come from its
    Subscription-State header (RFC 6665 §8.2.3); the body is the resource state
    (message/sipfrag for a REFER, RFC 3515 §2.4.5).
    """

    subscription: ClientSubscription
    request: Request
    state: SubscriptionState
    reason: str | None = None
    expires: int | None = None
    retry_after: int | None = None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingSubscription:
    """A SUBSCRIBE for an event package in ``UAConfig.event_packages`` (RFC 6665
    §4.2.1). Answer with ``subscription.accept(...)`` (200 and the first NOTIFY) or
    ``.reject(...)``; unanswered after ``UAConfig.answer_timeout`` it gets 480."""

    subscription: ServerSubscription
    request: Request
    txn: ServerTxn


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ReferReceived:
    """A REFER within dialog ``dialog_id`` (RFC 3515), with its header fields parsed.

    Accept with ``ua.respond(txn, 202, now=...)``: the UA then sends the first NOTIFY
    (``SIP/2.0 100 Trying``) of the implicit subscription, unless ``refer_sub`` is
    False (RFC 4488); report progress with ``dialog.notify_refer(status, now=...)``.
    Unanswered after ``UAConfig.answer_timeout`` it gets 603. ``replaces`` is the
    Replaces header embedded in the Refer-To URI (an attended transfer, RFC 3891).
    """

    dialog_id: DialogId
    request: Request
    txn: ServerTxn
    refer_to: NameAddr
    referred_by: NameAddr | None = None
    refer_sub: bool = True
    replaces: Replaces | None = None


UAEvent: TypeAlias = (
    IncomingCall
    | DialogStateChanged
    | DialogTerminated
    | InDialogRequest
    | MessageReceived
    | AuthenticationFailed
    | RegistrationStateChanged
    | SubscriptionStateChanged
    | NotifyReceived
    | IncomingSubscription
    | ReferReceived
)

#: Every event of the core: the Endpoint's transaction events and the UserAgent's.
Event: TypeAlias = TransactionEvent | UAEvent
