"""Thin views: ClientInviteDialog and ServerInviteDialog ``(ua, dialog_id)``, and
ClientSubscription and ServerSubscription over a subscription record.

All state lives in the :class:`~sipsans.ua.UserAgent`; every method here is a UA
command (DESIGN.md §3). Methods that send a request return the ``ClientTxn`` whose
responses arrive as ``ResponseReceived`` events carrying that same handle (also
after the UA retried it with credentials or after a §14.1 glare back-off).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..dialog.model import Dialog, DialogId
from ..dialog.state import DialogState, TerminatedReason
from ..dialog.subscription import Subscription, SubscriptionState
from ..errors import LocalProtocolError
from ..transaction.transport import ClientTxn

if TYPE_CHECKING:
    from ..dialog.replaces import Replaces
    from ..message.fields import NameAddr
    from ..message.model import Request
    from ..message.uri import URI
    from .agent import UserAgent

__all__ = ["ClientInviteDialog", "ClientSubscription", "ServerInviteDialog", "ServerSubscription"]

Headers_ = Iterable[tuple[str, str]]


class _InviteDialog:
    """What both ends of an INVITE dialog can do."""

    __slots__ = ("_key", "_last", "_ua")

    def __init__(self, ua: UserAgent, dialog_id: DialogId) -> None:
        self._ua = ua
        self._key = dialog_id
        #: The UA's record (a UAC's call, or the dialog), so that a freed dialog
        #: still reports Terminated; never used for anything else.
        self._last: object = None

    def _dialog(self) -> Dialog:
        last = self._last
        if type(last) is Dialog:  # a dialog (not a UAC's call) is the record itself
            return last
        d = self._ua._resolve(self._key, last)
        self._last = d
        return d

    def __repr__(self) -> str:
        d = self._dialog()
        return f"<{type(self).__name__} {d.id} {d.state.value}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _InviteDialog):
            return NotImplemented
        if self._ua is not other._ua:
            return False
        if self._key == other._key:
            return True
        # A UAC's view keeps the id it had before a To tag arrived, while a view made
        # later (IncomingCall.replaces, ua.dialog(id)) names the fork: the same dialog
        # when both resolve to the same record.
        try:
            return self._dialog() is other._dialog()
        except LocalProtocolError:
            return False

    def __hash__(self) -> int:
        # Call-ID and local tag never change while a UAC learns its remote tag.
        return hash((self._key.call_id, self._key.local_tag))

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

    # -- in-dialog requests -------------------------------------------------------

    def bye(self, *, headers: Headers_ = (), reason: str | None = None, now: float) -> ClientTxn:
        """End a confirmed dialog (§15.1.1); ``reason`` is an RFC 3326 Reason value.

        A UAS whose 2xx is not ACKed yet holds the BYE until the ACK (or its timeout,
        §13.3.1.4) arrives, as §15 requires; the handle is returned now and the BYE's
        response arrives with it later (docs/dialogs.md)."""
        return self._ua._bye(self._dialog(), tuple(headers), reason, now)

    def hangup(
        self, *, headers: Headers_ = (), reason: str | None = None, now: float
    ) -> ClientTxn | None:
        """End the call whatever its state: CANCEL (UAC, early), reject with 603
        (UAS, unanswered), BYE (confirmed). None when there is nothing to send."""
        return self._ua._hangup(self._dialog(), tuple(headers), reason, now)

    def reinvite(
        self,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """Send a re-INVITE (§14.1); a 491 is retried after the randomised back-off."""
        return self._ua._reinvite(self._dialog(), body, content_type, tuple(headers), now)

    def request(
        self,
        method: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """Any request within the dialog (§12.2.1.1); SUBSCRIBE goes through
        :meth:`subscribe`, so that the UA keeps the subscription its NOTIFYs match."""
        return self._ua._in_dialog(self._dialog(), method, body, content_type, tuple(headers), now)

    def _send(
        self,
        method: str,
        body: bytes | None,
        content_type: str | None,
        headers: Headers_,
        now: float,
    ) -> ClientTxn:
        return self._ua._in_dialog(self._dialog(), method, body, content_type, tuple(headers), now)

    def update(
        self,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """UPDATE (RFC 3311), a target refresh that may carry an offer."""
        return self._send("UPDATE", body, content_type, headers, now)

    def info(
        self,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """INFO (RFC 6086)."""
        return self._send("INFO", body, content_type, headers, now)

    def options(
        self,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """OPTIONS within the dialog (§11)."""
        return self._send("OPTIONS", body, content_type, headers, now)

    def message(
        self,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """MESSAGE (RFC 3428); ``content_type`` defaults to text/plain."""
        if body and content_type is None:
            content_type = "text/plain"
        return self._send("MESSAGE", body, content_type, headers, now)

    def notify(
        self,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """A raw NOTIFY (RFC 6665); give the Event and Subscription-State headers.

        For subscriptions the UA keeps, use :meth:`notify_refer` or
        ``ServerSubscription.notify`` instead: a peer answers 481 to a NOTIFY that
        matches none of its subscriptions (RFC 6665 §4.1.3)."""
        return self._send("NOTIFY", body, content_type, headers, now)

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
        return self._ua._refer(
            self._dialog(), refer_to, referred_by, refer_sub, replaces, tuple(headers), now
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
        return self._ua._notify_refer(self._dialog(), status, sub_state, reason, now)

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
        return self._ua._subscribe_in(
            self._dialog(), event, expires, accept, tuple(headers), body, content_type, now
        )

    def as_subscription(self) -> ClientSubscription | ServerSubscription:
        """The subscription view of this dialog: its newest subscription usage (the
        implicit subscription of a REFER sent or accepted, or one from ``subscribe()``)."""
        return self._ua._as_subscription(self._dialog())


class ClientInviteDialog(_InviteDialog):
    """The caller's side of a call made with ``ua.invite(...)``."""

    __slots__ = ()

    def cancel(
        self, *, headers: Headers_ = (), reason: str | None = None, now: float
    ) -> ClientTxn | None:
        """CANCEL the INVITE (§9.1); held until a provisional response arrived. A 2xx
        that races the CANCEL is ACKed and then BYEd. None when nothing is pending."""
        return self._ua._cancel(self._dialog(), tuple(headers), reason, now)

    def ack(self, *, body: bytes = b"", content_type: str | None = None, now: float) -> None:
        """Send the ACK carrying the answer to an offer made in the 2xx (late offer,
        RFC 3264 §5; an INVITE sent without a body). Other ACKs are sent for you."""
        self._ua._late_ack(self._dialog(), body, content_type, now)


class ServerInviteDialog(_InviteDialog):
    """The callee's side, delivered by ``IncomingCall``."""

    __slots__ = ()

    def ringing(self, *, headers: Headers_ = (), now: float) -> None:
        """180 Ringing (creates the early dialog, §13.3.1.1)."""
        self._ua._answer_invite(self._dialog(), 180, None, tuple(headers), b"", None, now)

    def progress(
        self,
        status: int = 183,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> None:
        """A provisional response (183 Session Progress with early media by default)."""
        if not 101 <= status <= 199:
            raise LocalProtocolError(f"progress() sends 101-199, not {status}")
        self._ua._answer_invite(
            self._dialog(), status, None, tuple(headers), body, content_type, now
        )

    def accept(
        self,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> None:
        """200 OK; retransmitted until the ACK arrives (§13.3.1.4)."""
        self._ua._answer_invite(self._dialog(), 200, None, tuple(headers), body, content_type, now)

    def reject(
        self,
        status: int = 486,
        *,
        reason: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> None:
        """A final 3xx-6xx (``reason`` is the reason phrase)."""
        if not 300 <= status <= 699:
            raise LocalProtocolError(f"reject() sends 300-699, not {status}")
        self._ua._answer_invite(self._dialog(), status, reason, tuple(headers), b"", None, now)


# -- subscriptions (RFC 6665) ---------------------------------------------------------


class _SubscriptionView:
    """What both ends of a subscription can read."""

    __slots__ = ("_rec", "_ua")

    def __init__(self, ua: UserAgent, record: Subscription) -> None:
        self._ua = ua
        self._rec = record

    def __repr__(self) -> str:
        r = self._rec
        return f"<{type(self).__name__} {r.event} {r.state.value}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _SubscriptionView):
            return NotImplemented
        return self._ua is other._ua and self._rec is other._rec

    def __hash__(self) -> int:
        return hash(self._rec.key)

    @property
    def key(self) -> int:
        """A number naming this subscription within its UserAgent."""
        return self._rec.key

    @property
    def state(self) -> SubscriptionState:
        return self._rec.state

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

    @property
    def expires_at(self) -> float | None:
        """When the subscription runs out on the caller's clock, if known."""
        return self._rec.expires_at

    @property
    def reason(self) -> str | None:
        """Why it ended: the Subscription-State reason (RFC 6665 §4.1.3: timeout,
        rejected, noresource, deactivated, probation, giveup, invariant) or a local
        cause (see docs/subscriptions.md)."""
        return self._rec.reason

    @property
    def retry_after(self) -> int | None:
        return self._rec.retry_after

    @property
    def status(self) -> int | None:
        """The SIP status that ended it, when one did."""
        return self._rec.status


class ClientSubscription(_SubscriptionView):
    """The subscriber's side: ``ua.subscribe(...)``, a fork of it, or a REFER we sent."""

    __slots__ = ()

    @property
    def last_notify(self) -> Request | None:
        """The last NOTIFY received (its body is the resource state)."""
        return self._rec.last_notify

    def refresh(self, *, expires: int | None = None, now: float) -> None:
        """Refresh now (the UA also refreshes by itself before expiry)."""
        self._ua._sub_refresh(self._rec, expires, now)

    def unsubscribe(self, *, now: float) -> None:
        """SUBSCRIBE with Expires: 0 (RFC 6665 §4.1.2.3); TERMINATED follows the
        notifier's final NOTIFY."""
        self._ua._sub_unsubscribe(self._rec, now)


class ServerSubscription(_SubscriptionView):
    """The notifier's side: delivered by ``IncomingSubscription``, or the implicit
    subscription of a REFER we accepted."""

    __slots__ = ()

    @property
    def request(self) -> Request | None:
        """The SUBSCRIBE (or REFER) that created the subscription."""
        return self._rec.request

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
        self._ua._sub_accept(self._rec, state, body, content_type, expires, tuple(headers), now)

    def reject(
        self,
        status: int = 403,
        *,
        reason: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> None:
        """A final 3xx-6xx to the SUBSCRIBE (``reason`` is the reason phrase)."""
        if not 300 <= status <= 699:
            raise LocalProtocolError(f"reject() sends 300-699, not {status}")
        self._ua._sub_reject(self._rec, status, reason, tuple(headers), now)

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
        return self._ua._sub_notify(
            self._rec, body, content_type, state, None, None, tuple(headers), now
        )

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
        return self._ua._sub_notify(
            self._rec,
            body,
            content_type,
            SubscriptionState.TERMINATED,
            reason,
            retry_after,
            tuple(headers),
            now,
        )
