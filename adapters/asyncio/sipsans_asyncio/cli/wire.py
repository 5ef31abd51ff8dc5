"""Watching the messages a core sends and receives, for ``-v`` and ``call``'s progress.

:class:`Wire` sits between a :class:`~sipsans.UserAgent` and its Endpoint (or between a
session and an Endpoint): it passes every call through unchanged and reports each SIP
message as a :class:`Seen`, inbound ones as the core receives them (stream bytes framed
into messages first), outbound ones as the transmits are drained. It holds no SIP
logic and changes nothing: with it or without it the core sends the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sipsans

__all__ = ["Seen", "Wire"]

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Seen:
    """One SIP message on the wire: when (the core's ``now``), which way, over which
    transport, to or from where."""

    t: float
    outgoing: bool
    transport: str
    remote: Address
    data: bytes


class Wire:
    """A core wrapped so that ``on_message`` sees every message (see the module
    docstring) and ``on_error`` every transport error's token, before the core does."""

    def __init__(
        self,
        core: Any,
        on_message: Callable[[Seen], None],
        on_error: Callable[[int], None] | None = None,
    ) -> None:
        self.core = core
        self._on_message = on_message
        self._on_error = on_error
        #: Per stream connection: its transport, remote address and framer.
        self._conns: dict[int, tuple[str, Address, sipsans.StreamFramer]] = {}
        self._now = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)

    # -- inputs ------------------------------------------------------------------------

    def receive_datagram(
        self,
        data: bytes,
        *,
        remote: Address,
        local: Address | None = None,
        transport: str = "UDP",
        now: float,
    ) -> None:
        self._now = now
        if data.strip(b"\r\n"):  # (a keep-alive carries no message)
            self._on_message(Seen(now, False, transport, remote, bytes(data)))
        self.core.receive_datagram(data, remote=remote, local=local, transport=transport, now=now)

    def connection_made(
        self, *, transport: str, remote: Address, local: Address | None = None, now: float
    ) -> sipsans.ConnHandle:
        self._now = now
        handle: sipsans.ConnHandle = self.core.connection_made(
            transport=transport, remote=remote, local=local, now=now
        )
        self._conns[handle.id] = (transport, remote, sipsans.StreamFramer())
        return handle

    def receive_stream(self, conn: sipsans.ConnHandle, data: bytes, *, now: float) -> None:
        self._now = now
        known = self._conns.get(conn.id)
        if known is not None and data:
            transport, remote, framer = known
            try:
                framer.receive_data(data)
                while (frame := framer.next_frame()) is not None:
                    if frame.strip(b"\r\n"):
                        self._on_message(Seen(now, False, transport, remote, frame))
            except sipsans.RemoteProtocolError:
                del self._conns[conn.id]  # (the core closes it; nothing more to show)
        self.core.receive_stream(conn, data, now=now)

    def connection_lost(self, conn: sipsans.ConnHandle, *, now: float) -> None:
        self._now = now
        self._conns.pop(conn.id, None)
        self.core.connection_lost(conn, now=now)

    def transport_error(self, token: int, *, now: float, reason: str | None = None) -> None:
        self._now = now
        if self._on_error is not None:
            self._on_error(token)
        self.core.transport_error(token, now=now, reason=reason)

    def handle_timer(self, *, now: float) -> None:
        self._now = now
        self.core.handle_timer(now=now)

    # -- commands: only their clock is noted (for the time of what they send) ----------

    def send_request(self, request: Any, *, target: Any, now: float) -> Any:
        self._now = now
        return self.core.send_request(request, target=target, now=now)

    def send_response(self, txn: Any, response: Any, *, now: float) -> None:
        self._now = now
        self.core.send_response(txn, response, now=now)

    def send_stateless(self, message: Any, *, target: Any = None, now: float) -> Any:
        self._now = now
        return self.core.send_stateless(message, target=target, now=now)

    def cancel(self, txn: Any, *, headers: Any = (), now: float) -> Any:
        self._now = now
        return self.core.cancel(txn, headers=headers, now=now)

    # -- outputs -----------------------------------------------------------------------

    def transmits(self) -> list[sipsans.Transmit]:
        out: list[sipsans.Transmit] = self.core.transmits()
        for transmit in out:
            if transmit.data.strip(b"\r\n"):
                self._on_message(
                    Seen(self._now, True, transmit.transport, transmit.remote, transmit.data)
                )
        return out
