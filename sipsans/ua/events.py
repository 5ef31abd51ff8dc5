"""The UserAgent's events (DESIGN.md §4), and :data:`Event`, the union of every event
the core emits.

Events are frozen, slotted, keyword-only dataclasses, so callers can ``match``
exhaustively.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from .._speed import quick_init
from ..dialog.events import DialogChanged, DialogStateChanged, DialogTerminated
from ..dialog.model import DialogId
from ..dialog.replaces import Replaces
from ..dialog.subscription import SubscriptionState
from ..message.fields import NameAddr
from ..message.model import Request, Response
from ..transaction.events import TransactionEvent
from ..transaction.transport import ClientTxn, ConnHandle, ServerTxn, Target
from .handles import (
    ClientInviteDialog,
    ClientSubscription,
    ServerInviteDialog,
    ServerSubscription,
)
from .register_client import RegistrationStateChanged

__all__ = [
    "AuthenticationFailed",
    "Event",
    "FlowFailed",
    "InDialogRequest",
    "IncomingCall",
    "IncomingSubscription",
    "MessageReceived",
    "NotifyReceived",
    "ProvisionalOffer",
    "ReferReceived",
    "RestoreRefusal",
    "RestoreRefused",
    "SessionRefreshed",
    "SubscriptionStateChanged",
    "TargetFailed",
    "TargetsExhausted",
    "UAEvent",
    "UnknownDialogRequest",
]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class _RequestFailure:
    """What the two reports of a request failing over (RFC 3263 §4.3) both name first:
    ``txn``, the handle the command returned, and ``request``, the request that failed."""

    txn: ClientTxn
    request: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetFailed(_RequestFailure):
    """A request sent to ``target`` failed there, and the UA left that target
    (RFC 3263 §4.3): a 503 (``status`` 503), a transaction time-out (Timer B or F) or a
    transport error (``status`` None); ``reason`` says which in words.

    ``next_target`` is where the UA sent the same request again, in a new client
    transaction (a new branch); None when no target was left, and
    :class:`TargetsExhausted` follows. ``txn`` is the handle the command returned (for a
    registration, the REGISTER's transaction), ``request`` the request that failed,
    ``dialog_id`` the call's dialog for an INVITE. The target is tried after the others
    by later requests for ``UAConfig.failover_backoff`` seconds (a 503's Retry-After
    instead, up to ``UAConfig.failover_max_backoff``). Emitted only for requests given
    several targets (``targets=``): a single target never fails over.
    """

    target: Target
    reason: str
    status: int | None = None
    next_target: Target | None = None
    dialog_id: DialogId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetsExhausted(_RequestFailure):
    """Every target of a request failed (RFC 3263 §4.3: the request fails when the
    list runs out). ``failures`` pairs each target tried with why it failed, in order.
    The request's own outcome follows as it would with one target: the last 503, or
    ``TransactionTimedOut`` / ``TransportFailed``, and the call or registration fails."""

    failures: tuple[tuple[Target, str], ...]
    dialog_id: DialogId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowFailed:
    """The flow (RFC 5626 §3.1: a stream connection) a registration was kept over
    failed: closed, lost, or silent to CRLF keep-alives (RFC 5626 §4.4.1). The UA
    registers ``aor`` again at once over a new flow; ``reason`` says what happened."""

    aor: str
    conn: ConnHandle
    reason: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownDialogRequest:
    """A request arrived within ``dialog_id``, a dialog this UA does not hold (another
    process held it: DESIGN.md §10), and ``UAConfig.restore_wait`` is set.

    The request waits: fetch the dialog's snapshot and hand it to
    ``ua.resume(dialog_id, snapshot, now=...)`` (None when there is none), which
    restores the dialog and processes the request as if the dialog had always been
    here, or refuses it (``RestoreRefused``, 481). Without an answer within
    ``restore_wait`` seconds the request gets 481. Reported once per dialog: further
    requests of the same dialog wait with the first.
    """

    dialog_id: DialogId
    request: Request


class RestoreRefusal(Enum):
    """Why a dialog was not restored (``RestoreRefused.reason``)."""

    #: The application has no snapshot of it (``ua.resume(id, None)``).
    NOT_FOUND = "not-found"
    #: The snapshot's format version is not one this sipsans reads.
    UNKNOWN_VERSION = "unknown-version"
    #: The snapshot is not a valid one, or is another dialog's.
    CORRUPT = "corrupt"
    #: The dialog already ended here.
    ENDED = "ended"
    #: Another process restores or holds it (``ua.refuse_restore``).
    OWNED = "owned"
    #: The snapshot could not be read (``ua.refuse_restore``: the store is unreachable).
    UNAVAILABLE = "unavailable"
    #: Nothing was restored within ``UAConfig.restore_wait``.
    TIMEOUT = "timeout"
    #: ``UAConfig.max_restores`` dialogs already await restoration.
    BUSY = "busy"


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionalOffer:
    """A reliable provisional response to our INVITE, which carried no offer, carries
    the callee's offer (RFC 3262 §5): its PRACK must carry our answer.

    Send it with ``dialog.prack(body=answer, now=...)`` (``ua.dialog(dialog_id)``);
    unanswered after ``UAConfig.answer_timeout`` the UA PRACKs without an answer and
    CANCELs the call.
    """

    dialog_id: DialogId
    response: Response


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreRefused:
    """The dialog ``dialog_id`` was not restored, for ``reason`` (``detail`` says
    more); the requests that waited for it were answered 481 (§12.2.2). Nothing of a
    refused snapshot is kept."""

    dialog_id: DialogId
    reason: RestoreRefusal
    detail: str = ""


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRefreshed:
    """A session timer started or was refreshed (RFC 4028 §10): a 2xx to the INVITE, or
    to a re-INVITE or UPDATE, set the session interval.

    ``interval`` is the session interval in seconds; ``we_refresh`` says whether this
    UA refreshes (it sends an UPDATE, or a re-INVITE if the peer does not allow UPDATE,
    at half the interval) or the peer does; ``expires_at`` is when the session ends on
    the caller's clock unless refreshed (the UA then sends BYE and the dialog ends with
    ``TerminatedReason.SESSION_EXPIRED``). ``message`` is the 2xx that set it.
    """

    dialog_id: DialogId
    interval: int
    we_refresh: bool
    expires_at: float
    message: Response


UAEvent: TypeAlias = (
    IncomingCall
    | DialogStateChanged
    | DialogChanged
    | DialogTerminated
    | InDialogRequest
    | MessageReceived
    | AuthenticationFailed
    | RegistrationStateChanged
    | SubscriptionStateChanged
    | NotifyReceived
    | IncomingSubscription
    | ReferReceived
    | UnknownDialogRequest
    | RestoreRefused
    | TargetFailed
    | TargetsExhausted
    | FlowFailed
    | ProvisionalOffer
    | SessionRefreshed
)

#: Every event of the core: the Endpoint's transaction events and the UserAgent's.
Event: TypeAlias = TransactionEvent | UAEvent
