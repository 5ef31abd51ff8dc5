"""Bytes to message: :func:`parse_message` for one datagram (RFC 3261 §7, §18.3).

The parser makes one pass over the header section: it decodes it once, splits it
into lines once, unfolds continuation lines, and records every header with its
canonical key. It then validates what every transaction needs (start line, Via,
From, To, Call-ID, CSeq, Max-Forwards, Content-Length, Contact); those typed
views stay cached on the message, so reading them afterwards is free. Other
headers are kept as text and parsed only if somebody asks.

Lenient on input, strict on output: each tolerance below carries the RFC and
the reason. Anything that must be refused raises
:class:`~sipsans.errors.RemoteProtocolError` whose ``status_hint`` is the
response a UAS sends (responses that fail are simply dropped, §18.1.2).
"""

from __future__ import annotations

import re

from .config import ParserLimits
from .errors import RemoteProtocolError
from .grammar import is_token
from .headers import Headers, canonical_key
from .message import Request, Response
from .uri import SipURI, parse_uri

__all__ = ["DEFAULT_LIMITS", "parse_message"]

DEFAULT_LIMITS = ParserLimits()

_STATUS_LINE = re.compile(r"SIP/(\d+)\.(\d+) ([1-6]\d\d)(?: (.*))?\Z", re.IGNORECASE | re.DOTALL)
_VERSION = re.compile(r"SIP/(\d+)\.(\d+)\Z", re.IGNORECASE)


def _bad(message: str, status: int = 400) -> RemoteProtocolError:
    return RemoteProtocolError(message, status_hint=status)


def parse_message(data: bytes, *, limits: ParserLimits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one complete SIP message, e.g. a UDP datagram.

    The body is taken by Content-Length; octets after it are discarded (§18.3,
    RFC 4475 dblreq). Without Content-Length the body runs to the end of the
    data, as §18.3 allows for datagrams. Raises :class:`RemoteProtocolError`.
    """
    if len(data) > limits.max_message_size:
        raise _bad(
            f"message of {len(data)} bytes exceeds the limit of {limits.max_message_size} "
            "(ParserLimits.max_message_size)",
            513,
        )
    # §7.5: CRLFs before the start line are ignored (keep-alives, stray line ends).
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    crlf = True
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        body_start = end + 4
    elif data.endswith(b"\r\n"):
        # Leniency: the empty line ending the header section is missing but the
        # datagram ends on a line end; RFC 4475 baddn and RFC 5118 §4.10 archive
        # files look like this. With no bytes left there can be no body.
        end = body_start = len(data) - 2
    else:
        # Leniency: bare LF line ends (RFC 3261 §7 requires CRLF); seen from
        # hand-written tools and in the RFC 5118 archive. Only when there is no
        # CR anywhere in the header section, so CRLF messages never take this path.
        lf_end = data.find(b"\n\n", start)
        head_part = data[start:lf_end] if lf_end >= 0 else data[start:]
        if b"\r" in head_part or not head_part:
            raise _bad("no empty line ends the header section (RFC 3261 §7)")
        crlf = False
        end = lf_end if lf_end >= 0 else len(data.rstrip(b"\n"))
        body_start = lf_end + 2 if lf_end >= 0 else len(data)
    if end - start > limits.max_header_size:
        raise _bad(
            f"header section of {end - start} bytes exceeds the limit of "
            f"{limits.max_header_size} (ParserLimits.max_header_size)",
            513,
        )
    text = data[start:end].decode("utf-8", "surrogateescape")
    message = _parse_head(text.split("\r\n") if crlf else text.split("\n"), limits)
    body = data[body_start:]
    try:
        length = message.content_length
        if length is not None:
            if length > limits.max_body_size:
                raise _bad(
                    f"Content-Length {length} exceeds the body limit of {limits.max_body_size} "
                    "(ParserLimits.max_body_size)",
                    413,
                )
            if length > len(body):
                raise _bad(
                    f"Content-Length {length} is larger than the {len(body)} body bytes "
                    "received (RFC 4475 clerr)"
                )
            if length < len(body):
                body = body[:length]
        message.body = body
        _validate(message)
    except RemoteProtocolError as exc:
        exc.partial = message
        raise
    return message


def _parse_head(lines: list[str], limits: ParserLimits) -> Request | Response:
    first = lines[0]
    if len(lines) > limits.max_headers + 1:
        raise _bad(
            f"{len(lines) - 1} header lines exceed the limit of {limits.max_headers} "
            "(ParserLimits.max_headers)",
            513,
        )
    keys: list[str] = []
    names: list[str] = []
    values: list[str] = []
    max_line = limits.max_line_length
    for line in lines[1:]:
        if not line:
            raise _bad("empty line inside the header section")
        if line[0] in " \t":
            # §7.3.1: a line starting with whitespace continues the previous one;
            # the fold (CRLF and leading whitespace) is replaced by one space.
            if not values:
                raise _bad("the first header line starts with whitespace")
            values[-1] = f"{values[-1]} {line.strip()}".strip()
            if len(values[-1]) > max_line:
                raise _bad(f"header {names[-1]} exceeds the line length limit {max_line}", 513)
            continue
        if len(line) > max_line:
            raise _bad(
                f"a header line of {len(line)} characters exceeds the limit of {max_line} "
                "(ParserLimits.max_line_length)",
                513,
            )
        name, colon, value = line.partition(":")
        if not colon:
            raise _bad(f"header line without ':' {line[:60]!r}")
        # §7.3.1: whitespace is allowed between the name and the colon (wsinv).
        name = name.rstrip(" \t")
        key = canonical_key(name)
        if not is_token(name):
            raise _bad(f"invalid header name {name[:60]!r}: header names are tokens (§25.1)")
        keys.append(key)
        names.append(name)
        values.append(value.strip())
    headers = Headers._from_parsed(keys, names, values)
    if first.startswith("SIP/") or first[:4].upper() == "SIP/":
        return _parse_status_line(first, headers)
    return _parse_request_line(first, headers)


def _parse_status_line(line: str, headers: Headers) -> Response:
    # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; RFC 4475 noreason
    # has an empty phrase after the SP. Leniency: a missing SP after the code
    # is read as an empty phrase too.
    m = _STATUS_LINE.match(line)
    if m is None:
        raise _bad(f"malformed status line {line[:80]!r}; expected 'SIP/2.0 <100-699> <reason>'")
    major, minor, code, reason = m.groups()
    if (major, minor) != ("2", "0"):
        raise _bad(f"SIP version {major}.{minor} is not supported; only SIP/2.0", 505)
    return Response(int(code), reason or "", headers)


def _parse_request_line(line: str, headers: Headers) -> Request:
    # Request-Line = Method SP Request-URI SP SIP-Version. Leniency: runs of
    # spaces and trailing whitespace are tolerated (RFC 4475 lwsstart, trws
    # allow it); they are never re-emitted because bytes() writes single spaces.
    parts = line.split()
    if len(parts) != 3:
        if len(parts) > 3:
            raise _bad(
                f"request line {line[:80]!r} has whitespace inside the Request-URI; "
                "escape it (RFC 4475 lwsruri)"
            )
        raise _bad(f"malformed request line {line[:80]!r}; expected 'METHOD URI SIP/2.0'")
    method, target, version = parts
    if not is_token(method):
        raise _bad(f"method {method[:40]!r} is not a token (§25.1)")
    if version != "SIP/2.0":
        m = _VERSION.match(version)
        if m is None:
            raise _bad(f"malformed SIP-Version {version[:20]!r} in the request line")
        if m.groups() != ("2", "0"):
            raise _bad(f"SIP version {version} is not supported; only SIP/2.0", 505)
    if target.startswith("<"):
        raise _bad(f"Request-URI {target[:80]!r} must not be enclosed in '<>' (RFC 4475 ltgtruri)")
    uri = parse_uri(target)
    if isinstance(uri, SipURI) and uri.headers:
        # RFC 3261 §19.1.1 Table 1: headers are not allowed in a Request-URI
        # (RFC 4475 escruri); never turn them into header fields.
        raise _bad(f"Request-URI {target[:80]!r} carries '?headers', which are not allowed there")
    request = Request.__new__(Request)
    request.method = method
    request.uri = uri
    request.headers = headers
    request.body = b""
    return request


_MANDATORY = ("via", "from", "to", "call-id", "cseq")


def _validate(message: Request | Response) -> None:
    """Check and cache the fields every transaction reads (§8.1.1, §8.2.2)."""
    headers = message.headers
    for key in _MANDATORY:
        if key not in headers:
            name = {"call-id": "Call-ID", "cseq": "CSeq"}.get(key, key.title())
            raise _bad(f"missing mandatory header {name} (RFC 3261 §8.1.1)")
    if not message.vias:
        raise _bad("missing mandatory header Via (RFC 3261 §8.1.1.7)")
    message.from_  # noqa: B018  (parse and cache; raises on bad syntax)
    message.to  # noqa: B018
    message.call_id  # noqa: B018
    cseq = message.cseq
    message.max_forwards  # noqa: B018
    if "contact" in headers:
        message.contacts  # noqa: B018
    if isinstance(message, Request) and cseq.method != message.method:
        raise _bad(
            f"CSeq method {cseq.method} does not match the request method {message.method} "
            "(RFC 3261 §8.1.1.5, RFC 4475 mismatch01)"
        )
