"""The pull surface every sans-IO core offers, as one structural type.

``sipsans.Endpoint``, ``sipsans.UserAgent`` and ``sipsans.tools.trace.Recorder`` all take
inputs (datagrams, stream bytes, connection changes, failed sends, timer ticks, each
with ``now=``) and are drained with ``events()`` and ``transmits()``; the single
wake-up they want is ``get_next_timer()``. Whatever drives a core, the virtual-time
:class:`sipsans.testing.Net` or the socket adapters (``sipsans_asyncio``,
``sipsans_anyio``), needs exactly this and nothing else, so it is typed against
:class:`SipCore`, never against a concrete class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..config import EndpointConfig
from ..message.model import Request, Response
from .events import TransactionEvent
from .transport import Address, ClientTxn, ConnHandle, ServerTxn, Target, Transmit

__all__ = ["EndpointLike", "SipCore"]


class SipCore(Protocol):
    """The pull surface shared by Endpoint, UserAgent and trace.Recorder."""

    def receive_datagram(
        self,
        data: bytes,
        *,
        remote: Address,
        local: Address | None = ...,
        transport: str = ...,
        now: float,
    ) -> None: ...

    def connection_made(
        self, *, transport: str, remote: Address, local: Address | None = ..., now: float
    ) -> ConnHandle: ...

    def receive_stream(self, conn: ConnHandle, data: bytes, *, now: float) -> None: ...

    def connection_lost(self, conn: ConnHandle, *, now: float) -> None: ...

    def transport_error(self, token: int, *, now: float, reason: str | None = None) -> None: ...

    def handle_timer(self, *, now: float) -> None: ...

    def events(self) -> list[Any]: ...

    def transmits(self) -> list[Transmit]: ...

    def get_next_timer(self) -> float | None: ...


class EndpointLike(SipCore, Protocol):
    """What a UserAgent asks of its Endpoint: :class:`~sipsans.Endpoint` itself, or a
    wrapper of one (``sipsans.tools.trace.Recorder``, the ``sipsans`` command's message
    watcher, a test's fault injector). Typed structurally so that the opt-in compiled
    build (mypyc checks the class of a value typed as a class) takes wrappers too."""

    @property
    def config(self) -> EndpointConfig: ...

    def drain_events(self, handler: Callable[[TransactionEvent], None]) -> None: ...

    def stats(self) -> dict[str, int]: ...

    def keep_alive(self, conn: ConnHandle, *, interval: float | None, now: float) -> None: ...

    def send_request(self, request: Request, *, target: Target, now: float) -> ClientTxn: ...

    def send_response(self, txn: ServerTxn, response: Response, *, now: float) -> None: ...

    def cancel(
        self, txn: ClientTxn, *, headers: Iterable[tuple[str, str]] = (), now: float
    ) -> ClientTxn | None: ...

    def advertise(self, host: str, port: int) -> None: ...

    def reserve_handle(self) -> ClientTxn: ...

    def send_stateless(
        self, message: Request | Response, *, target: Target | None = None, now: float
    ) -> Request | Response: ...
