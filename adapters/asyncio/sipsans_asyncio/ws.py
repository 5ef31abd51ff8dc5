"""SIP over WebSocket (RFC 7118) through wsproto: the ``ws`` extra.

A :class:`WsConn` is a stream connection whose bytes are WebSocket frames: each
WebSocket message carries one SIP message, and the ``sip`` subprotocol is required
on both sides. Outgoing SIP goes out as a text frame when it is valid UTF-8.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    TextMessage,
)
from wsproto.events import Request as WsRequest
from wsproto.utilities import RemoteProtocolError as WsError

from .protocols import StreamConn

if TYPE_CHECKING:
    from .session import Session

__all__ = ["WsConn"]


class WsConn(StreamConn):
    """SIP over WebSocket (RFC 7118): a stream connection whose bytes are wsproto frames.

    Each WebSocket message carries one SIP message; the ``sip`` subprotocol is
    required on both sides.
    """

    def __init__(
        self, session: Session[Any], name: str, *, client: bool, host: str = "", port: int = 0
    ) -> None:
        super().__init__(session, name, client=client)
        self.ws = WSConnection(ConnectionType.CLIENT if client else ConnectionType.SERVER)
        self._host = host
        self._port = port
        self._parts: list[bytes] = []

    def opened(self) -> None:
        if self.client:
            host = f"[{self._host}]" if ":" in self._host else self._host
            self._write(
                self.ws.send(
                    WsRequest(host=f"{host}:{self._port}", target="/", subprotocols=["sip"])
                )
            )

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.session.now()
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, WsRequest):
                    if "sip" in event.subprotocols:
                        self._write(self.ws.send(AcceptConnection(subprotocol="sip")))
                        self._become_ready()
                    else:
                        self._write(self.ws.send(RejectConnection(status_code=400)))
                        self.close()
                elif isinstance(event, AcceptConnection):
                    if event.subprotocol != "sip":
                        self._fail("the server did not accept the 'sip' WebSocket subprotocol")
                        return
                    self._become_ready()
                elif isinstance(event, RejectConnection):
                    self._fail(f"WebSocket upgrade rejected with {event.status_code}")
                    return
                elif isinstance(event, TextMessage | BytesMessage):
                    part = event.data.encode() if isinstance(event.data, str) else event.data
                    self._parts.append(bytes(part))
                    if event.message_finished:
                        message, self._parts = b"".join(self._parts), []
                        self.sip_in(message)
                elif isinstance(event, Ping):
                    self._write(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self.ws.state.name not in ("CLOSED", "LOCAL_CLOSING"):
                        self._write(self.ws.send(event.response()))
                    self.sip_in(b"")
                    self.close()
                    return
        except WsError as exc:
            self._fail(f"WebSocket protocol error: {exc}")

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
        self.close()

    def eof_received(self) -> bool | None:
        self.sip_in(b"")
        return None

    def send(self, data: bytes) -> None:

        self.last_activity = self.session.now()
        try:
            event: TextMessage | BytesMessage = TextMessage(data=data.decode("utf-8"))
        except UnicodeDecodeError:
            event = BytesMessage(data=data)
        self._write(self.ws.send(event))
