"""Awaitable calls and dialogs on top of a session whose core is a ``sipsans.UserAgent``.

The core's dialog views (``ClientInviteDialog``/``ServerInviteDialog``) are commands
that take ``now=`` and return the ``ClientTxn`` whose outcome arrives later as events.
:class:`AsyncDialog` wraps such a view: every method is a coroutine that issues the same
command through the session's :class:`~sipsans_session.driver.Driver` and, when a request
was sent, returns its final ``Response`` (resolved from the ``ResponseReceived`` /
``TransactionTimedOut`` / ``TransportFailed`` event carrying that handle, which never
reaches ``async for``; see :class:`~sipsans_session.waits.Waits`), as DESIGN.md §3 says.
No SIP logic lives here: dialog states, CANCEL/BYE choice, ACKs and retransmissions are
the UserAgent's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Unpack

from sipsans import (
    URI,
    ClientInviteDialog,
    DialogId,
    DialogSnapshot,
    DialogState,
    DialogStateChanged,
    LocalProtocolError,
    NameAddr,
    Replaces,
    Request,
    Response,
    ServerInviteDialog,
    ServerTxn,
    SubscriptionState,
    TerminatedReason,
)

from .driver import Driver
from .options import Answer, Content, Hdrs, View
from .sent import Sent
from .subscriptions import AsyncSubscription
from .waits import Waits

__all__ = ["AsyncDialog", "CallFailed", "DialogInfo", "DialogKey", "dialog_key"]

#: (Call-ID, local tag): stable while a UAC learns the remote tag.
DialogKey = tuple[str, str]


def dialog_key(dialog_id: DialogId) -> DialogKey:
    """The key a dialog's events are routed to (:meth:`Waits.until`)."""
    return (dialog_id.call_id, dialog_id.local_tag)


class CallFailed(Exception):
    """``await ua.invite(...)`` (or ``await call.accept(...)``) ended without a
    confirmed dialog.

    ``reason`` is the dialog's :class:`sipsans.TerminatedReason`, ``status`` the SIP
    status that ended it (486, 603, 408, ...) when one applies, ``response`` the final
    response that ended our call (its reason phrase and headers, e.g. Retry-After or
    Warning) or None when none did (a timeout, a transport failure, an incoming call),
    and ``dialog`` the terminated :class:`AsyncDialog`."""

    def __init__(self, dialog: AsyncDialog) -> None:
        self.dialog = dialog
        self.reason: TerminatedReason | None = dialog.terminated_reason
        self.status: int | None = dialog.status
        self.response: Response | None = dialog.response
        name = self.reason.name if self.reason is not None else "UNKNOWN"
        status = f" ({self.status})" if self.status is not None else ""
        super().__init__(f"call {dialog.id.call_id} failed: {name}{status}")


class DialogInfo:
    """The read-only state of a dialog, from the core's view (always current)."""

    __slots__ = ()

    @property
    def view(self) -> View:
        """The core's dialog view."""
        raise NotImplementedError

    @property
    def id(self) -> DialogId:
        return self.view.id

    @property
    def state(self) -> DialogState:
        return self.view.state

    @property
    def terminated_reason(self) -> TerminatedReason | None:
        return self.view.terminated_reason

    @property
    def status(self) -> int | None:
        return self.view.status

    @property
    def is_terminated(self) -> bool:
        return self.view.state is DialogState.TERMINATED

    def snapshot(self) -> DialogSnapshot:
        """The JSON-able state of this confirmed dialog (``ua.snapshot``; docs/dialogs.md),
        for ``ua.restore`` in this or another process."""
        return self.view.snapshot()


class AsyncDialog(DialogInfo):
    """An INVITE dialog (either end) with awaitable methods.

    Requests (``reinvite``, ``update``, ``info``, ``options``, ``message``, ``notify``,
    ``request``, ``refer``, ``notify_refer``) return the final ``Response`` to the
    request they sent; ``bye``, ``cancel`` and ``hangup`` do too, or return None when
    nothing was sent: none was needed, or the UA held the request and dropped it as the
    call ended some other way first (e.g. a BYE waiting for the ACK of our 2xx, §15,
    when the peer's BYE came first). They raise :class:`RequestTimeout` or
    :class:`TransportError` when no final response comes (its subclass
    :class:`RequestDropped` when the dialog ended before the request could be sent).
    Answers (``ringing``, ``progress``, ``reject``) return once sent; ``accept``
    returns once the ACK confirmed the dialog (raises :class:`CallFailed` if it ended
    instead). ``async with dialog:`` hangs up on exit; ``await dialog.closed()`` waits
    for the end; ``as_subscription()`` gives a REFER's subscription. A wait for a state
    (``closed``, ``established``, ``accept``) still pending when the session closes
    ends then: see :meth:`closed`.
    """

    __slots__ = ("_driver", "_waits", "initial_request", "response", "view", "was_confirmed")

    view: View  # a plain attribute here: the wrapped view

    def __init__(
        self, driver: Driver[Any], waits: Waits, view: View, *, request: Request | None = None
    ) -> None:
        self._driver = driver
        self._waits = waits
        #: The core's dialog view (its properties are always current).
        self.view = view
        #: The INVITE that created an incoming call (None for ours).
        self.initial_request = request
        #: The final response to our INVITE: the 2xx that confirmed the call (its body
        #: is the SDP answer) or the 3xx-6xx that ended it; None until then, and for an
        #: incoming call.
        self.response: Response | None = None
        #: Whether the dialog reached Confirmed. The core may confirm and end a dialog in
        #: one pump (the ACK and a BYE in the same read), so the current state alone
        #: cannot tell ``established()`` that the call was answered.
        self.was_confirmed = False

    def __repr__(self) -> str:
        return f"<AsyncDialog {self.view!r}>"

    def observe(self, event: DialogStateChanged) -> None:
        """Keep ``response`` and ``was_confirmed`` from the core's state changes."""
        message = event.message
        if event.state is DialogState.CONFIRMED:
            if not self.was_confirmed and isinstance(message, Response):
                self.response = message  # the 2xx (of whichever fork answered)
            self.was_confirmed = True
        elif (
            event.state is DialogState.TERMINATED
            and not self.was_confirmed
            and isinstance(message, Response)
            and isinstance(self.view, ClientInviteDialog)
        ):
            self.response = message  # the final 3xx-6xx that ended our call

    # -- waiting for states ----------------------------------------------------------

    async def closed(self, timeout: float | None = None) -> TerminatedReason | None:
        """Wait until the dialog is terminated; returns its TerminatedReason.

        Closing the session hangs up every dialog, which ends this wait; if the dialog is
        still not terminated once the session is closed (e.g. our CANCEL was never
        answered), it raises :class:`TransportError` ("session closed")."""
        await self._waits.until(dialog_key(self.id), lambda _: self.is_terminated, timeout)
        return self.terminated_reason

    async def established(self, timeout: float | None = None) -> AsyncDialog:
        """Wait until the dialog is confirmed; :class:`CallFailed` if it ended instead,
        :class:`TransportError` ("session closed") if the session closed while the call
        was still being set up."""
        await self._waits.until(
            dialog_key(self.id),
            lambda _: (
                self.was_confirmed or self.state in (DialogState.CONFIRMED, DialogState.TERMINATED)
            ),
            timeout,
        )
        if not (self.was_confirmed or self.state is DialogState.CONFIRMED):
            raise CallFailed(self)
        return self

    async def __aenter__(self) -> AsyncDialog:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        """Hang up (CANCEL, reject or BYE, whatever the state calls for) unless ended.

        On a normal exit, wait (bounded by ``session.hangup_timeout``) for the answer to
        the BYE/CANCEL; under cancellation or an error the request is out and the
        session finishes it."""
        if not self.is_terminated:
            await self._waits.hang_up(self.view.hangup, wait=exc is None)

    # -- requests ----------------------------------------------------------------------

    async def bye(self, *, headers: Hdrs = (), reason: str | None = None) -> Response | None:
        """BYE (§15.1.1); ``reason`` is an RFC 3326 Reason header value. Returns the
        BYE's final response, or None when the BYE was never sent: as callee before the
        ACK of our 2xx the UA holds it (§15), and drops it if the dialog ends some other
        way meanwhile (the caller's BYE came first)."""
        return await self._waits.end_call(self.view.bye, headers=headers, reason=reason)

    async def hangup(self, *, headers: Hdrs = (), reason: str | None = None) -> Response | None:
        """CANCEL while early (the CANCEL's response is returned), BYE once confirmed,
        603 for an unanswered incoming call (returns None). Also None when the UA dropped
        the CANCEL or BYE unsent because the call ended first (see :meth:`bye`,
        :meth:`cancel`)."""
        return await self._waits.end_call(self.view.hangup, headers=headers, reason=reason)

    async def cancel(self, *, headers: Hdrs = (), reason: str | None = None) -> Response | None:
        """CANCEL our pending INVITE (§9.1); returns the response to the CANCEL, or None
        when none was sent: the call was no longer early, or the UA held the CANCEL until
        a provisional response and the INVITE's final response came first (the UA ACKs
        a 2xx and BYEs it; ``closed()`` tells how the call ended)."""
        view = self.view
        if not isinstance(view, ClientInviteDialog):
            raise TypeError("only the caller's dialog can be cancelled")
        return await self._waits.end_call(view.cancel, headers=headers, reason=reason)

    async def reinvite(self, **content: Unpack[Content]) -> Response:
        """re-INVITE (§14); the UA ACKs a 2xx and retries after a 491 back-off."""
        return await self._waits.response(self.view.reinvite, **content)

    async def request(self, method: str, **content: Unpack[Content]) -> Response:
        """Any request within the dialog (§12.2.1.1)."""
        return await self._waits.response(self.view.request, method, **content)

    async def update(self, **content: Unpack[Content]) -> Response:
        """UPDATE (RFC 3311), in an early or confirmed dialog; with a ``body`` it carries
        an offer, answered in the returned 2xx (a 491 is retried after the §14.1
        back-off)."""
        return await self._waits.response(self.view.update, **content)

    async def info(self, **content: Unpack[Content]) -> Response:
        """INFO (RFC 6086)."""
        return await self._waits.response(self.view.info, **content)

    async def options(self, **content: Unpack[Content]) -> Response:
        """OPTIONS within the dialog (§11)."""
        return await self._waits.response(self.view.options, **content)

    async def message(self, **content: Unpack[Content]) -> Response:
        """MESSAGE (RFC 3428); ``content_type`` defaults to text/plain."""
        return await self._waits.response(self.view.message, **content)

    async def notify(self, **content: Unpack[Content]) -> Response:
        """NOTIFY (RFC 6665); give the Event and Subscription-State headers."""
        return await self._waits.response(self.view.notify, **content)

    # -- REFER (RFC 3515, RFC 4488, RFC 3891) -------------------------------------------

    async def refer(
        self,
        refer_to: str | NameAddr | URI,
        *,
        referred_by: str | NameAddr | None = None,
        refer_sub: bool = True,
        replaces: DialogInfo | DialogId | Replaces | None = None,
        headers: Hdrs = (),
    ) -> Response:
        """REFER the peer to ``refer_to`` (RFC 3515); returns the final response (202).

        With ``refer_sub`` the implicit subscription's NOTIFYs (message/sipfrag, read with
        ``sipsans.dialog.replaces.parse_sipfrag``) arrive as ``NotifyReceived``, and
        ``await dialog.as_subscription().closed()`` waits for the final one;
        ``refer_sub=False`` sends ``Refer-Sub: false`` (RFC 4488). ``replaces`` (a dialog
        we hold with the target) makes it an attended transfer (RFC 3891)."""
        if isinstance(replaces, DialogInfo):
            replaces = replaces.view.id
        return await self._waits.response(
            self.view.refer,
            refer_to,
            referred_by=referred_by,
            refer_sub=refer_sub,
            replaces=replaces,
            headers=headers,
        )

    async def notify_refer(
        self,
        status: int,
        sub_state: SubscriptionState | str | None = None,
        *,
        reason: str | None = None,
    ) -> Response:
        """NOTIFY the progress of the REFER we accepted (``SIP/2.0 <status>``, RFC 3515
        §2.4.4); a final ``status`` ends its subscription. Returns the referrer's answer."""
        return await self._waits.response(self.view.notify_refer, status, sub_state, reason=reason)

    def as_subscription(self) -> AsyncSubscription:
        """The dialog's newest subscription (a REFER's implicit one, sent or accepted)."""
        return AsyncSubscription(self._driver, self._waits, self.view.as_subscription())

    def ack(self, *, body: bytes = b"", content_type: str | None = None) -> Sent[None]:
        """The ACK carrying our answer to an offer made in the 2xx of our INVITE or
        re-INVITE sent without one (late offer, RFC 3264 §5): sent at once (see
        :mod:`~sipsans_session.sent`). Either end may have sent that re-INVITE; the UA
        ACKs without an answer and ends the call if none comes in
        ``UAConfig.answer_timeout``."""
        self._driver.command(self.view.ack, body=body, content_type=content_type)
        return _SENT

    async def prack(
        self, *, body: bytes, content_type: str | None = None, headers: Hdrs = ()
    ) -> Response:
        """The PRACK carrying our answer to the offer of a reliable provisional response
        (RFC 3262 §5; a ``ProvisionalOffer`` event says one came); returns its final
        response. Other PRACKs the UA sends by itself."""
        view = self.view
        if not isinstance(view, ClientInviteDialog):
            raise TypeError("only the caller sends PRACK")
        return await self._waits.response(
            view.prack, body=body, content_type=content_type, headers=headers
        )

    # -- answering an incoming call -----------------------------------------------------
    #
    # Commands: each is sent when called, on every adapter, and returns a Sent that
    # awaiting is optional for (accept's waits for the ACK). Once the call has ended
    # (the caller's CANCEL came first, say) ringing(), progress() and accept() raise
    # CallFailed; reject() has nothing left to do.

    def ringing(self, *, reliable: bool | None = None, headers: Hdrs = ()) -> Sent[None]:
        """180 Ringing (§13.3.1.1), sent at once; ``reliable`` as the core's ``ringing``
        (RFC 3262: None goes reliably when the caller requires 100rel). A reliable one is
        retransmitted until its PRACK, which the UA answers; a 2xx waits for it."""
        self._answer_with(ServerInviteDialog.ringing, reliable=reliable, headers=headers)
        return _SENT

    def progress(
        self,
        status: int = 183,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        reliable: bool | None = None,
        headers: Hdrs = (),
    ) -> Sent[None]:
        """A provisional response (183 Session Progress by default), sent at once;
        ``reliable`` as for :meth:`ringing`."""
        self._answer_with(
            ServerInviteDialog.progress,
            status,
            body=body,
            content_type=content_type,
            reliable=reliable,
            headers=headers,
        )
        return _SENT

    def accept(
        self,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Hdrs = (),
        wait: bool = True,
    ) -> Sent[None]:
        """200 OK, sent at once (and retransmitted until the ACK). Awaiting it, with
        ``wait`` (default), returns once the ACK arrived, raising :class:`CallFailed` if
        the dialog ended instead (no ACK, the caller's BYE). Raises CallFailed at once if
        the call has ended already (the caller's CANCEL came first)."""
        self._answer_with(
            ServerInviteDialog.accept, body=body, content_type=content_type, headers=headers
        )
        return Sent(self._acked) if wait else _SENT

    async def _acked(self) -> None:
        await self.established()

    def reject(
        self, status: int = 486, *, reason: str | None = None, headers: Hdrs = ()
    ) -> Sent[None]:
        """A final 3xx-6xx (``reason`` is the reason phrase), sent at once; nothing is
        sent if the call has ended already (the caller's CANCEL came first)."""
        view = self._server()
        if self.is_terminated:
            return _SENT
        self._answer_with(
            ServerInviteDialog.reject, status, reason=reason, headers=headers, view=view
        )
        return _SENT

    def _server(self) -> ServerInviteDialog:
        view = self.view
        if not isinstance(view, ServerInviteDialog):
            raise TypeError("only an incoming call can be answered")
        return view

    def _answer_with(
        self,
        command: Callable[..., None],
        /,
        *args: Any,
        view: ServerInviteDialog | None = None,
        **kwargs: Any,
    ) -> None:
        """Run one of the callee's answer commands; CallFailed when the call ended."""
        view = view if view is not None else self._server()
        try:
            self._driver.command(command, view, *args, **kwargs)
        except LocalProtocolError:
            if self.is_terminated:
                raise CallFailed(self) from None
            raise

    def respond(self, txn: ServerTxn, status: int, **answer: Unpack[Answer]) -> Sent[None]:
        """Answer an ``InDialogRequest`` of this dialog (same as ``ua.respond``), sent at
        once."""
        driver = self._driver
        driver.command(driver.core.respond, txn, status, **answer)
        return _SENT


#: The Sent of a command that promises nothing beyond sending (one serves them all).
_SENT: Sent[None] = Sent()
