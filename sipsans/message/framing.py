"""Stream framing for SIP over TCP, TLS and WebSocket-less streams (RFC 3261 §18.3).

On a stream the only message boundary is the Content-Length header, which is
therefore mandatory there. :class:`StreamFramer` buffers partial reads, splits
several messages out of one read, and handles the keep-alive of RFC 5626 §3.5.1:
a double CRLF ("ping") from the peer is counted so that the owner can answer it
with a single CRLF ("pong"); a lone CRLF between messages is ignored (§7.5). An owner
that pings (RFC 5626 §4.4.1) says so with :meth:`StreamFramer.expect_pong`: a lone CRLF
is then the pong, never the first half of a ping.

Two kinds of failure are kept apart:

* a *framing* error (missing, negative or conflicting Content-Length, an
  oversized header section or buffer, EOF in the middle of a message) leaves no
  way to find the next message: :meth:`StreamFramer.next_frame` raises
  :class:`~sipsans.errors.RemoteProtocolError` and :attr:`StreamFramer.failed`
  becomes true, so the caller closes this one connection;
* a *message* error (a well-framed message that does not parse) raises from
  :meth:`StreamFramer.next_message` but the stream stays usable.
"""

from __future__ import annotations

import re

from ..config import ParserLimits
from ..errors import RemoteProtocolError
from .model import Request, Response
from .parser import DEFAULT_LIMITS, parse_message

__all__ = ["StreamFramer"]

# The Content-Length header in any spelling ("l" is its compact form), with LWS
# before the colon and a value that may be folded onto the next line (§7.3.1).
_CONTENT_LENGTH = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*(?:\r\n[ \t]+)?([^\r\n]*)", re.IGNORECASE | re.MULTILINE
)


class StreamFramer:
    """Turn the bytes of one stream connection into complete messages.

    Feed with :meth:`receive_data` (``b""`` marks EOF), then call
    :meth:`next_message` (or :meth:`next_frame` for raw bytes) until it returns
    None. :meth:`take_pings` tells how many RFC 5626 pings arrived since the
    last call; answer each with ``b"\\r\\n"``.
    """

    __slots__ = ("_buffer", "_eof", "_error", "_limits", "_pings", "_pong_due", "_scan_from")

    def __init__(self, *, limits: ParserLimits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._scan_from = 0
        self._pings = 0
        self._pong_due = False
        self._eof = False
        self._error: RemoteProtocolError | None = None

    @property
    def failed(self) -> bool:
        """True once framing is lost; the connection must be closed."""
        return self._error is not None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buffer)

    @property
    def at_eof(self) -> bool:
        return self._eof

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the connection; ``b""`` means the peer closed it."""
        if self._error is not None:
            return
        if not data:
            self._eof = True
            return
        if self._eof:
            raise RemoteProtocolError("data received after end of stream")
        self._buffer += data
        if len(self._buffer) > self._limits.max_buffer_size:
            self._fail(
                f"{len(self._buffer)} bytes buffered without a complete message, over the "
                f"limit of {self._limits.max_buffer_size} (ParserLimits.max_buffer_size)",
                513,
            )

    def expect_pong(self) -> None:
        """We sent a ping: the next lone CRLF is its pong (RFC 5626 §3.5.1), not the
        start of a ping from the peer (two pongs in a row would otherwise read as one)."""
        self._pong_due = True

    def take_pings(self) -> int:
        """Number of double-CRLF keep-alive pings seen since the last call."""
        pings, self._pings = self._pings, 0
        return pings

    def _fail(self, message: str, status: int = 400) -> RemoteProtocolError:
        """Record that framing is lost (the first reason stays); returns the error."""
        if self._error is None:
            self._error = RemoteProtocolError(message, status_hint=status)
        return self._error

    def next_frame(self) -> bytes | None:
        """The next complete message as raw bytes, or None until more data arrives.

        Raises :class:`RemoteProtocolError` when framing is lost (see :attr:`failed`).
        """
        if self._error is not None:
            raise self._error
        buf = self._buffer
        # §7.5 and RFC 5626 §3.5.1: skip CRLFs between messages, counting pings.
        while buf[:2] == b"\r\n":
            if buf[:4] == b"\r\n\r\n":
                self._pings += 1
                del buf[:4]
            elif len(buf) < 4 and not self._eof and b"\r\n\r\n".startswith(buf):
                if not (self._pong_due and buf == b"\r\n"):
                    return None  # maybe the start of a ping; wait for more
                del buf[:2]  # the pong of our ping
                self._pong_due = False
            else:
                del buf[:2]
                self._pong_due = False
            self._scan_from = 0
        if not buf:
            return None
        end = buf.find(b"\r\n\r\n", max(0, self._scan_from - 3))
        if end < 0:
            if len(buf) > self._limits.max_header_size:
                raise self._fail(
                    f"no end of header section within {self._limits.max_header_size} bytes "
                    "(ParserLimits.max_header_size)",
                    513,
                )
            if self._eof:
                raise self._fail(f"connection closed inside a message header ({len(buf)} bytes)")
            self._scan_from = len(buf)
            return None
        length = self._content_length(bytes(buf[:end]))
        total = end + 4 + length
        if len(buf) < total:
            self._scan_from = end  # header end found; do not scan again
            if self._eof:
                raise self._fail(
                    f"connection closed with {len(buf) - end - 4} of {length} body bytes"
                )
            return None
        frame = bytes(buf[:total])
        del buf[:total]
        self._scan_from = 0
        return frame

    def next_message(self) -> Request | Response | None:
        """The next parsed message, or None until more data arrives.

        A framing error sets :attr:`failed`; a parse error of a well-framed message
        does not (answer it and go on reading).
        """
        frame = self.next_frame()
        if frame is None:
            return None
        return parse_message(frame, limits=self._limits)

    def _content_length(self, head: bytes) -> int:
        """The Content-Length of a header section; raises (and fails) if unusable."""
        values = {m.group(1).strip() for m in _CONTENT_LENGTH.finditer(head)}
        if not values:
            raise self._fail(
                "Content-Length is missing; it is mandatory on stream transports "
                "(RFC 3261 §18.3), so the message boundary is unknown"
            )
        if len(values) > 1:
            listed = ", ".join(sorted(v.decode("latin-1") for v in values))
            raise self._fail(f"conflicting Content-Length values ({listed}); framing is lost")
        (raw,) = values
        if not (raw.isascii() and raw.isdigit()):
            raise self._fail(
                f"Content-Length {raw.decode('latin-1')!r} is not a non-negative integer; "
                "framing is lost"
            )
        length = int(raw)
        if length > self._limits.max_body_size:
            raise self._fail(
                f"Content-Length {length} exceeds the body limit of "
                f"{self._limits.max_body_size} (ParserLimits.max_body_size)",
                413,
            )
        return length
