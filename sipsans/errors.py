"""Exceptions raised by the sipsans core.

Two families, as in h11: a :class:`LocalProtocolError` means *this* program misused
the API (a bug to fix in the caller), a :class:`RemoteProtocolError` means the
peer sent something that cannot be accepted; it carries the SIP status code a
server would answer with (RFC 3261 §21.4).
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "RemoteProtocolError", "SipError"]


class SipError(Exception):
    """Base class of every error raised by sipsans."""


class LocalProtocolError(SipError):
    """The caller asked for something the protocol or the current state forbids.

    The message names what was wrong and what to do instead.
    """


class RemoteProtocolError(SipError):
    """The peer's bytes cannot be accepted.

    ``status_hint`` is the response a UAS should send for a request that failed this
    way (400, 416, 420, 505, 513, ...). Responses that fail are dropped instead
    (RFC 3261 §18.1.2), so for them the hint is informative only.
    """

    def __init__(self, message: str, *, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint
        #: What the parser could build before it gave up (start line and header
        #: lines split, some typed view invalid), so that a server can still send a
        #: stateless error response when Via, From, To, Call-ID and CSeq survive.
        #: (A ``Request`` or ``Response``; typed loosely so that this module, the
        #: bottom of the package, imports nothing from the message layer above it.)
        self.partial: object = None

    def __repr__(self) -> str:
        return f"RemoteProtocolError({str(self)!r}, status_hint={self.status_hint})"
