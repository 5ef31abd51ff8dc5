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

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Any, Generic

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from sipsans import Request, Response, Target
from sipsans_asyncio.driver import CoreT

from .session import Session

__all__ = ["BlockingSession"]


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

    def command(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run a core command in the loop thread (``now=`` filled in), then pump."""

        async def run() -> Any:
            return self.session.command(fn, *args, **kwargs)

        return self.portal.call(run)
