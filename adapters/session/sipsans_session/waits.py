"""The waits of a session: for a request's final response, and for a state.

The core's commands return at once (a ``ClientTxn`` whose outcome arrives later as
events, or nothing); :class:`Waits` turns them into awaitables for the dialog and
subscription handles and the session's UserAgent methods (DESIGN.md §3):

- :meth:`Waits.response` runs a command that sends a request and returns the request's
  final ``Response``: a one-shot :class:`Waiter` is registered with the
  :class:`~sipsans_session.driver.Driver` for the transaction before the pump, which
  resolves it with the response, or with the reason none will come;
- :meth:`Waits.until` waits until a condition holds, re-checked at each event the
  session routes to a key (a dialog's ``(Call-ID, local tag)``, a subscription, the
  registrations) through :meth:`Waits.wake`.

A :class:`Waiter` is the only part that needs the loop: each session makes them (an
``asyncio.Future``, an ``anyio.Event``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol, overload

from sipsans import ClientTxn, Response

from .driver import Driver
from .errors import RequestDropped, RequestTimeout, TransportError

__all__ = ["Waiter", "Waits"]

#: What :meth:`Waits.end` wakes the state waits with (not an exception: the wait
#: re-checks its condition first, which the close may well have fulfilled).
_SESSION_CLOSED = object()


class Waiter(Protocol):
    """A one-shot result slot on the session's loop."""

    def resolve(self, outcome: object) -> None:
        """Set the result (an exception instance is raised by :meth:`wait`); later calls
        are ignored."""

    async def wait(self, timeout: float | None = None) -> object:
        """The result; TimeoutError after ``timeout`` seconds (the slot stays usable)."""


class Waits:
    """The request and state waits of one session (see the module docstring).

    ``new_waiter`` makes a :class:`Waiter` on the session's loop. ``closing`` is set
    once the session hangs up everything on close: a wait cancelled then sends no
    hang-up of its own. ``hangup_timeout`` bounds the wait of :meth:`hang_up`.
    """

    __slots__ = (
        "_driver",
        "_ended",
        "_new_waiter",
        "_sleepers",
        "closing",
        "hangup_timeout",
        "watchers",
    )

    def __init__(self, driver: Driver[Any], new_waiter: Callable[[], Waiter]) -> None:
        self._driver = driver
        self._new_waiter = new_waiter
        #: Seconds ``async with dialog`` waits for the answer to its BYE/CANCEL.
        self.hangup_timeout = 5.0
        self.closing = False
        #: Checks re-run at each event of a dialog, subscription or registration, by key
        #: (read to skip :meth:`wake` when nothing waits).
        self.watchers: dict[Hashable, list[Callable[[object], None]]] = {}
        #: The waiters of the state waits in progress, woken by :meth:`end`.
        self._sleepers: set[Waiter] = set()
        self._ended = False

    # -- a request's final response ------------------------------------------------------

    def watch(self, txn: ClientTxn) -> Waiter:
        """A waiter the final response of ``txn`` (or why none comes) resolves."""
        waiter = self._new_waiter()
        self._driver.wait_for(txn, waiter.resolve)
        return waiter

    async def settle(self, txn: ClientTxn, waiter: Waiter, timeout: float) -> None:
        """Wait up to ``timeout`` for the end of a hang-up request, whatever it is."""
        try:
            await waiter.wait(max(0.0, timeout))
        except (TimeoutError, RequestTimeout, TransportError):
            pass
        finally:
            self._driver.forget(txn)

    @overload
    async def response(
        self, fn: Callable[..., ClientTxn], /, *args: Any, **kwargs: Any
    ) -> Response: ...

    @overload
    async def response(
        self, fn: Callable[..., ClientTxn | None], /, *args: Any, **kwargs: Any
    ) -> Response | None: ...

    async def response(
        self, fn: Callable[..., ClientTxn | None], /, *args: Any, **kwargs: Any
    ) -> Response | None:
        """Run a core command that sends a request (or holds it: None) and return the
        request's final response. Raises :class:`RequestTimeout` or
        :class:`TransportError` when none comes."""
        driver = self._driver
        txn = fn(*args, now=driver.now(), **kwargs)
        if txn is None:
            driver.pump()
            return None
        waiter = self.watch(txn)  # before pumping: failures may come at once
        driver.pump()
        try:
            result = await waiter.wait()
        finally:
            driver.forget(txn)
        assert isinstance(result, Response)
        return result

    async def end_call(
        self, fn: Callable[..., ClientTxn | None], /, *args: Any, **kwargs: Any
    ) -> Response | None:
        """:meth:`response` for a BYE or CANCEL: one the UA dropped unsent because the
        call ended first (:class:`RequestDropped`) is no failure; None, as nothing was
        sent."""
        try:
            return await self.response(fn, *args, **kwargs)
        except RequestDropped:
            return None

    async def hang_up(self, hangup: Callable[..., ClientTxn | None], *, wait: bool) -> None:
        """Run a dialog's ``hangup`` command (CANCEL, reject or BYE) unless the session
        is closing (its close hangs up); with ``wait``, wait up to ``hangup_timeout``
        for the answer."""
        if self.closing:
            return
        txn = self._driver.command(hangup)
        if txn is not None and wait:
            await self.settle(txn, self.watch(txn), self.hangup_timeout)

    # -- states ------------------------------------------------------------------------------

    def wake(self, key: Hashable, event: object) -> None:
        """Re-check the waits on ``key``: ``event`` concerns it."""
        checks = self.watchers.get(key)
        if checks:
            for check in list(checks):
                check(event)

    async def until(
        self, key: Hashable, done: Callable[[object], bool], timeout: float | None
    ) -> None:
        """Wait until ``done(event)`` holds, re-checked at each event routed to ``key``
        (first with ``event=None``). Raises TransportError("session closed") if the
        session is closed (or closes meanwhile) and ``done`` still does not hold: no
        event can come any more."""
        if done(None):
            return
        if self._ended:
            raise TransportError("session closed")
        waiter = self._new_waiter()

        def check(event: object) -> None:
            if done(event):
                waiter.resolve(None)

        self.watchers.setdefault(key, []).append(check)
        self._sleepers.add(waiter)
        try:
            outcome = await waiter.wait(timeout)
        finally:
            self._sleepers.discard(waiter)
            checks = self.watchers.get(key)
            if checks is not None:
                checks.remove(check)
                if not checks:
                    del self.watchers[key]
        if outcome is _SESSION_CLOSED and not done(None):
            raise TransportError("session closed")

    def end(self) -> None:
        """The session is closed: wake every state wait (each re-checks its condition,
        which the hang-ups of the close usually fulfilled) and refuse new ones."""
        self._ended = True
        for waiter in list(self._sleepers):
            waiter.resolve(_SESSION_CLOSED)

    @property
    def idle(self) -> bool:
        """True when no state wait is in progress."""
        return not self._sleepers and not self.watchers
