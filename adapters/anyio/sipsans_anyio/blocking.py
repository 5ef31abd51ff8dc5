"""The same Session for plain threads, through anyio's blocking portal.

.. code-block:: python

    from sipsans_anyio.blocking import BlockingSession

    with BlockingSession(make_endpoint, listen=[Listen("udp", "127.0.0.1", 0)]) as session:
        response = session.request(options, target=Target("UDP", "127.0.0.1", 5060))
        event = session.next_event(timeout=5)

The session runs in an event loop thread owned by the portal (asyncio by default,
``backend="trio"`` works too); every method here blocks the calling thread until the
loop has done the work. ``on_event`` callbacks run in the loop's thread. Each blocking
method is generated from its async twin (:func:`_blocking`), so both keep the same
arguments, results and documentation.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, Unpack

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from sipsans import (
    ClientInviteDialog,
    DialogId,
    Request,
    Response,
    ServerInviteDialog,
    ServerTxn,
    Target,
)
from sipsans_asyncio.calls import Answer, AsyncDialog, DialogInfo, View
from sipsans_asyncio.driver import CoreT

from .session import Session

__all__ = ["BlockingDialog", "BlockingSession"]

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    method: Callable[Concatenate[AsyncDialog, P], Awaitable[R]],
) -> Callable[Concatenate[BlockingDialog, P], R]:
    """The blocking twin of an :class:`AsyncDialog` method: it runs the coroutine in
    the portal's loop and returns its result (or raises its exception)."""

    def call(self: BlockingDialog, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._portal.call(functools.partial(method, self.dialog, *args, **kwargs))

    functools.update_wrapper(call, method)
    return call


class BlockingDialog(DialogInfo):
    """:class:`sipsans_asyncio.calls.AsyncDialog` for threads: the same methods, blocking.

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
    ack = _blocking(AsyncDialog.ack)
    ringing = _blocking(AsyncDialog.ringing)
    progress = _blocking(AsyncDialog.progress)
    accept = _blocking(AsyncDialog.accept)
    reject = _blocking(AsyncDialog.reject)
    respond = _blocking(AsyncDialog.respond)


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

    def request(
        self, request: Request, *, target: Target, timeout: float | None = None
    ) -> Response:
        """Send ``request`` and block until its final response (or raise)."""
        return self._wait(timeout, functools.partial(self.session.request, request, target=target))

    def next_event(self, timeout: float | None = None) -> object:
        """Block until the next event; TimeoutError after ``timeout`` seconds."""
        return self._wait(timeout, self.session.next_event)

    # -- UserAgent conveniences (see sipsans_asyncio.calls) ------------------------------

    def invite(self, to: Any, *, timeout: float | None = None, **options: Any) -> BlockingDialog:
        """Call ``to``; returns the confirmed dialog, raises ``CallFailed``; after
        ``timeout`` seconds the call is hung up (CANCEL/BYE) and TimeoutError raised."""
        invite = functools.partial(self.session.invite, to, timeout=timeout, **options)
        return BlockingDialog(self.portal, self.portal.call(invite))

    def wrap(self, dialog: ClientInviteDialog | ServerInviteDialog | DialogId) -> BlockingDialog:
        """The blocking dialog of a core view or id (e.g. ``IncomingCall.dialog``)."""
        return BlockingDialog(self.portal, self.portal.call(self.session.wrap, dialog))

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
