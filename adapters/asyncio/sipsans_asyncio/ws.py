"""SIP over WebSocket (RFC 7118) for the asyncio session: the ``ws`` extra.

A :class:`WsConn` is a stream connection whose bytes go through
:class:`~sipsans_session.rfc7118.SipWebSocket` (shared with the anyio adapter): it
becomes ready for SIP once the handshake selected the ``sip`` subprotocol, and each
WebSocket message it receives is one SIP message for the core.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sipsans_session.driver import Driver
from sipsans_session.rfc7118 import SipWebSocket
from sipsans_session.routing import Router

from .protocols import StreamConn

__all__ = ["WsConn"]


class WsConn(StreamConn):
    """A WS/WSS connection, accepted or opened (the client writes the upgrade request)."""

    def __init__(
        self,
        driver: Driver[Any],
        router: Router[StreamConn],
        name: str,
        *,
        client: bool,
        host: str = "",
        port: int = 0,
        handshake_timeout: float = 10.0,
    ) -> None:
        super().__init__(driver, router, name, client=client)
        self.ws = SipWebSocket(client=client, host=host, port=port)
        self._handshake_timeout = handshake_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def opened(self) -> None:
        if self.client:
            self._write(self.ws.handshake())  # (the dialler bounds the wait for it)
        else:
            # A peer that never finishes its upgrade holds no connection for long.
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._handshake_timeout, self._too_slow)

    def _too_slow(self) -> None:
        if self.handle is None:
            self._fail(f"no WebSocket handshake within {self._handshake_timeout:g} s")

    def _become_ready(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super()._become_ready()

    def _write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        got = self.ws.receive(data)
        self._write(got.send)
        if got.send and self.handle is not None:
            self.last_activity = self.driver.now()  # a WebSocket ping: a keep-alive
        if got.ready:
            self._become_ready()
        for message in got.messages:
            self.sip_in(message)
        if got.error is not None:
            self._fail(got.error)
        elif got.closed:
            self.sip_in(b"")
            self.close()

    def _fail(self, reason: str) -> None:
        self.not_ready(reason)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def send(self, data: bytes) -> None:
        self.last_activity = self.driver.now()
        self._write(self.ws.frame(data))

    def close(self) -> None:
        """Close with a Close frame first (RFC 6455 §7.1.2), unless already closing."""
        self._write(self.ws.close())
        super().close()
