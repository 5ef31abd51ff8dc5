"""The same Session for plain threads, through anyio's blocking portal.

.. code-block:: python

    from sipsans_anyio.blocking import BlockingSession

    with BlockingSession(make_endpoint, listen=[Listen("udp", "127.0.0.1", 0)]) as session:
        response = session.request(options, target=Target("UDP", "127.0.0.1", 5060))
        event = session.next_event(timeout=5)

The session runs in an event loop thread owned by the portal (asyncio by default,
``backend="trio"`` works too); every method here blocks the calling thread until the
loop has done the work. ``on_event`` callbacks run in the loop's thread. Each blocking
method of a dialog or subscription is generated from its async twin (:func:`_blocking`),
so both keep the same arguments, results and documentation.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, Unpack, overload

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from sipsans import (
    URI,
    ClientInviteDialog,
    ClientSubscription,
    DialogId,
    NameAddr,
    RegistrationHandle,
    Request,
    Response,
    ServerInviteDialog,
    ServerSubscription,
    ServerTxn,
    SipURI,
    Target,
)
from sipsans_session.dialogs import AsyncDialog, DialogInfo
from sipsans_session.driver import CoreT
from sipsans_session.options import (
    Answer,
    RegisterOptions,
    Request_,
    SubscribeOptions,
    SubView,
    View,
)
from sipsans_session.subscriptions import AsyncSubscription, SubscriptionInfo

from .session import Session

__all__ = ["BlockingDialog", "BlockingSession", "BlockingSubscription"]

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")
A_co = TypeVar("A_co", covariant=True)


class _Twin(Protocol[A_co]):
    """A blocking object: the portal, and the async object it drives there."""

    @property
    def _portal(self) -> BlockingPortal: ...

    @property
    def _twin(self) -> A_co: ...


def _blocking(
    method: Callable[Concatenate[A, P], Awaitable[R]],
) -> Callable[Concatenate[_Twin[A], P], R]:
    """The blocking twin of an async method (of :class:`AsyncDialog` or
    :class:`AsyncSubscription`): it runs the coroutine in the portal's loop and returns
    its result (or raises its exception)."""

    def call(self: _Twin[A], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._portal.call(functools.partial(method, self._twin, *args, **kwargs))

    functools.update_wrapper(call, method)
    return call


class BlockingDialog(DialogInfo):
    """:class:`sipsans_session.dialogs.AsyncDialog` for threads: the same methods, blocking.

    Every method takes the arguments of its async twin and returns its result (the
    final ``Response`` of the request sent, or None); ``with dialog:`` hangs up on exit,
    ``dialog.closed(timeout=...)`` waits for the end.
    """

    __slots__ = ("_portal", "dialog")

    def __init__(self, portal: BlockingPortal, dialog: AsyncDialog) -> None:
        self._portal = portal
        #: The async dialog living in the portal's loop.
        self.dialog = dialog

    def __repr__(self) -> str:
        return f"<BlockingDialog {self.dialog.view!r}>"

    @property
    def _twin(self) -> AsyncDialog:
        return self.dialog

    @property
    def view(self) -> View:
        return self.dialog.view

    @property
    def initial_request(self) -> Request | None:
        return self.dialog.initial_request

    @property
    def response(self) -> Response | None:
        return self.dialog.response

    def __enter__(self) -> BlockingDialog:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._portal.call(self.dialog.__aexit__, exc_type, exc, tb)

    def established(self, timeout: float | None = None) -> BlockingDialog:
        """Wait until the dialog is confirmed; ``CallFailed`` if it ended instead."""
        self._portal.call(self.dialog.established, timeout)
        return self

    def as_subscription(self) -> BlockingSubscription:
        """The dialog's newest subscription (a REFER's implicit one, sent or accepted)."""
        sub = self._portal.call(self.dialog.as_subscription)
        return BlockingSubscription(self._portal, sub)

    closed = _blocking(AsyncDialog.closed)
    bye = _blocking(AsyncDialog.bye)
    hangup = _blocking(AsyncDialog.hangup)
    cancel = _blocking(AsyncDialog.cancel)
    reinvite = _blocking(AsyncDialog.reinvite)
    request = _blocking(AsyncDialog.request)
    update = _blocking(AsyncDialog.update)
    info = _blocking(AsyncDialog.info)
    options = _blocking(AsyncDialog.options)
    message = _blocking(AsyncDialog.message)
    notify = _blocking(AsyncDialog.notify)
    refer = _blocking(AsyncDialog.refer)
    notify_refer = _blocking(AsyncDialog.notify_refer)
    ack = _blocking(AsyncDialog.ack)
    prack = _blocking(AsyncDialog.prack)
    ringing = _blocking(AsyncDialog.ringing)
    progress = _blocking(AsyncDialog.progress)
    accept = _blocking(AsyncDialog.accept)
    reject = _blocking(AsyncDialog.reject)
    respond = _blocking(AsyncDialog.respond)


class BlockingSubscription(SubscriptionInfo):
    """:class:`sipsans_session.subscriptions.AsyncSubscription` for threads: the same
    methods, blocking (``closed(timeout=...)``, ``unsubscribe()`` ... ``notify()``)."""

    __slots__ = ("_portal", "subscription")

    def __init__(self, portal: BlockingPortal, subscription: AsyncSubscription) -> None:
        self._portal = portal
        #: The async subscription living in the portal's loop.
        self.subscription = subscription

    def __repr__(self) -> str:
        return f"<BlockingSubscription {self.subscription.view!r}>"

    @property
    def _twin(self) -> AsyncSubscription:
        return self.subscription

    @property
    def view(self) -> SubView:
        return self.subscription.view

    closed = _blocking(AsyncSubscription.closed)
    refresh = _blocking(AsyncSubscription.refresh)
    unsubscribe = _blocking(AsyncSubscription.unsubscribe)
    accept = _blocking(AsyncSubscription.accept)
    reject = _blocking(AsyncSubscription.reject)
    notify = _blocking(AsyncSubscription.notify)
    terminate = _blocking(AsyncSubscription.terminate)

    def established(self, timeout: float | None = None) -> BlockingSubscription:
        """Wait for the first NOTIFY; ``SubscriptionFailed`` if it ended without one."""
        self._portal.call(self.subscription.established, timeout)
        return self


class BlockingSession(Generic[CoreT]):
    """Arguments are those of :class:`sipsans_anyio.Session`, plus ``backend``."""

    def __init__(self, core: Any, *, backend: str = "asyncio", **options: Any) -> None:
        self._core_arg = core
        self._options = options
        self._backend = backend
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._session: Session[CoreT] | None = None

    @property
    def session(self) -> Session[CoreT]:
        """The async session running in the portal's thread."""
        if self._session is None:
            raise RuntimeError("the session is not open: use `with BlockingSession(...)`")
        return self._session

    @property
    def portal(self) -> BlockingPortal:
        if self._portal is None:
            raise RuntimeError("the session is not open: use `with BlockingSession(...)`")
        return self._portal

    @property
    def core(self) -> CoreT:
        return self.session.core

    @property
    def addresses(self) -> dict[str, tuple[str, int]]:
        return self.session.addresses

    def __enter__(self) -> BlockingSession[CoreT]:
        portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal(self._backend)
        self._portal = self._stack.enter_context(portal_cm)
        try:
            # Made in the loop's thread: the session's anyio objects belong to that loop.
            session: Session[CoreT] = self._portal.call(
                functools.partial(_make_session, self._core_arg, self._options)
            )
            self._stack.enter_context(self._portal.wrap_async_context_manager(session))
        except BaseException:
            self._stack.close()
            self._portal = None
            raise
        self._session = session
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._stack.close()
        finally:
            self._session = None
            self._portal = None

    def close(self) -> None:
        self.__exit__(None, None, None)

    def _wait(self, timeout: float | None, coro: Callable[[], Awaitable[R]]) -> R:
        """Run ``coro()`` in the loop; TimeoutError after ``timeout`` seconds."""

        async def run() -> R:
            with anyio.fail_after(timeout):
                return await coro()

        return self.portal.call(run)

    @overload
    def request(
        self, request: Request, /, *, target: Target, timeout: float | None = None
    ) -> Response: ...

    @overload
    def request(
        self,
        method: str,
        to: str | NameAddr | SipURI,
        /,
        *,
        timeout: float | None = None,
        **options: Unpack[Request_],
    ) -> Response: ...

    def request(
        self,
        request: Request | str,
        to: str | NameAddr | SipURI | None = None,
        /,
        *,
        timeout: float | None = None,
        **options: Any,
    ) -> Response:
        """Send a request outside any dialog and block until its final response (or
        raise): ``request(request, target=...)`` with an Endpoint core,
        ``request(method, to, **options)`` with a UserAgent (see
        :meth:`sipsans_session.session.SessionBase.request`)."""
        args = (request,) if to is None else (request, to)
        return self._wait(timeout, functools.partial(self.session.request, *args, **options))

    def options(
        self,
        to: str | NameAddr | SipURI,
        *,
        timeout: float | None = None,
        **options: Unpack[Request_],
    ) -> Response:
        """OPTIONS outside any dialog (a UserAgent core); blocks until the final response."""
        return self._wait(timeout, functools.partial(self.session.options, to, **options))

    def message(
        self,
        to: str | NameAddr | SipURI,
        *,
        timeout: float | None = None,
        **options: Unpack[Request_],
    ) -> Response:
        """MESSAGE outside any dialog (a UserAgent core); blocks until the final response."""
        return self._wait(timeout, functools.partial(self.session.message, to, **options))

    def next_event(self, timeout: float | None = None) -> object:
        """Block until the next event; TimeoutError after ``timeout`` seconds."""
        return self._wait(timeout, self.session.next_event)

    # -- UserAgent conveniences (see sipsans_session.session) ----------------------------

    def invite(self, to: Any, *, timeout: float | None = None, **options: Any) -> BlockingDialog:
        """Call ``to``; returns the confirmed dialog, raises ``CallFailed``; after
        ``timeout`` seconds the call is hung up (CANCEL/BYE) and TimeoutError raised."""
        invite = functools.partial(self.session.invite, to, timeout=timeout, **options)
        return BlockingDialog(self.portal, self.portal.call(invite))

    @overload
    def wrap(
        self, item: ClientInviteDialog | ServerInviteDialog | DialogId, /
    ) -> BlockingDialog: ...

    @overload
    def wrap(self, item: ClientSubscription | ServerSubscription, /) -> BlockingSubscription: ...

    def wrap(
        self, item: ClientInviteDialog | ServerInviteDialog | DialogId | SubView, /
    ) -> BlockingDialog | BlockingSubscription:
        """The blocking dialog of a core view or id (e.g. ``IncomingCall.dialog``), or
        the blocking subscription of a core one (``IncomingSubscription.subscription``)."""
        wrapped = self.portal.call(self.session.wrap, item)
        if isinstance(wrapped, AsyncSubscription):
            return BlockingSubscription(self.portal, wrapped)
        return BlockingDialog(self.portal, wrapped)

    def subscribe(
        self,
        to: str | NameAddr | URI,
        event: str,
        *,
        timeout: float | None = None,
        **options: Unpack[SubscribeOptions],
    ) -> BlockingSubscription:
        """Subscribe; returns once the first NOTIFY arrived, raises ``SubscriptionFailed``;
        after ``timeout`` seconds it is un-subscribed and TimeoutError raised."""
        subscribe = functools.partial(self.session.subscribe, to, event, timeout=timeout, **options)
        return BlockingSubscription(self.portal, self.portal.call(subscribe))

    def subscriptions(self) -> list[BlockingSubscription]:
        return [
            BlockingSubscription(self.portal, s)
            for s in self.portal.call(self.session.subscriptions)
        ]

    def register(
        self,
        registrar: str | SipURI | None = None,
        *,
        timeout: float | None = None,
        **options: Unpack[RegisterOptions],
    ) -> RegistrationHandle:
        """Register; returns the handle once REGISTERED, raises ``RegistrationFailed``;
        after ``timeout`` seconds the registration is stopped and TimeoutError raised."""
        register = functools.partial(self.session.register, registrar, timeout=timeout, **options)
        return self.portal.call(register)

    def unregister(
        self,
        handle: RegistrationHandle | None = None,
        *,
        wildcard: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Remove the bindings of ``handle`` (or of all); returns once UNREGISTERED."""
        unregister = functools.partial(
            self.session.unregister, handle, wildcard=wildcard, timeout=timeout
        )
        self.portal.call(unregister)

    def respond(self, txn: ServerTxn, status: int, **answer: Unpack[Answer]) -> None:
        """Answer an InDialogRequest / MessageReceived (``ua.respond``)."""
        self.portal.call(functools.partial(self.session.respond, txn, status, **answer))

    def dialogs(self) -> list[BlockingDialog]:
        return [BlockingDialog(self.portal, d) for d in self.portal.call(self.session.dialogs)]

    def command(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run a core command in the loop thread (``now=`` filled in), then pump."""
        return self.portal.call(functools.partial(self.session.command, fn, *args, **kwargs))


async def _make_session(core: Any, options: dict[str, Any]) -> Session[Any]:
    return Session(core, **options)
