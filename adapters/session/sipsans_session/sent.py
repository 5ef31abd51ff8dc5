"""What a command returns once it has gone out: an awaitable that awaiting is optional for.

The answers of a handle (``ringing()``, ``progress()``, ``reject()``, ``accept()``,
``ack()``, ``respond()``, and a subscription's ``refresh()``, ``accept()``, ``reject()``,
``unsubscribe()``) are commands: they send when called, on every adapter, like the
blocking facade's. They return a :class:`Sent`, so that ``await call.ringing()`` reads as
it always did, and a forgotten ``await`` can no longer mean that nothing was sent.
Awaiting a :class:`Sent` waits for what the command promises beyond sending, if anything
(``accept()``: the ACK; ``unsubscribe()``: the end of the subscription), and returns at
once otherwise.

A :class:`Sent` is a coroutine (``collections.abc.Coroutine``), so it also goes wherever
a coroutine does (``asyncio.create_task``, ``asyncio.wait_for``, anyio's and trio's
``start_soon(call.accept)``). The wait behind it is made only when it is awaited: one
never awaited leaves no "coroutine was never awaited" warning, since nothing was left
undone.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, TypeVar, cast

__all__ = ["Sent"]

T = TypeVar("T")


class Sent(Coroutine[Any, Any, T]):
    """The outcome of a command already sent: ``then()`` (a coroutine function) is
    awaited when this is, and gives the result; without it, awaiting returns None at
    once (and the same :class:`Sent` may be awaited any number of times)."""

    __slots__ = ("_coro", "_then")

    def __init__(self, then: Callable[[], Coroutine[Any, Any, T]] | None = None) -> None:
        self._then = then
        self._coro: Coroutine[Any, Any, Any] | None = None

    def __repr__(self) -> str:
        return "<Sent>" if self._then is None else f"<Sent, then {self._then!r}>"

    def _started(self) -> Coroutine[Any, Any, Any] | None:
        coro = self._coro
        if coro is None and self._then is not None:
            coro = self._coro = self._then()
        return coro

    def __await__(self) -> Generator[Any, None, T]:
        coro = self._started()
        if coro is None:
            return cast(T, None)
        result: T = yield from coro.__await__()
        return result

    def send(self, value: Any) -> Any:
        coro = self._started()
        if coro is None:
            raise StopIteration(None)
        return coro.send(value)

    def throw(
        self,
        typ: type[BaseException] | BaseException,
        val: BaseException | object = None,
        tb: TracebackType | None = None,
    ) -> Any:
        coro = self._started()
        if coro is None:
            raise typ if isinstance(typ, BaseException) else typ()
        if val is None and tb is None:
            return coro.throw(typ)
        return coro.throw(typ, val, tb)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._coro is not None:
            self._coro.close()
