"""SIP over WebSocket (RFC 7118) on top of wsproto, without I/O: the one copy of it.

:class:`SipWebSocket` turns the bytes of one TCP (or TLS) connection into SIP messages
and back; the asyncio protocol (:mod:`sipsans_asyncio.ws`) and the anyio session feed
it what they read and write what it returns. The rules it applies:

- RFC 7118 §4: the client offers the ``sip`` subprotocol in ``Sec-WebSocket-Protocol``;
  a server refuses an upgrade that does not offer it (400), and a client gives up on a
  server that does not select it.
- RFC 7118 §5.1: each SIP message travels in exactly one WebSocket message, so the
  fragments of a message are joined before the SIP stream sees it.
- RFC 7118 §5.2: text frames carry UTF-8 messages, binary frames anything else; SIP we
  send goes as text when it is valid UTF-8.
- RFC 6455 §5.5: pings are answered, a Close is echoed and ends the SIP stream, and
  the side that closes first sends a Close of its own (:meth:`SipWebSocket.close`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    TextMessage,
)
from wsproto.events import Request as WsRequest
from wsproto.utilities import RemoteProtocolError

__all__ = ["SUBPROTOCOL", "SipWebSocket", "WsInput"]

#: The WebSocket subprotocol registered for SIP (RFC 7118 §3).
SUBPROTOCOL = "sip"


@dataclass(slots=True)
class WsInput:
    """What one chunk of received bytes produced, in the order to act on it."""

    #: Bytes to write back at once (the handshake answer, a pong, the Close echo).
    send: bytes = b""
    #: True on the chunk that completed the handshake: SIP may flow from now on.
    ready: bool = False
    #: Complete SIP messages, one per WebSocket message.
    messages: list[bytes] = field(default_factory=list)
    #: The peer closed the WebSocket: the SIP stream has ended (feed the core EOF).
    closed: bool = False
    #: Why the connection must be dropped (failed handshake, framing error), else None.
    error: str | None = None


class SipWebSocket:
    """One end of a SIP WebSocket connection (client or server), as a byte machine.

    A client writes :meth:`handshake` first; both ends pass every received chunk to
    :meth:`receive` and write :meth:`frame` of each SIP message they send.
    """

    __slots__ = ("_host", "_parts", "_ws", "client")

    def __init__(self, *, client: bool, host: str = "", port: int = 0) -> None:
        self.client = client
        self._ws = WSConnection(ConnectionType.CLIENT if client else ConnectionType.SERVER)
        # The Host header of the upgrade request (RFC 6455 §4.1), IPv6 literals bracketed.
        name = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self._host = f"{name}:{port}"
        self._parts: list[bytes] = []

    def handshake(self) -> bytes:
        """The client's upgrade request, offering the ``sip`` subprotocol (§4.1)."""
        return self._ws.send(WsRequest(host=self._host, target="/", subprotocols=[SUBPROTOCOL]))

    def receive(self, data: bytes) -> WsInput:
        """Feed bytes read from the connection (never ``b""``: the caller handles EOF
        itself, as the end of the SIP stream); see :class:`WsInput` for the result."""
        out = WsInput()
        send: list[bytes] = []
        try:
            self._ws.receive_data(data)
            for event in self._ws.events():
                if isinstance(event, WsRequest):
                    if SUBPROTOCOL in event.subprotocols:
                        send.append(self._ws.send(AcceptConnection(subprotocol=SUBPROTOCOL)))
                        out.ready = True
                    else:
                        send.append(self._ws.send(RejectConnection(status_code=400)))
                        out.error = "the WebSocket client did not offer the 'sip' subprotocol"
                        break
                elif isinstance(event, AcceptConnection):
                    if event.subprotocol != SUBPROTOCOL:
                        out.error = "the server did not accept the 'sip' WebSocket subprotocol"
                        break
                    out.ready = True
                elif isinstance(event, RejectConnection):
                    out.error = f"WebSocket upgrade rejected with {event.status_code}"
                    break
                elif isinstance(event, TextMessage | BytesMessage):
                    payload = event.data
                    part = payload.encode() if isinstance(payload, str) else bytes(payload)
                    self._parts.append(part)
                    if event.message_finished:
                        out.messages.append(b"".join(self._parts))
                        self._parts = []
                elif isinstance(event, Ping):
                    send.append(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self._ws.state is ConnectionState.REMOTE_CLOSING:
                        send.append(self._ws.send(event.response()))
                    out.closed = True
                    break
        except RemoteProtocolError as exc:
            out.error = f"WebSocket protocol error: {exc}"
        out.send = b"".join(send)
        return out

    def close(self, code: int = 1000) -> bytes:
        """The Close frame to write before closing the connection (RFC 6455 §5.5.1,
        §7.1.2: 1000, normal closure), or b"" when the WebSocket is not open (no
        handshake yet, or the peer's Close already answered)."""
        if self._ws.state is not ConnectionState.OPEN:
            return b""
        return self._ws.send(CloseConnection(code=code))

    def frame(self, message: bytes) -> bytes:
        """One SIP message as one WebSocket message: text if UTF-8, else binary (§5.2)."""
        try:
            return self._ws.send(TextMessage(data=message.decode("utf-8")))
        except UnicodeDecodeError:
            return self._ws.send(BytesMessage(data=message))
