"""Awaitable calls and dialogs on top of a session whose core is a ``sipsans.UserAgent``.

The core's dialog views (``ClientInviteDialog``/``ServerInviteDialog``) are commands
that take ``now=`` and return the ``ClientTxn`` whose outcome arrives later as events.
:class:`AsyncDialog` wraps such a view: every method is a coroutine that issues the same
command through the session's pump and, when a request was sent, returns its final
``Response`` (resolved from the ``ResponseReceived`` / ``TransactionTimedOut`` /
``TransportFailed`` event carrying that handle, which never reaches ``async for``), as
DESIGN.md §3 says.

:class:`UAMixin` gives a session ``await ua.invite(...)``, ``await ua.subscribe(...)``
(an :class:`~sipsans_asyncio.subscriptions.AsyncSubscription`), ``await ua.register(...)``
and ``await ua.unregister(...)``, ``ua.wrap(dialog_or_subscription)`` and the clean
shutdown of every dialog, subscription and registration when the session closes. It is
loop-agnostic: the asyncio and anyio sessions only provide :meth:`UAMixin._waiter` (a
one-shot result slot on their loop). No SIP logic lives here: dialog and subscription
states, CANCEL/BYE choice, ACKs, refreshes and retransmissions are the UserAgent's.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, Protocol, TypedDict, Unpack, cast, overload

from sipsans import (
    ClientInviteDialog,
    ClientSubscription,
    DialogId,
    DialogState,
    DialogStateChanged,
    DialogTerminated,
    IncomingCall,
    LocalProtocolError,
    NameAddr,
    NotifyReceived,
    RegistrationHandle,
    RegistrationState,
    RegistrationStateChanged,
    Replaces,
    Request,
    Response,
    ServerInviteDialog,
    ServerSubscription,
    ServerTxn,
    SipURI,
    SubscriptionState,
    SubscriptionStateChanged,
    TerminatedReason,
    UserAgent,
)
from sipsans.message.uri import URI
from sipsans.transaction.transport import ClientTxn

from .driver import CoreT, Driver, RequestDropped, RequestTimeout, TransportError
from .subscriptions import (
    AsyncSubscription,
    RegisterOptions,
    RegistrationFailed,
    SubscribeOptions,
    SubscriptionFailed,
    SubView,
    subscription_key,
)

__all__ = ["AsyncDialog", "CallFailed", "DialogInfo", "UAMixin", "Waiter"]

View = ClientInviteDialog | ServerInviteDialog
Hdrs = Iterable[tuple[str, str]]
_Key = tuple[str, str]  # (Call-ID, local tag): stable while the remote tag is learnt
#: The watcher key re-checked at every RegistrationStateChanged.
_REGISTRATIONS = "registrations"
_IDLE = (RegistrationState.UNREGISTERED, RegistrationState.FAILED)
#: What :meth:`UAMixin._end_waits` wakes the state waits with (not an exception: the
#: wait re-checks its condition first, which the close may well have fulfilled).
_SESSION_CLOSED = object()


class Content(TypedDict, total=False):
    """The keywords of an in-dialog request (defaults: no body, no extra headers)."""

    body: bytes | None
    content_type: str | None
    headers: Hdrs


class Answer(TypedDict, total=False):
    """The keywords of ``respond(txn, status, ...)`` (defaults: the standard reason
    phrase, no body, no extra headers)."""

    reason: str | None
    headers: Hdrs
    body: bytes
    content_type: str | None


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


class Waiter(Protocol):
    """A one-shot result slot on the session's loop."""

    def resolve(self, outcome: object) -> None:
        """Set the result (an exception instance is raised by :meth:`wait`); later calls
        are ignored."""

    async def wait(self, timeout: float | None = None) -> object:
        """The result; TimeoutError after ``timeout`` seconds (the slot stays usable)."""


def _key(dialog_id: DialogId) -> _Key:
    return (dialog_id.call_id, dialog_id.local_tag)


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

    __slots__ = ("_session", "initial_request", "response", "view", "was_confirmed")

    view: View  # a plain attribute here: the wrapped view

    def __init__(
        self, session: UAMixin[Any], view: View, *, request: Request | None = None
    ) -> None:
        self._session = session
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

    def _observe(self, event: DialogStateChanged) -> None:
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
        await self._session._until(self, lambda: self.is_terminated, timeout)
        return self.terminated_reason

    async def established(self, timeout: float | None = None) -> AsyncDialog:
        """Wait until the dialog is confirmed; :class:`CallFailed` if it ended instead,
        :class:`TransportError` ("session closed") if the session closed while the call
        was still being set up."""
        await self._session._until(
            self,
            lambda: (
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
        session = self._session
        if self.is_terminated or session._closing:
            return
        txn = session.command(self.view.hangup)
        if txn is not None and exc is None:
            await session._settle(txn, session._watch_txn(txn), session.hangup_timeout)

    # -- requests ----------------------------------------------------------------------

    async def bye(self, *, headers: Hdrs = (), reason: str | None = None) -> Response | None:
        """BYE (§15.1.1); ``reason`` is an RFC 3326 Reason header value. Returns the
        BYE's final response, or None when the BYE was never sent: as callee before the
        ACK of our 2xx the UA holds it (§15), and drops it if the dialog ends some other
        way meanwhile (the caller's BYE came first)."""
        return await self._session._end_call(self.view.bye, headers=headers, reason=reason)

    async def hangup(self, *, headers: Hdrs = (), reason: str | None = None) -> Response | None:
        """CANCEL while early (the CANCEL's response is returned), BYE once confirmed,
        603 for an unanswered incoming call (returns None). Also None when the UA dropped
        the CANCEL or BYE unsent because the call ended first (see :meth:`bye`,
        :meth:`cancel`)."""
        return await self._session._end_call(self.view.hangup, headers=headers, reason=reason)

    async def cancel(self, *, headers: Hdrs = (), reason: str | None = None) -> Response | None:
        """CANCEL our pending INVITE (§9.1); returns the response to the CANCEL, or None
        when none was sent: the call was no longer early, or the UA held the CANCEL until
        a provisional response and the INVITE's final response came first (the UA ACKs
        a 2xx and BYEs it; ``closed()`` tells how the call ended)."""
        view = self.view
        if not isinstance(view, ClientInviteDialog):
            raise TypeError("only the caller's dialog can be cancelled")
        return await self._session._end_call(view.cancel, headers=headers, reason=reason)

    async def reinvite(self, **content: Unpack[Content]) -> Response:
        """re-INVITE (§14); the UA ACKs a 2xx and retries after a 491 back-off."""
        return await self._session._request(self.view.reinvite, **content)

    async def request(self, method: str, **content: Unpack[Content]) -> Response:
        """Any request within the dialog (§12.2.1.1)."""
        return await self._session._request(self.view.request, method, **content)

    async def update(self, **content: Unpack[Content]) -> Response:
        """UPDATE (RFC 3311)."""
        return await self._session._request(self.view.update, **content)

    async def info(self, **content: Unpack[Content]) -> Response:
        """INFO (RFC 6086)."""
        return await self._session._request(self.view.info, **content)

    async def options(self, **content: Unpack[Content]) -> Response:
        """OPTIONS within the dialog (§11)."""
        return await self._session._request(self.view.options, **content)

    async def message(self, **content: Unpack[Content]) -> Response:
        """MESSAGE (RFC 3428); ``content_type`` defaults to text/plain."""
        return await self._session._request(self.view.message, **content)

    async def notify(self, **content: Unpack[Content]) -> Response:
        """NOTIFY (RFC 6665); give the Event and Subscription-State headers."""
        return await self._session._request(self.view.notify, **content)

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
        return await self._session._request(
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
        return await self._session._request(
            self.view.notify_refer, status, sub_state, reason=reason
        )

    def as_subscription(self) -> AsyncSubscription:
        """The dialog's newest subscription (a REFER's implicit one, sent or accepted)."""
        return AsyncSubscription(self._session, self.view.as_subscription())

    async def ack(self, *, body: bytes = b"", content_type: str | None = None) -> None:
        """The ACK carrying our answer to an offer made in the 2xx (late offer)."""
        view = self.view
        if not isinstance(view, ClientInviteDialog):
            raise TypeError("only the caller sends ACK")
        self._session.command(view.ack, body=body, content_type=content_type)

    # -- answering an incoming call -----------------------------------------------------

    def _server(self) -> ServerInviteDialog:
        view = self.view
        if not isinstance(view, ServerInviteDialog):
            raise TypeError("only an incoming call can be answered")
        return view

    async def ringing(self, *, headers: Hdrs = ()) -> None:
        """180 Ringing (§13.3.1.1)."""
        self._session.command(self._server().ringing, headers=headers)

    async def progress(
        self,
        status: int = 183,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Hdrs = (),
    ) -> None:
        """A provisional response (183 Session Progress by default)."""
        self._session.command(
            self._server().progress, status, body=body, content_type=content_type, headers=headers
        )

    async def accept(
        self,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Hdrs = (),
        wait: bool = True,
    ) -> None:
        """200 OK; with ``wait`` (default) returns once the ACK arrived, raising
        :class:`CallFailed` when the dialog ended instead (no ACK, CANCEL won)."""
        self._session.command(
            self._server().accept, body=body, content_type=content_type, headers=headers
        )
        if wait:
            await self.established()

    async def reject(
        self, status: int = 486, *, reason: str | None = None, headers: Hdrs = ()
    ) -> None:
        """A final 3xx-6xx (``reason`` is the reason phrase)."""
        self._session.command(self._server().reject, status, reason=reason, headers=headers)

    async def respond(self, txn: ServerTxn, status: int, **answer: Unpack[Answer]) -> None:
        """Answer an ``InDialogRequest`` of this dialog (same as ``ua.respond``)."""
        await self._session.respond(txn, status, **answer)


class UAMixin(Driver[CoreT], Generic[CoreT]):
    """UserAgent conveniences for a session (see the module docstring)."""

    #: Seconds ``close()`` waits for the BYEs/CANCELs it sent to be answered.
    close_timeout: float = 2.0
    #: Seconds ``async with dialog`` waits for the answer to its BYE/CANCEL.
    hangup_timeout: float = 5.0

    def _ua_init(self) -> None:
        #: Checks re-run at each event of a dialog, subscription or registration, by key.
        self._watchers: dict[Hashable, list[Callable[[object], None]]] = {}
        #: The AsyncDialog of each dialog wrapped (or invited) while it lives.
        self._live: dict[_Key, AsyncDialog] = {}
        #: The incoming calls no one has wrapped yet, while they live (their INVITE, for
        #: the AsyncDialog wrap() makes later, and for the hang-ups of the close), and
        #: which of them were confirmed. An AsyncDialog costs more than these two
        #: records, and a server answering from ``on_event`` never needs one.
        self._unwrapped: dict[_Key, IncomingCall] = {}
        self._unwrapped_confirmed: set[_Key] = set()
        self._closing = False
        #: The waiters of the state waits in progress (:meth:`_until_key`), woken by
        #: :meth:`_end_waits` when the session closes.
        self._sleepers: set[Waiter] = set()
        self._waits_ended = False

    def _waiter(self) -> Waiter:
        raise NotImplementedError

    # -- event observation ------------------------------------------------------------------

    def _dispatch(self, event: object) -> None:
        # Runs for every event (six per call at a UAS): by exact type, the commonest
        # first, the dialog key built inline, and Driver._dispatch named rather than
        # reached through super() (whose zero-argument form costs a look-up per call).
        cls = type(event)
        if type(event) is DialogStateChanged:
            dialog_id = event.dialog_id
            key = (dialog_id.call_id, dialog_id.local_tag)  # _key()
            live = self._live.get(key)
            if live is not None:
                live._observe(event)
            elif event.state is DialogState.CONFIRMED and key in self._unwrapped:
                self._unwrapped_confirmed.add(key)  # (what AsyncDialog._observe keeps)
            if self._watchers:
                self._wake_watchers(key, event)
        elif type(event) is DialogTerminated:
            dialog_id = event.dialog_id
            key = (dialog_id.call_id, dialog_id.local_tag)  # _key()
            live = self._live.get(key)
            if live is not None:
                # (a UAC's other forks may end while its dialog lives on)
                if live.is_terminated:
                    del self._live[key]
            elif self._unwrapped.pop(key, None) is not None:
                self._unwrapped_confirmed.discard(key)
            if self._watchers:
                self._wake_watchers(key, event)
        elif type(event) is IncomingCall:
            # Its AsyncDialog is made when wrap() first asks for it (see _unwrapped).
            key = _key(event.dialog.id)
            if key not in self._live:
                self._unwrapped[key] = event
        elif cls is SubscriptionStateChanged or cls is NotifyReceived:
            assert isinstance(event, SubscriptionStateChanged | NotifyReceived)
            self._wake_watchers(subscription_key(event.subscription), event)
        elif cls is RegistrationStateChanged:
            self._wake_watchers(_REGISTRATIONS, event)
        if self._waiters or self.on_event is None:
            Driver._dispatch(self, event)
        else:
            self.on_event(event)  # (Driver._dispatch's commonest case, one call less)

    def _wake_watchers(self, key: Hashable, event: object) -> None:
        checks = self._watchers.get(key)
        if checks:
            for check in list(checks):
                check(event)

    async def _until(
        self, dialog: AsyncDialog, done: Callable[[], bool], timeout: float | None
    ) -> None:
        """Wait until ``done()`` holds, re-checked at each event of ``dialog``."""
        await self._until_key(_key(dialog.id), lambda _: done(), timeout)

    async def _until_key(
        self, key: Hashable, done: Callable[[object], bool], timeout: float | None
    ) -> None:
        """Wait until ``done(event)`` holds, re-checked at each event routed to ``key``
        (first with ``event=None``). Raises TransportError("session closed") if the
        session is closed (or closes meanwhile) and ``done`` still does not hold: no
        event can come any more."""
        if done(None):
            return
        if self._waits_ended:
            raise TransportError("session closed")
        waiter = self._waiter()

        def check(event: object) -> None:
            if done(event):
                waiter.resolve(None)

        self._watchers.setdefault(key, []).append(check)
        self._sleepers.add(waiter)
        try:
            outcome = await waiter.wait(timeout)
        finally:
            self._sleepers.discard(waiter)
            checks = self._watchers.get(key)
            if checks is not None:
                checks.remove(check)
                if not checks:
                    del self._watchers[key]
        if outcome is _SESSION_CLOSED and not done(None):
            raise TransportError("session closed")

    def _end_waits(self) -> None:
        """The session is closed: wake every state wait (each re-checks its condition,
        which the hang-ups of the close usually fulfilled) and refuse new ones."""
        self._waits_ended = True
        for waiter in list(self._sleepers):
            waiter.resolve(_SESSION_CLOSED)

    # -- commands -------------------------------------------------------------------------

    def _watch_txn(self, txn: ClientTxn) -> Waiter:
        waiter = self._waiter()
        self.wait_for(txn, waiter.resolve)
        return waiter

    async def _settle(self, txn: ClientTxn, waiter: Waiter, timeout: float) -> None:
        """Wait up to ``timeout`` for the end of a hang-up request, whatever it is."""
        try:
            await waiter.wait(max(0.0, timeout))
        except (TimeoutError, RequestTimeout, TransportError):
            pass
        finally:
            self.forget(txn)

    @overload
    async def _request(
        self, fn: Callable[..., ClientTxn], /, *args: Any, **kwargs: Any
    ) -> Response: ...

    @overload
    async def _request(
        self, fn: Callable[..., ClientTxn | None], /, *args: Any, **kwargs: Any
    ) -> Response | None: ...

    async def _request(
        self, fn: Callable[..., ClientTxn | None], /, *args: Any, **kwargs: Any
    ) -> Response | None:
        """Run a core command that sends a request (or holds it: None) and return the
        request's final response."""
        txn = fn(*args, now=self.now(), **kwargs)
        if txn is None:
            self.pump()
            return None
        waiter = self._watch_txn(txn)  # before pumping: failures may come at once
        self.pump()
        try:
            result = await waiter.wait()
        finally:
            self.forget(txn)
        assert isinstance(result, Response)
        return result

    async def _end_call(
        self, fn: Callable[..., ClientTxn | None], /, *args: Any, **kwargs: Any
    ) -> Response | None:
        """:meth:`_request` for a BYE or CANCEL: one the UA dropped unsent because the
        call ended first (:class:`RequestDropped`) is no failure; None, as nothing was
        sent."""
        try:
            return await self._request(fn, *args, **kwargs)
        except RequestDropped:
            return None

    def _ua(self) -> UserAgent:
        if not hasattr(self.core, "invite"):
            raise TypeError("this needs a sipsans.UserAgent core, not an Endpoint")
        return cast(UserAgent, self.core)

    @overload
    def wrap(self, item: View | DialogId, /) -> AsyncDialog: ...

    @overload
    def wrap(self, item: SubView, /) -> AsyncSubscription: ...

    def wrap(self, item: View | DialogId | SubView, /) -> AsyncDialog | AsyncSubscription:
        """The :class:`AsyncDialog` of a core view or dialog id (e.g. ``event.dialog`` of an
        ``IncomingCall``, ``event.dialog_id`` of an ``InDialogRequest`` or a
        ``ReferReceived``); the same object for the same dialog while it lives. For a
        subscription (``IncomingSubscription.subscription``, ``event.subscription`` of a
        ``NotifyReceived``), its :class:`AsyncSubscription`."""
        if isinstance(item, ClientSubscription | ServerSubscription):
            return AsyncSubscription(self, item)
        view: View = self._ua().dialog(item) if isinstance(item, DialogId) else item
        key = _key(view.id)
        live = self._live.get(key)
        if live is not None:
            return live
        call = self._unwrapped.pop(key, None)
        if call is not None:
            # An incoming call, followed since its IncomingCall: its AsyncDialog is
            # what tracking it from the start would have made (and is tracked until its
            # DialogTerminated, even if already terminated).
            live = self._live[key] = AsyncDialog(self, call.dialog, request=call.request)
            if key in self._unwrapped_confirmed:
                self._unwrapped_confirmed.discard(key)
                live.was_confirmed = True
            return live
        live = AsyncDialog(self, view)
        if not live.is_terminated:
            self._live[key] = live
        return live

    async def invite(
        self,
        to: Any,
        *,
        wait: bool = True,
        timeout: float | None = None,
        **options: Any,
    ) -> AsyncDialog:
        """Call ``to`` (``ua.invite`` options: ``from_``, ``body``, ``content_type``,
        ``headers``, ``credentials``, ``target``) and return the dialog once it is
        confirmed (the 2xx is ACKed; ``dialog.response`` is that 2xx).

        Raises :class:`CallFailed` (with ``reason``/``status``/``response``) if the call
        ends first. If the waiting task is cancelled (or ``timeout`` passes:
        TimeoutError), the call is hung up: CANCEL while ringing, BYE if it was answered
        meanwhile. With ``wait=False`` the dialog is returned at once (see
        ``dialog.established()``).
        """
        view = cast(Any, self.core).invite(to, now=self.now(), **options)
        dialog = AsyncDialog(self, view)
        self._live[_key(view.id)] = dialog
        self.pump()
        if not wait:
            return dialog
        try:
            await dialog.established(timeout)
        except CallFailed:
            raise
        except BaseException:
            # Cancelled or timed out: CANCEL (early) or BYE (answered meanwhile).
            if not dialog.is_terminated and not self._closing:
                self.command(view.hangup)
            raise
        return dialog

    async def subscribe(
        self,
        to: str | NameAddr | URI,
        event: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        **options: Unpack[SubscribeOptions],
    ) -> AsyncSubscription:
        """Subscribe to ``event`` of ``to`` (``ua.subscribe`` options: ``expires``,
        ``accept``, ``headers``, ``body``, ``content_type``, ``from_``, ``target``) and
        return the subscription once the first NOTIFY arrived (RFC 6665 §4.1.2.4:
        ``sub.last_notify`` is it; its state also comes as ``NotifyReceived``).

        Raises :class:`SubscriptionFailed` if it ends without a NOTIFY (rejected, e.g.
        489 Bad Event; timed out). If the waiting task is cancelled (or ``timeout``
        passes: TimeoutError), it is un-subscribed. With ``wait=False`` it is returned at
        once (see ``sub.established()``). The UA refreshes it until ``unsubscribe()``.
        """
        view: ClientSubscription = self.command(self._ua().subscribe, to, event, **options)
        sub = AsyncSubscription(self, view)
        if not wait:
            return sub
        try:
            await sub.established(timeout)
        except SubscriptionFailed:
            raise
        except BaseException:
            # Cancelled or timed out: Expires: 0, sent once a dialog exists (§4.1.2.3).
            if not sub.is_terminated and not self._closing:
                self.command(view.unsubscribe)
            raise
        return sub

    def subscriptions(self) -> list[AsyncSubscription]:
        """Every live subscription of the UA, both roles (``ua.subscriptions``)."""
        return [AsyncSubscription(self, view) for view in self._ua().subscriptions]

    async def register(
        self,
        registrar: str | SipURI | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
        **options: Unpack[RegisterOptions],
    ) -> RegistrationHandle:
        """Register (``ua.register`` options: ``aor``, ``contacts``, ``expires``,
        ``credentials``, ``headers``, ``target``, ...) and return the core's
        ``RegistrationHandle`` once REGISTERED (challenges answered on the way). The UA
        keeps refreshing it until :meth:`unregister`.

        Raises :class:`RegistrationFailed` (``status``, ``reason``) if it ends in FAILED.
        If the waiting task is cancelled (or ``timeout`` passes: TimeoutError), the
        registration is stopped. With ``wait=False`` the handle is returned at once
        (progress comes as ``RegistrationStateChanged``).
        """
        handle: RegistrationHandle = self.command(self._ua().register, registrar, **options)
        if not wait:
            return handle
        last: list[RegistrationStateChanged] = []  # the change that ended the wait

        def done(event: object) -> bool:
            if isinstance(event, RegistrationStateChanged) and event.aor == handle.aor:
                last[:] = [event]
            return handle.state is RegistrationState.REGISTERED or handle.state in _IDLE

        try:
            await self._until_key(_REGISTRATIONS, done, timeout)
        except BaseException:
            if not self._closing:
                self.command(handle.stop)
            raise
        if handle.state is not RegistrationState.REGISTERED:
            raise RegistrationFailed(handle, last[0] if last else None)
        return handle

    async def unregister(
        self,
        handle: RegistrationHandle | None = None,
        *,
        wildcard: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Remove the bindings of ``handle``, or of every registration (``ua.unregister``),
        and return once each is UNREGISTERED (or FAILED: the registrar did not answer,
        the binding is left to expire). TimeoutError after ``timeout`` seconds."""
        ua = self._ua()
        handles = [handle] if handle is not None else ua.registrations
        self.command(ua.unregister, handle, wildcard=wildcard)
        await self._until_key(
            _REGISTRATIONS, lambda _: all(h.state in _IDLE for h in handles), timeout
        )

    async def respond(self, txn: ServerTxn, status: int, **answer: Unpack[Answer]) -> None:
        """Answer an InDialogRequest / MessageReceived / RequestReceived (``ua.respond``)."""
        self.command(cast(Any, self.core).respond, txn, status, **answer)

    def dialogs(self) -> list[AsyncDialog]:
        """The dialogs not yet terminated that this session knows of."""
        for call in list(self._unwrapped.values()):
            self.wrap(call.dialog)
        return [d for d in self._live.values() if not d.is_terminated]

    async def _end_dialogs(self) -> None:
        """Hang up every live dialog, end every subscription (un-SUBSCRIBE ours,
        terminate those we serve) and remove every registration; wait (bounded by
        ``close_timeout`` in all) for the answers."""
        if not hasattr(self.core, "invite"):
            return
        ua = self._ua()
        waiters: list[tuple[ClientTxn, Waiter]] = []
        for dialog in self.dialogs():
            try:
                txn = self.command(dialog.view.hangup)
            except Exception:
                continue
            if isinstance(txn, ClientTxn):
                waiters.append((txn, self._watch_txn(txn)))
        ours: list[ClientSubscription] = []
        # A REFER's subscription outlives the BYE of its call (a separate dialog usage,
        # RFC 5057 §5): it is ended here too.
        for sub in ua.subscriptions:
            try:
                if isinstance(sub, ClientSubscription):
                    self.command(sub.unsubscribe)
                    ours.append(sub)
                else:
                    txn = self.command(sub.terminate)
                    waiters.append((txn, self._watch_txn(txn)))
            except LocalProtocolError:
                continue  # e.g. not accepted yet: the UA answers it 480 in time
        registrations = ua.registrations
        if registrations:
            self.command(ua.unregister)
        self._closing = True
        deadline = self.now() + self.close_timeout
        for txn, waiter in waiters:
            await self._settle(txn, waiter, deadline - self.now())
        try:
            for sub in ours:
                await AsyncSubscription(self, sub).closed(max(0.0, deadline - self.now()))
            await self._until_key(
                _REGISTRATIONS,
                lambda _: all(h.state in _IDLE for h in registrations),
                max(0.0, deadline - self.now()),
            )
        except TimeoutError:
            pass  # the far end is silent: it forgets us at expiry
