"""The same Session for plain threads, through anyio's blocking portal.

.. code-block:: python

    from sipsans_anyio.blocking import BlockingSession

    with BlockingSession(make_endpoint, listen=[Listen("udp", "127.0.0.1", 0)]) as session:
        response = session.request(options, target=Target("UDP", "127.0.0.1", 5060))
        event = session.next_event(timeout=5)

The session runs in an event loop thread owned by the portal (asyncio by default,
``backend="trio"`` works too); every method here blocks the calling thread until the
loop has done the work. ``on_event`` callbacks run in the loop's thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Any, Generic

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from sipsans import (
    ClientInviteDialog,
    DialogId,
    DialogState,
    Request,
    Response,
    ServerInviteDialog,
    ServerTxn,
    Target,
    TerminatedReason,
)
from sipsans_asyncio.calls import AsyncDialog
from sipsans_asyncio.driver import CoreT

from .session import Session

__all__ = ["BlockingDialog", "BlockingSession"]


class BlockingDialog:
    """:class:`sipsans_asyncio.calls.AsyncDialog` for threads: the same methods, blocking.

    Every method takes the keyword arguments of its async twin and returns its result
    (the final ``Response`` of the request sent, or None); ``with dialog:`` hangs up on
    exit, ``dialog.closed(timeout=...)`` waits for the end.
    """

    __slots__ = ("_portal", "dialog")

    def __init__(self, portal: BlockingPortal, dialog: AsyncDialog) -> None:
        self._portal = portal
        #: The async dialog living in the portal's loop.
        self.dialog = dialog

    def __repr__(self) -> str:
        return f"<BlockingDialog {self.dialog.view!r}>"

    def _run(self, fn: Callable[..., Awaitable[Any]], /, *args: Any, **kwargs: Any) -> Any:
        async def run() -> Any:
            return await fn(*args, **kwargs)

        return self._portal.call(run)

    @property
    def id(self) -> DialogId:
        return self.dialog.id

    @property
    def state(self) -> DialogState:
        return self.dialog.state

    @property
    def terminated_reason(self) -> TerminatedReason | None:
        return self.dialog.terminated_reason

    @property
    def status(self) -> int | None:
        return self.dialog.status

    @property
    def initial_request(self) -> Request | None:
        return self.dialog.initial_request

    @property
    def response(self) -> Response | None:
        return self.dialog.response

    @property
    def is_terminated(self) -> bool:
        return self.dialog.is_terminated

    def __enter__(self) -> BlockingDialog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._run(self.dialog.__aexit__, exc_type, exc, tb)

    def closed(self, timeout: float | None = None) -> TerminatedReason | None:
        result: TerminatedReason | None = self._run(self.dialog.closed, timeout)
        return result

    def established(self, timeout: float | None = None) -> BlockingDialog:
        self._run(self.dialog.established, timeout)
        return self

    def bye(self, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.bye, **kwargs)
        return result

    def hangup(self, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.hangup, **kwargs)
        return result

    def cancel(self, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.cancel, **kwargs)
        return result

    def reinvite(self, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.reinvite, **kwargs)
        return result

    def request(self, method: str, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.request, method, **kwargs)
        return result

    def update(self, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.update, **kwargs)
        return result

    def info(self, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.info, **kwargs)
        return result

    def options(self, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.options, **kwargs)
        return result

    def message(self, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.message, **kwargs)
        return result

    def notify(self, **kwargs: Any) -> Response | None:
        result: Response | None = self._run(self.dialog.notify, **kwargs)
        return result

    def ack(self, **kwargs: Any) -> None:
        self._run(self.dialog.ack, **kwargs)

    def ringing(self, **kwargs: Any) -> None:
        self._run(self.dialog.ringing, **kwargs)

    def progress(self, status: int = 183, **kwargs: Any) -> None:
        self._run(self.dialog.progress, status, **kwargs)

    def accept(self, **kwargs: Any) -> None:
        self._run(self.dialog.accept, **kwargs)

    def reject(self, status: int = 486, **kwargs: Any) -> None:
        self._run(self.dialog.reject, status, **kwargs)

    def respond(self, txn: ServerTxn, status: int, **kwargs: Any) -> None:
        self._run(self.dialog.respond, txn, status, **kwargs)


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

            async def make() -> Session[CoreT]:
                return Session(self._core_arg, **self._options)

            session = self._portal.call(make)
            self._stack.enter_context(self._portal.wrap_async_context_manager(session))
        except BaseException:
            self._stack.close()
            self._portal = None
            raise
        self._session = session
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._stack.close()
        finally:
            self._session = None
            self._portal = None

    def close(self) -> None:
        self.__exit__(None, None, None)

    def request(
        self, request: Request, *, target: Target, timeout: float | None = None
    ) -> Response:
        """Send ``request`` and block until its final response (or raise)."""

        async def run() -> Response:
            with anyio.fail_after(timeout):
                return await self.session.request(request, target=target)

        return self.portal.call(run)

    def next_event(self, timeout: float | None = None) -> object:
        """Block until the next event; TimeoutError after ``timeout`` seconds."""

        async def run() -> object:
            with anyio.fail_after(timeout):
                return await self.session.next_event()

        return self.portal.call(run)

    # -- UserAgent conveniences (see sipsans_asyncio.calls) ------------------------------

    def invite(self, to: Any, *, timeout: float | None = None, **options: Any) -> BlockingDialog:
        """Call ``to``; returns the confirmed dialog, raises ``CallFailed``; after
        ``timeout`` seconds the call is hung up (CANCEL/BYE) and TimeoutError raised."""

        async def run() -> AsyncDialog:
            return await self.session.invite(to, timeout=timeout, **options)

        return BlockingDialog(self.portal, self.portal.call(run))

    def wrap(self, dialog: ClientInviteDialog | ServerInviteDialog | DialogId) -> BlockingDialog:
        """The blocking dialog of a core view or id (e.g. ``IncomingCall.dialog``)."""

        async def run() -> AsyncDialog:
            return self.session.wrap(dialog)

        return BlockingDialog(self.portal, self.portal.call(run))

    def respond(self, txn: ServerTxn, status: int, **kwargs: Any) -> None:
        """Answer an InDialogRequest / MessageReceived (``ua.respond``)."""

        async def run() -> None:
            await self.session.respond(txn, status, **kwargs)

        self.portal.call(run)

    def dialogs(self) -> list[BlockingDialog]:
        async def run() -> list[AsyncDialog]:
            return self.session.dialogs()

        return [BlockingDialog(self.portal, d) for d in self.portal.call(run)]

    def command(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run a core command in the loop thread (``now=`` filled in), then pump."""

        async def run() -> Any:
            return self.session.command(fn, *args, **kwargs)

        return self.portal.call(run)
