"""sipsans: a sans-IO SIP stack.

The core consumes bytes and timer ticks and produces typed events and outbound
messages; it never touches sockets, clocks or threads. See ``docs/`` for the
user guide and ``DESIGN.md`` for the architecture.
"""

from __future__ import annotations

from .config import ParserLimits
from .errors import LocalProtocolError, RemoteProtocolError, SipError
from .fields import CSeq, NameAddr, Via, parse_name_addr, parse_via
from .framing import StreamFramer
from .headers import Headers
from .message import REASON_PHRASES, Message, Request, Response, make_request, make_response
from .parser import parse_message
from .uri import URI, AbsoluteURI, SipURI, TelURI, parse_uri

__all__ = [
    "REASON_PHRASES",
    "URI",
    "AbsoluteURI",
    "CSeq",
    "Headers",
    "LocalProtocolError",
    "Message",
    "NameAddr",
    "ParserLimits",
    "RemoteProtocolError",
    "Request",
    "Response",
    "SipError",
    "SipURI",
    "StreamFramer",
    "TelURI",
    "Via",
    "make_request",
    "make_response",
    "parse_message",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
]

__version__ = "0.1.0.dev0"
