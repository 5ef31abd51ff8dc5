"""The handles users hold: ClientInviteDialog and ServerInviteDialog over a dialog (or,
for a call of ours, over the call, which follows the fork that answered), and
ClientSubscription and ServerSubscription over a subscription.

A handle holds no state of its own: it reads its record and sends every command to
the part of the UserAgent that carries it out (DESIGN.md §3). Methods that send a
request return the ``ClientTxn`` whose responses arrive as ``ResponseReceived``
events carrying that same handle (also after the UA retried it with credentials or
after a §14.1 glare back-off). A handle keeps its record, so a handle of a dialog
that ended keeps answering ``state``, ``id`` and ``terminated_reason``.

The parts are reached through the :class:`Views` that made the handle; the protocols
below say what a handle asks of each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, Unpack, cast, overload

from ..dialog.model import Dialog, DialogId, DialogSnapshot, snapshot
from ..dialog.state import DialogState, TerminatedReason
from ..dialog.subscription import Subscription, SubscriptionState
from ..errors import LocalProtocolError
from ..transaction.transport import ClientTxn
from .records import Call, Content, Hdrs, Reply

if TYPE_CHECKING:
    from ..dialog.replaces import Replaces
    from ..message.fields import NameAddr
    from ..message.model import Request
    from ..message.uri import URI

_T = TypeVar("_T")

__all__ = [
    "ClientInviteDialog",
    "ClientSubscription",
    "Content",
    "ServerInviteDialog",
    "ServerSubscription",
    "Views",
]

Headers_ = Iterable[tuple[str, str]]


# -- what the handles ask of the UserAgent's parts --------------------------------------


class _Client(Protocol):  # sipsans.ua.client.ClientSide
    def request(
        self, d: Dialog, method: str, *, now: float, **content: Unpack[Content]
    ) -> ClientTxn: ...

    def reinvite(self, d: Dialog, *, now: float, **content: Unpack[Content]) -> ClientTxn: ...

    def bye(self, d: Dialog, *, headers: Hdrs, reason: str | None, now: float) -> ClientTxn: ...

    def ack(self, d: Dialog, *, body: bytes, content_type: str | None, now: float) -> None: ...


class _Caller(Protocol):  # sipsans.ua.calls.Caller
    def cancel(
        self, d: Dialog, *, headers: Hdrs, reason: str | None, now: float
    ) -> ClientTxn | None: ...


class _Server(Protocol):  # sipsans.ua.server.ServerSide
    def answer(
        self, d: Dialog, reply: Reply, *, reliable: bool | None = ..., now: float
    ) -> None: ...

    def defer_bye(
        self, d: Dialog, *, headers: Hdrs, reason: str | None, now: float
    ) -> ClientTxn: ...


class _Reliable(Protocol):  # sipsans.ua.reliable.ReliableProvisionals
    def prack(
        self, d: Dialog, *, body: bytes, content_type: str | None, headers: Hdrs, now: float
    ) -> ClientTxn: ...


class _Transfers(Protocol):  # sipsans.ua.refer.Transfers
    def refer(
        self,
        d: Dialog,
        refer_to: str | NameAddr | URI,
        *,
        referred_by: str | NameAddr | None,
        refer_sub: bool,
        replaces: DialogId | Replaces | None,
        headers: Hdrs,
        now: float,
    ) -> ClientTxn: ...

    def notify_refer(
        self,
        d: Dialog,
        status: int,
        *,
        sub_state: SubscriptionState | str | None,
        reason: str | None,
        now: float,
    ) -> ClientTxn: ...


class _Subscriptions(Protocol):  # sipsans.ua.subscriptions.Subscriptions
    def newest(self, d: Dialog) -> Subscription | None: ...


@dataclass(frozen=True, slots=True)
class SubscribeArgs:
    """What ``dialog.subscribe()`` asks the subscriber to send within the dialog
    (RFC 6665 §4.1.2.1), passed on as one value (the defaults are the handle's)."""

    event: str
    expires: int
    accept: str | None
    headers: Hdrs
    body: bytes
    content_type: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyArgs:
    """What the application's NOTIFY carries (``notify()``, ``terminate()``,
    ``notify_refer()``), passed to the notifier as one value: the resource state
    (``body``, kept for refreshes) and, if given, a new subscription ``state`` with the
    ``reason`` and ``retry_after`` of a termination (RFC 6665 §4.2.2)."""

    body: bytes | None = None
    content_type: str | None = None
    state: SubscriptionState | str | None = None
    reason: str | None = None
    retry_after: int | None = None
    headers: Hdrs = ()


class _Subscriber(Protocol):  # sipsans.ua.subscriber.Subscriber
    def subscribe_in(self, d: Dialog, args: SubscribeArgs, now: float) -> ClientSubscription: ...

    def refresh(self, rec: Subscription, expires: int | None, now: float) -> None: ...

    def unsubscribe(self, rec: Subscription, now: float) -> None: ...


class _Notifier(Protocol):  # sipsans.ua.notifier.Notifier
    def accept(
        self,
        rec: Subscription,
        reply: Reply,
        *,
        state: SubscriptionState | str,
        expires: int | None,
        now: float,
    ) -> None: ...

    def reject(self, rec: Subscription, reply: Reply, *, now: float) -> None: ...

    def notify(self, rec: Subscription, args: NotifyArgs, now: float) -> ClientTxn: ...


@dataclass(frozen=True, slots=True, eq=False)
class Views:
    """Makes the handles of one UserAgent and carries their commands to its parts: the
    record of those parts, made by the UserAgent once they all exist."""

    caller: _Caller
    client: _Client
    server: _Server
    transfers: _Transfers
    subscriptions: _Subscriptions
    subscriber: _Subscriber
    notifier: _Notifier
    reliable: _Reliable

    def call(self, call: Call) -> ClientInviteDialog:
        """The handle of a call we placed (it follows the fork that answers)."""
        return ClientInviteDialog(self, call)

    def dialog(self, d: Dialog) -> ClientInviteDialog | ServerInviteDialog:
        return ClientInviteDialog(self, d) if d.role == "uac" else ServerInviteDialog(self, d)

    def subscription(self, rec: Subscription) -> ClientSubscription | ServerSubscription:
        if rec.role == "subscriber":
            return ClientSubscription(self, rec)
        return ServerSubscription(self, rec)


def _rejection(status: int, reason: str | None, headers: Headers_) -> Reply:
    """The answer of a handle's ``reject()``: a final 3xx-6xx (§21.3-21.6; a 2xx is
    ``accept()``'s), ``reason`` its reason phrase."""
    if not 300 <= status <= 699:
        raise LocalProtocolError(f"reject() sends 300-699, not {status}")
    return Reply(status, reason, tuple(headers))


# -- INVITE dialogs ------------------------------------------------------------------------


class _InviteDialog:
    """What both ends of an INVITE dialog can do."""

    __slots__ = ("_record", "_views")

    def __init__(self, views: Views, record: Dialog | Call) -> None:
        self._views = views
        #: The dialog, or our call (whose current dialog is the fork that answered).
        self._record = record

    def _dialog(self) -> Dialog:
        record = self._record
        return record if isinstance(record, Dialog) else record.current()

    def __repr__(self) -> str:
        d = self._dialog()
        return f"<{type(self).__name__} {d.id} {d.state.value}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _InviteDialog):
            return NotImplemented
        return self._views is other._views and self._dialog() is other._dialog()

    def __hash__(self) -> int:
        # Call-ID and local tag never change while a UAC learns its remote tag.
        d = self._dialog()
        return hash((d.call_id, d.local_tag))

    @property
    def id(self) -> DialogId:
        """``DialogId(call_id, local_tag, remote_tag)``; a UAC's remote tag is "" until
        a response with a To tag arrived (and follows the fork that answered)."""
        return self._dialog().id

    @property
    def state(self) -> DialogState:
        return self._dialog().state

    @property
    def terminated_reason(self) -> TerminatedReason | None:
        return self._dialog().reason

    @property
    def status(self) -> int | None:
        """The SIP status that ended the dialog, when one applies."""
        return self._dialog().status

    def snapshot(self) -> DialogSnapshot:
        """The JSON-able state of this confirmed dialog (``ua.snapshot``; docs/dialogs.md)."""
        return snapshot(self._dialog())

    # -- in-dialog requests -------------------------------------------------------

    def bye(self, *, headers: Headers_ = (), reason: str | None = None, now: float) -> ClientTxn:
        """End a confirmed dialog (§15.1.1); ``reason`` is an RFC 3326 Reason value.

        A UAS whose 2xx is not ACKed yet holds the BYE until the ACK (or its timeout,
        §13.3.1.4) arrives, as §15 requires; the handle is returned now and the BYE's
        response arrives with it later (docs/dialogs.md)."""
        d = self._dialog()
        if d.state is DialogState.WAIT_ACK:
            return self._views.server.defer_bye(d, headers=tuple(headers), reason=reason, now=now)
        return self._views.client.bye(d, headers=tuple(headers), reason=reason, now=now)

    def hangup(
        self, *, headers: Headers_ = (), reason: str | None = None, now: float
    ) -> ClientTxn | None:
        """End the call whatever its state: CANCEL (UAC, early), reject with 603
        (UAS, unanswered), BYE (confirmed). None when there is nothing to send."""
        d = self._dialog()
        state = d.state
        if state is DialogState.TERMINATED:
            return None
        if state is DialogState.CONFIRMED or state is DialogState.WAIT_ACK:
            return self.bye(headers=headers, reason=reason, now=now)
        if d.role == "uac":
            return self._views.caller.cancel(d, headers=tuple(headers), reason=reason, now=now)
        self._views.server.answer(d, Reply(603, None, tuple(headers)), now=now)
        return None

    def reinvite(self, *, now: float, **content: Unpack[Content]) -> ClientTxn:
        """Send a re-INVITE (§14.1); a 491 is retried after the randomised back-off."""
        return self._views.client.reinvite(self._dialog(), now=now, **content)

    def ack(self, *, body: bytes = b"", content_type: str | None = None, now: float) -> None:
        """Send the ACK carrying the answer to an offer made in the 2xx to our INVITE or
        re-INVITE sent without one (late offer, RFC 3264 §5); either end may have sent
        that re-INVITE. Other ACKs are sent for you."""
        self._views.client.ack(self._dialog(), body=body, content_type=content_type, now=now)

    def request(self, method: str, *, now: float, **content: Unpack[Content]) -> ClientTxn:
        """Any request within the dialog (§12.2.1.1), carrying ``body``, ``content_type``
        and ``headers`` (:class:`Content`); SUBSCRIBE goes through :meth:`subscribe`, so
        that the UA keeps the subscription its NOTIFYs match."""
        return self._views.client.request(self._dialog(), method, now=now, **content)

    def update(self, *, now: float, **content: Unpack[Content]) -> ClientTxn:
        """UPDATE (RFC 3311), in an early or confirmed dialog: a target refresh, and a
        session refresh when a session timer runs (RFC 4028). With a ``body`` it carries
        an offer, answered in its 2xx; refused (LocalProtocolError) while another offer
        is unanswered, either way, and in an early dialog before the initial offer and
        answer completed in a reliable 1xx and its PRACK (§5.1). A 491 (the offers
        crossed) is retried after the §14.1 back-off, as a re-INVITE's is."""
        return self.request("UPDATE", now=now, **content)

    def info(self, *, now: float, **content: Unpack[Content]) -> ClientTxn:
        """INFO (RFC 6086)."""
        return self.request("INFO", now=now, **content)

    def options(self, *, now: float, **content: Unpack[Content]) -> ClientTxn:
        """OPTIONS within the dialog (§11)."""
        return self.request("OPTIONS", now=now, **content)

    def message(self, *, now: float, **content: Unpack[Content]) -> ClientTxn:
        """MESSAGE (RFC 3428); ``content_type`` defaults to text/plain."""
        return self.request("MESSAGE", now=now, **content)

    def notify(self, *, now: float, **content: Unpack[Content]) -> ClientTxn:
        """A raw NOTIFY (RFC 6665); give the Event and Subscription-State headers.

        For subscriptions the UA keeps, use :meth:`notify_refer` or
        ``ServerSubscription.notify`` instead: a peer answers 481 to a NOTIFY that
        matches none of its subscriptions (RFC 6665 §4.1.3)."""
        return self.request("NOTIFY", now=now, **content)

    # -- REFER (RFC 3515, RFC 4488, RFC 3891) ---------------------------------------

    def refer(
        self,
        refer_to: str | NameAddr | URI,
        *,
        referred_by: str | NameAddr | None = None,
        refer_sub: bool = True,
        replaces: _InviteDialog | DialogId | Replaces | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """Ask the peer to send a request (an INVITE, unless the URI says otherwise)
        to ``refer_to`` (RFC 3515). ``referred_by`` adds Referred-By (RFC 3892).

        With ``refer_sub`` (the default) the 2xx creates the implicit subscription
        whose NOTIFYs arrive as ``NotifyReceived`` (message/sipfrag bodies, see
        :func:`sipsans.dialog.replaces.parse_sipfrag`); ``refer_sub=False`` sends
        ``Refer-Sub: false`` (RFC 4488) and no NOTIFY follows. ``replaces`` (a dialog
        we hold with the transfer target, its id or a Replaces value) embeds a
        Replaces header in the Refer-To URI (RFC 3891 §4): the attended transfer."""
        if isinstance(replaces, _InviteDialog):
            replaces = replaces.id
        return self._views.transfers.refer(
            self._dialog(),
            refer_to,
            referred_by=referred_by,
            refer_sub=refer_sub,
            replaces=replaces,
            headers=tuple(headers),
            now=now,
        )

    def notify_refer(
        self,
        status: int,
        sub_state: SubscriptionState | str | None = None,
        *,
        reason: str | None = None,
        now: float,
    ) -> ClientTxn:
        """Report the progress of the REFER we accepted (RFC 3515 §2.4.4): a NOTIFY
        whose message/sipfrag body is ``SIP/2.0 <status> <reason>``.

        ``sub_state`` defaults to active for 1xx and terminated (reason
        ``noresource``) for a final status (§2.4.7). Applies to the newest REFER of
        the dialog; LocalProtocolError when there is none or it said
        ``Refer-Sub: false``."""
        return self._views.transfers.notify_refer(
            self._dialog(), status, sub_state=sub_state, reason=reason, now=now
        )

    # -- subscriptions within the dialog (RFC 6665 §4.1.2.1, §4.5.2) -------------------

    def subscribe(
        self,
        event: str,
        *,
        expires: int = 3600,
        accept: str | None = None,
        headers: Headers_ = (),
        body: bytes = b"",
        content_type: str | None = None,
        now: float,
    ) -> ClientSubscription:
        """Subscribe to ``event`` of the peer within this (confirmed) dialog instead of a
        new one (RFC 6665 dialog reuse); it then behaves like one from ``ua.subscribe``:
        refreshed, reported, ended with ``unsubscribe()``, and it outlives a BYE of the
        call (RFC 5057). A second subscription to the same package needs another ``id``."""
        args = SubscribeArgs(event, expires, accept, tuple(headers), body, content_type)
        return self._views.subscriber.subscribe_in(self._dialog(), args, now)

    def as_subscription(self) -> ClientSubscription | ServerSubscription:
        """The subscription view of this dialog: its newest subscription usage (the
        implicit subscription of a REFER sent or accepted, or one from ``subscribe()``)."""
        d = self._dialog()
        rec = self._views.subscriptions.newest(d)
        if rec is None:
            raise LocalProtocolError(f"dialog {d.id} has no subscription (send or accept a REFER)")
        return self._views.subscription(rec)


class ClientInviteDialog(_InviteDialog):
    """The caller's side of a call made with ``ua.invite(...)``."""

    __slots__ = ()

    def cancel(
        self, *, headers: Headers_ = (), reason: str | None = None, now: float
    ) -> ClientTxn | None:
        """CANCEL the INVITE (§9.1); held until a provisional response arrived. A 2xx
        that races the CANCEL is ACKed and then BYEd. None when nothing is pending."""
        return self._views.caller.cancel(
            self._dialog(), headers=tuple(headers), reason=reason, now=now
        )

    def prack(
        self,
        *,
        body: bytes,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """Send the PRACK carrying our answer to the offer of a reliable provisional
        response (RFC 3262 §5; ``ProvisionalOffer`` says one came). Other PRACKs are
        sent for you. Its responses arrive as events with the handle returned."""
        return self._views.reliable.prack(
            self._dialog(), body=body, content_type=content_type, headers=tuple(headers), now=now
        )


class ServerInviteDialog(_InviteDialog):
    """The callee's side, delivered by ``IncomingCall``."""

    __slots__ = ()

    def ringing(self, *, reliable: bool | None = None, headers: Headers_ = (), now: float) -> None:
        """180 Ringing (creates the early dialog, §13.3.1.1).

        ``reliable`` (RFC 3262): None sends it reliably when the caller requires 100rel
        (or ``UAConfig.rel100`` is "required"); True asks for it (the caller must
        support 100rel); False refuses it (not if the caller requires it). A reliable
        1xx is retransmitted until its PRACK, and a 2xx given meanwhile waits for that."""
        reply = Reply(180, None, tuple(headers))
        self._views.server.answer(self._dialog(), reply, reliable=reliable, now=now)

    def progress(
        self,
        status: int = 183,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        reliable: bool | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> None:
        """A provisional response (183 Session Progress with early media by default);
        ``reliable`` as for :meth:`ringing`. A session description here is the answer
        to the INVITE's offer (or our offer, if it had none) only when sent reliably."""
        if not 101 <= status <= 199:
            raise LocalProtocolError(f"progress() sends 101-199, not {status}")
        reply = Reply(status, None, tuple(headers), body, content_type)
        self._views.server.answer(self._dialog(), reply, reliable=reliable, now=now)

    def accept(
        self,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> None:
        """200 OK; retransmitted until the ACK arrives (§13.3.1.4)."""
        reply = Reply(200, None, tuple(headers), body, content_type)
        self._views.server.answer(self._dialog(), reply, now=now)

    def reject(
        self,
        status: int = 486,
        *,
        reason: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> None:
        """A final 3xx-6xx (``reason`` is the reason phrase)."""
        self._views.server.answer(self._dialog(), _rejection(status, reason, headers), now=now)


# -- subscriptions (RFC 6665) ---------------------------------------------------------


class _RecordField(Generic[_T]):
    """A read-only attribute of a subscription handle: the attribute of the same name
    of its record (a handle keeps no state of its own)."""

    def __init__(self, doc: str | None = None) -> None:
        self.__doc__ = doc
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, view: None, owner: type) -> _RecordField[_T]: ...
    @overload
    def __get__(self, view: _SubscriptionView, owner: type) -> _T: ...
    def __get__(self, view: _SubscriptionView | None, owner: type) -> _T | _RecordField[_T]:
        if view is None:
            return self
        return cast("_T", getattr(view._rec, self._name))

    def __set__(self, view: _SubscriptionView, value: object) -> None:
        raise AttributeError(f"{self._name} is read-only: the handle shows its record")


class _SubscriptionView:
    """What both ends of a subscription can read."""

    __slots__ = ("_rec", "_views")

    def __init__(self, views: Views, record: Subscription) -> None:
        self._views = views
        self._rec = record

    def __repr__(self) -> str:
        r = self._rec
        return f"<{type(self).__name__} {r.event} {r.state.value}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _SubscriptionView):
            return NotImplemented
        return self._views is other._views and self._rec is other._rec

    def __hash__(self) -> int:
        return hash(self._rec.key)

    key: _RecordField[int] = _RecordField("A number naming this subscription within its UserAgent.")
    state: _RecordField[SubscriptionState] = _RecordField()

    @property
    def event(self) -> str:
        """The event package (``presence``, ``dialog``, ``refer``, ...)."""
        return self._rec.event.package

    @property
    def event_id(self) -> str | None:
        """The Event header's ``id`` parameter (a REFER's CSeq for ``refer``)."""
        return self._rec.event.id

    @property
    def dialog_id(self) -> DialogId | None:
        """The dialog the subscription lives in (None before one exists)."""
        d = self._rec.dialog
        return d.id if d is not None else None

    expires_at: _RecordField[float | None] = _RecordField(
        "When the subscription runs out on the caller's clock, if known."
    )
    reason: _RecordField[str | None] = _RecordField(
        """Why it ended: the Subscription-State reason (RFC 6665 §4.1.3: timeout,
        rejected, noresource, deactivated, probation, giveup, invariant) or a local
        cause (see docs/subscriptions.md)."""
    )
    retry_after: _RecordField[int | None] = _RecordField()
    status: _RecordField[int | None] = _RecordField("The SIP status that ended it, when one did.")


class ClientSubscription(_SubscriptionView):
    """The subscriber's side: ``ua.subscribe(...)``, a fork of it, or a REFER we sent."""

    __slots__ = ()

    last_notify: _RecordField[Request | None] = _RecordField(
        "The last NOTIFY received (its body is the resource state)."
    )

    def refresh(self, *, expires: int | None = None, now: float) -> None:
        """Refresh now (the UA also refreshes by itself before expiry)."""
        self._views.subscriber.refresh(self._rec, expires, now)

    def unsubscribe(self, *, now: float) -> None:
        """SUBSCRIBE with Expires: 0 (RFC 6665 §4.1.2.3); TERMINATED follows the
        notifier's final NOTIFY."""
        self._views.subscriber.unsubscribe(self._rec, now)


class ServerSubscription(_SubscriptionView):
    """The notifier's side: delivered by ``IncomingSubscription``, or the implicit
    subscription of a REFER we accepted."""

    __slots__ = ()

    request: _RecordField[Request | None] = _RecordField(
        "The SUBSCRIBE (or REFER) that created the subscription."
    )

    def accept(
        self,
        *,
        state: SubscriptionState | str = SubscriptionState.ACTIVE,
        body: bytes = b"",
        content_type: str | None = None,
        expires: int | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> None:
        """200 OK, then at once the first NOTIFY with ``state`` (active or pending)
        and ``body`` (RFC 6665 §4.2.1.2). ``expires`` shortens the duration asked for."""
        reply = Reply(200, None, tuple(headers), body, content_type)
        self._views.notifier.accept(self._rec, reply, state=state, expires=expires, now=now)

    def reject(
        self,
        status: int = 403,
        *,
        reason: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> None:
        """A final 3xx-6xx to the SUBSCRIBE (``reason`` is the reason phrase)."""
        self._views.notifier.reject(self._rec, _rejection(status, reason, headers), now=now)

    def notify(
        self,
        body: bytes | None = None,
        *,
        content_type: str | None = None,
        state: SubscriptionState | str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """A NOTIFY with the new resource state (``body``, kept for refreshes) and,
        if given, a new subscription ``state``. Its responses arrive as events."""
        args = NotifyArgs(body=body, content_type=content_type, state=state, headers=tuple(headers))
        return self._views.notifier.notify(self._rec, args, now)

    def terminate(
        self,
        *,
        reason: str | None = "noresource",
        retry_after: int | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """End the subscription: a NOTIFY with ``terminated;reason=...`` (RFC 6665
        §4.2.2, e.g. ``noresource``, ``deactivated``, ``rejected``, ``giveup``)."""
        args = NotifyArgs(
            body=body,
            content_type=content_type,
            state=SubscriptionState.TERMINATED,
            reason=reason,
            retry_after=retry_after,
            headers=tuple(headers),
        )
        return self._views.notifier.notify(self._rec, args, now)
