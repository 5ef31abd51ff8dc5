"""ClientInviteDialog and ServerInviteDialog: thin views ``(ua, dialog_id)``.

All state lives in the :class:`~sipsans.ua.UserAgent`; every method here is a UA
command (DESIGN.md §3). Methods that send a request return the ``ClientTxn`` whose
responses arrive as ``ResponseReceived`` events carrying that same handle (also
after the UA retried it with credentials or after a §14.1 glare back-off).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import LocalProtocolError
from ..transport import ClientTxn
from .model import Dialog, DialogId
from .state import DialogState, TerminatedReason

if TYPE_CHECKING:
    from ..ua import UserAgent

__all__ = ["ClientInviteDialog", "ServerInviteDialog"]

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
        d = self._ua._resolve(self._key, self._last)
        self._last = d
        return d

    def __repr__(self) -> str:
        d = self._dialog()
        return f"<{type(self).__name__} {d.id} {d.state.value}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _InviteDialog):
            return NotImplemented
        return self._ua is other._ua and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

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

    def bye(
        self, *, headers: Headers_ = (), reason: str | None = None, now: float
    ) -> ClientTxn | None:
        """End a confirmed dialog (§15.1.1); ``reason`` is an RFC 3326 Reason value.

        A UAS whose 2xx is not ACKed yet holds the BYE until the ACK (or its
        timeout) arrives, as §15 requires, and returns None."""
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
        """Any request within the dialog (§12.2.1.1)."""
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
        return self.request(
            "UPDATE", body=body, content_type=content_type, headers=headers, now=now
        )

    def info(
        self,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """INFO (RFC 6086)."""
        return self.request("INFO", body=body, content_type=content_type, headers=headers, now=now)

    def options(
        self,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """OPTIONS within the dialog (§11)."""
        return self.request(
            "OPTIONS", body=body, content_type=content_type, headers=headers, now=now
        )

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
        return self.request(
            "MESSAGE", body=body, content_type=content_type, headers=headers, now=now
        )

    def notify(
        self,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers_ = (),
        now: float,
    ) -> ClientTxn:
        """NOTIFY (RFC 6665); give the Event and Subscription-State headers."""
        return self.request(
            "NOTIFY", body=body, content_type=content_type, headers=headers, now=now
        )


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
