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

from typing import Any, Protocol

from .transport import Address, ConnHandle, Transmit

__all__ = ["SipCore"]


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
