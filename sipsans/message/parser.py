"""Bytes to message: :func:`parse_message` for one datagram (RFC 3261 §7, §18.3).

The parser makes one pass over the header section: it decodes it once, splits it
into lines once, unfolds continuation lines, and records every header with its
canonical key. It then validates what matching a transaction needs (start line,
the top Via, From and To tags, Call-ID, CSeq, Content-Length); those typed views
stay cached on the message, so reading them afterwards is free. Other headers
(Max-Forwards, Contact, lower Vias, ...) are kept as text and parsed only if
somebody asks: :meth:`Message.validate` checks them before a UA acts on a request.

Lenient on input, strict on output: each tolerance below carries the RFC and
the reason. Anything that must be refused raises
:class:`~sipsans.errors.RemoteProtocolError` whose ``status_hint`` is the
response a UAS sends (responses that fail are simply dropped, §18.1.2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

from .._speed import remember, remember_text
from ..config import ParserLimits
from ..errors import RemoteProtocolError
from .fields import _KNOWN_METHODS, ViaList, parse_cseq, parse_name_addr, parse_via
from .grammar import is_token
from .headers import Headers, _Layout, _layout, canonical_key
from .model import Request, Response, _build_vias, _single

__all__ = ["DEFAULT_LIMITS", "parse_message"]

# SIP whitespace is SP and HTAB (RFC 3261 §25.1 LWS); str.strip() would also
# remove Unicode spaces that are part of a value.
_WS = " \t"

DEFAULT_LIMITS = ParserLimits()

_STATUS_LINE = re.compile(
    r"SIP/([0-9]+)\.([0-9]+) ([1-6][0-9][0-9])(?: (.*))?\Z", re.IGNORECASE | re.DOTALL
)
_VERSION = re.compile(r"SIP/([0-9]+)\.([0-9]+)\Z", re.IGNORECASE)


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
    if data[:1] == b"\r":
        start = 0
        while data.startswith(b"\r\n", start):
            start += 2
        data = data[start:]
    head, found, body = data.partition(b"\r\n\r\n")
    crlf = True
    if found:
        pass
    elif data.endswith(b"\r\n"):
        # Leniency: the empty line ending the header section is missing but the
        # datagram ends on a line end; RFC 4475 baddn and RFC 5118 §4.10 archive
        # files look like this. With no bytes left there can be no body.
        head = data[:-2]
    else:
        # Leniency: bare LF line ends (RFC 3261 §7 requires CRLF); seen from
        # hand-written tools and in the RFC 5118 archive. Only when there is no
        # CR anywhere in the header section, so CRLF messages never take this path.
        head, found, body = data.partition(b"\n\n")
        if b"\r" in head or not head:
            raise _bad("no empty line ends the header section (RFC 3261 §7)")
        if not found:
            head = head.rstrip(b"\n")
        crlf = False
    if len(head) > limits.max_header_size:
        raise _bad(
            f"header section of {len(head)} bytes exceeds the limit of "
            f"{limits.max_header_size} (ParserLimits.max_header_size)",
            513,
        )
    text = head.decode("utf-8", "surrogateescape")
    lines = text.split("\r\n") if crlf else text.split("\n")
    # §7.3.1, §25.1: CR and LF occur in a header section only as CRLF line ends; no
    # value (quoted-string, Via parameter, TEXT-UTF8) may hold a bare one, and peers
    # that split lines on a bare LF would read another message. Refused below (400).
    # (What is left of CR and LF once the lines are split is bare; ``in`` runs memchr.)
    joined = "".join(lines) if crlf else ""
    bare_cr_lf = "\r" in joined or "\n" in joined
    first = lines[0]
    del lines[0]
    layout, fields = _split_fields(lines, limits, len(text) > limits.max_line_length)
    views: dict[str, object] = {"layout": layout}
    message = _start_line(first, Headers.from_parsed(layout.keys, fields, views))
    try:
        if bare_cr_lf:
            raise _bad("bare CR or LF inside a header line (RFC 3261 §7.3.1, §25.1)")
        at = layout.first.get("content-length")
        if at is None:
            length = None
        elif "content-length" not in layout.repeated:
            raw = fields[at][2].strip(_WS)
            if not (raw.isdigit() and raw.isascii()):
                raise _bad(f"Content-Length: {raw!r} is not a non-negative integer (§20.14)")
            length = int(raw)
        else:
            length = message.content_length  # several lines: the careful check
        received = len(body)
        if length is None:
            message.body = body
        elif length > limits.max_body_size:
            raise _bad(
                f"Content-Length {length} exceeds the body limit of {limits.max_body_size} "
                "(ParserLimits.max_body_size)",
                413,
            )
        elif length > received:
            raise _bad(
                f"Content-Length {length} is larger than the {received} body bytes "
                "received (RFC 4475 clerr)"
            )
        else:
            message.body = body if length == received else body[:length]
        _transaction_fields(message, fields, layout, views)
    except RemoteProtocolError as exc:
        exc.partial = message
        raise
    return message


#: Layouts by the header names as spelled, in order: a peer sends the same names in
#: the same order in every message of a kind, so one tuple lookup stands for a key
#: lookup per line. Only sections of the fast path below enter (no folding, every
#: name a token); a pure function's results, bounded (see sipsans._speed).
_SHAPES: dict[tuple[str, ...], _Layout] = {}

Lines = list[tuple[str, str, str]]


def _split_fields(
    lines: list[str], limits: ParserLimits, long_lines: bool
) -> tuple[_Layout, Lines]:
    """The layout (with the canonical keys) and the ``(name, separator, raw value)`` lines."""
    if len(lines) > limits.max_headers:
        raise _bad(
            f"{len(lines)} header lines exceed the limit of {limits.max_headers} "
            "(ParserLimits.max_headers)",
            513,
        )
    if long_lines and any(len(line) > limits.max_line_length for line in lines):
        return _careful_head(lines, limits.max_line_length)
    # The hot path: one C-level partition per line and one lookup of the names.
    # Splitting at ": ", the way nearly every peer writes a header, leaves the
    # values without their leading space: stripping them later copies nothing.
    fields = [line.partition(": ") for line in lines]
    names = tuple([name for name, sep, _ in fields if sep])
    layout = _SHAPES.get(names)
    if layout is None or len(names) != len(fields):
        return _learn_shape(lines, fields, names, limits.max_line_length)
    return layout, fields


def _learn_shape(
    lines: list[str], fields: Lines, names: tuple[str, ...], max_line: int
) -> tuple[_Layout, Lines]:
    """The layout of a header section whose names the fast path has not seen yet.

    Lines written ``Name:value`` (no space) are split at their colon instead. Any
    other section (a folded line, whitespace before a colon, a line without one, a
    name that is not a token) takes the careful path.
    """
    layout = _remember(names) if len(names) == len(fields) else None
    if layout is None:
        fields = [line.partition(":") for line in lines]
        names = tuple([name for name, colon, _ in fields if colon])
        layout = _remember(names) if len(names) == len(fields) else None
        if layout is None:
            return _careful_head(lines, max_line)
    return layout, fields


def _remember(names: tuple[str, ...]) -> _Layout | None:
    """The layout of the header names ``names`` (memoized), or None if one is not a token."""
    layout = _SHAPES.get(names)
    if layout is None:
        keys = [_learn_key(name) for name in names]
        if None in keys:
            return None
        layout = remember(_SHAPES, names, _layout(cast(list[str], keys)))
    return layout


_STATUS_CODES = {str(code): code for code in range(100, 700)}


#: Start lines read by the hot path -> how to build their message, memoized (bounded
#: as _SHAPES): a peer sends the requests of a dialog, often of every dialog, to the
#: same Request-URI, and nearly every response is a ``SIP/2.0 200 OK``.
_START_LINES: dict[str, tuple[Callable[..., Request | Response], object, str]] = {}


def _start_line(line: str, headers: Headers) -> Request | Response:
    """The message that ``line`` starts (§7.1, §7.2); the usual shapes take one split."""
    known = _START_LINES.get(line)
    if known is not None:
        build, first, second = known
        return build(first, second, headers)
    parts = line.split(" ", 2)
    if len(parts) == 3:
        a, b, c = parts
        if c == "SIP/2.0":
            if a in _KNOWN_METHODS and b and b[0] != "<":
                return _learn_start_line(line, (Request.parsed, a, b), headers)
        elif a == "SIP/2.0":
            code = _STATUS_CODES.get(b)
            if code is not None:
                return _learn_start_line(line, (Response.parsed, code, c), headers)
    if line[:4].upper() == "SIP/":
        return _parse_status_line(line, headers)
    return _parse_request_line(line, headers)


def _learn_start_line(
    line: str, known: tuple[Callable[..., Request | Response], object, str], headers: Headers
) -> Request | Response:
    remember_text(_START_LINES, line, known)
    build, first, second = known
    return build(first, second, headers)


def _learn_key(name: str) -> str | None:
    """The key of a header name, or None if it is not a token.

    None sends the whole header section down the careful path (a folded line,
    whitespace before the colon, an invalid name).
    """
    return canonical_key(name) if is_token(name) else None


def _careful_head(lines: list[str], max_line: int) -> tuple[_Layout, Lines]:
    keys: list[str] = []
    names: list[str] = []
    values: list[str] = []
    for line in lines:
        if not line:
            raise _bad("empty line inside the header section")
        if line[0] in " \t":
            # §7.3.1: a line starting with whitespace continues the previous one;
            # the fold (CRLF and leading whitespace) is replaced by one space.
            if not values:
                raise _bad("the first header line starts with whitespace")
            values[-1] = f"{values[-1]} {line.strip(_WS)}".strip(_WS)
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
        name = name.rstrip(_WS)
        if not is_token(name):
            raise _bad(f"invalid header name {name[:60]!r}: header names are tokens (§25.1)")
        keys.append(canonical_key(name))
        names.append(name)
        values.append(value.strip(_WS))
    return _layout(keys), [(name, ":", value) for name, value in zip(names, values, strict=True)]


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
    # SIP separates with SP only; str.split() would also eat Unicode spaces.
    parts = [part for part in line.split(" ") if part]
    if len(parts) != 3:
        if len(parts) > 3:
            raise _bad(
                f"request line {line[:80]!r} has whitespace inside the Request-URI; "
                "escape it (RFC 4475 lwsruri)"
            )
        raise _bad(f"malformed request line {line[:80]!r}; expected 'METHOD URI SIP/2.0'")
    method, target, version = parts
    if method not in _KNOWN_METHODS and not is_token(method):
        raise _bad(f"method {method[:40]!r} is not a token (§25.1)")
    if version != "SIP/2.0":
        m = _VERSION.match(version)
        if m is None:
            raise _bad(f"malformed SIP-Version {version[:20]!r} in the request line")
        if m.groups() != ("2", "0"):
            raise _bad(f"SIP version {version} is not supported; only SIP/2.0", 505)
    if target[0] == "<":
        raise _bad(f"Request-URI {target[:80]!r} must not be enclosed in '<>' (RFC 4475 ltgtruri)")
    return Request.parsed(method, target, headers)


_MANDATORY = ("From", "To", "Call-ID", "CSeq")


def _transaction_fields(
    message: Request | Response,
    fields: list[tuple[str, str, str]],
    layout: _Layout,
    views: dict[str, object],
) -> None:
    """Check and cache what every transaction reads (§8.1.1, §17.1.3, §17.2.3).

    This is the hot path of every received message, so it reads the header lines
    the parser just split, where ``layout`` says they are, and fills the typed-view
    cache in one go; the views built here are the same the message properties would
    build. The remaining headers are checked by :meth:`Message.validate`, which a UA
    runs before acting on a request.
    """
    vias_at = layout.vias
    mandatory = layout.mandatory
    if mandatory is not None:
        at_from, at_to, at_call_id, at_cseq = mandatory
        from_value = fields[at_from][2].strip(_WS)
        to_value = fields[at_to][2].strip(_WS)
        call_id = fields[at_call_id][2].strip(_WS)
        cseq_value = fields[at_cseq][2].strip(_WS)
    else:  # the careful way: refuse what is missing, compare repeated lines
        if not vias_at:
            raise _bad("missing mandatory header Via (RFC 3261 §8.1.1)")
        headers = message.headers
        from_value, to_value, call_id, cseq_value = [_single(headers, n) for n in _MANDATORY]
    top = fields[vias_at[0]][2].strip(_WS)
    count = len(vias_at)
    if count == 1:
        raw = [top]
    elif count == 2:  # behind one proxy
        raw = [top, fields[vias_at[1]][2].strip(_WS)]
    else:
        raw = [fields[at][2].strip(_WS) for at in vias_at]
    if "," in (top if count == 1 else "".join(raw)):  # comma-joined Vias (§7.3.1)
        vias = _build_vias(message.headers)
        top_via = vias[0]
    else:
        top_via = parse_via(top)
        vias = ViaList(raw, top_via)
    views["vias"] = vias
    views["top-via"] = top_via  # Message.top_via's own slot, read several times a message
    views["from"] = parse_name_addr(from_value, header="From")
    views["to"] = parse_name_addr(to_value, header="To")
    if not call_id or " " in call_id or "\t" in call_id:
        raise _bad(f"Call-ID: {call_id!r} must be a single word without whitespace (§20.8)")
    views["call-id"] = call_id
    cseq = views["cseq"] = parse_cseq(cseq_value)
    if isinstance(message, Request) and cseq.method != message.method:
        raise _bad(
            f"CSeq method {cseq.method} does not match the request method {message.method} "
            "(RFC 3261 §8.1.1.5, RFC 4475 mismatch01)"
        )
