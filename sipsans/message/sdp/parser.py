"""``parse_sdp``: a session description's bytes to a :class:`SessionDescription`.

Strict where meaning depends on it, lenient where real peers slip and nothing is lost
(RFC 8866 §5, read with the robustness of PJSIP's parser in mind). Every leniency is
marked ``Lenient:`` below. Anything else that does not follow the grammar raises
:class:`~sipsans.errors.RemoteProtocolError` (status hint 400) naming the line:
``SDP line 3: m= needs '<media> <port> <proto> <fmt> ...', got 'm=audio'``.

A body is bounded (``max_size`` bytes, ``max_lines`` lines) before any work is done,
and everything after that is linear in its size, so a hostile body costs little.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from sipsans.errors import LocalProtocolError, RemoteProtocolError

from .grammar import MAX_UINT64, check_text, is_uint, split_words
from .model import (
    MEDIA_LINE_TYPES,
    SESSION_LINE_TYPES,
    Attribute,
    Bandwidth,
    Connection,
    Media,
    Origin,
    SessionDescription,
    Timing,
)

__all__ = ["MAX_SDP_LINES", "MAX_SDP_SIZE", "parse_sdp"]

#: Largest body accepted, in bytes (a SIP body over UDP cannot be larger anyway).
MAX_SDP_SIZE = 65_535
#: Most lines accepted; a WebRTC offer with a dozen streams has a few hundred.
MAX_SDP_LINES = 4_096

_T = TypeVar("_T")
_LINE = re.compile(r"([a-z])=(.*)", re.DOTALL)
_PORT = re.compile(r"([0-9]{1,5})(?:/([0-9]{1,5}))?")


def _bad(number: int, message: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"SDP line {number}: {message}", status_hint=400)


def _shown(line: str) -> str:
    """A line quoted for an error message, cut to a readable length."""
    return repr(line if len(line) <= 80 else line[:77] + "...")


def _build(number: int, make: Callable[[], _T]) -> _T:
    """Build a model value; its checks become the peer's error, naming the line."""
    try:
        return make()
    except LocalProtocolError as exc:
        raise _bad(number, str(exc)) from None


@dataclass(kw_only=True)
class _SectionParts:
    """What the session and every media section both hold (RFC 8866 §5): ``i=``,
    ``b=``, ``k=`` and ``a=`` lines, and lines of a type it does not define."""

    information: str | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)

    def gather(self, number: int, letter: str, value: str, line: str, where: str) -> None:
        """Keep line *number*, an ``i=``, ``b=``, ``k=``, ``a=`` or unknown line of this
        section (*where* names it for errors: at most one ``i=`` and one ``k=``)."""
        if letter in "ik" and (self.information if letter == "i" else self.key) is not None:
            raise _bad(number, f"a second {letter}= line {where}")
        if letter == "i":
            self.information = value
        elif letter == "b":
            self.bandwidths.append(_bandwidth(number, line, value))
        elif letter == "k":
            self.key = value
        elif letter == "a":
            self.attributes.append(_attribute(number, value))
        else:
            # Lenient: RFC 8866 §5 says to ignore or reject a description with a line
            # type it does not define; PJSIP ignores such lines. We keep them (some
            # gateways put SSRCs in y=) and write them back at the end of their section.
            self.extra.append((letter, value))


@dataclass
class _MediaParts(_SectionParts):
    number: int  # of the m= line
    media: str
    port: int
    port_count: int | None
    proto: str
    formats: tuple[str, ...]
    connections: list[Connection] = field(default_factory=list)


@dataclass
class _TimeParts:
    start: int
    stop: int
    repeats: list[str] = field(default_factory=list)
    zone: str | None = None


@dataclass
class _SessionParts(_SectionParts):
    origin: Origin | None = None
    name: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    times: list[_TimeParts] = field(default_factory=list)
    media: list[_MediaParts] = field(default_factory=list)


def parse_sdp(
    data: bytes | str, *, max_size: int = MAX_SDP_SIZE, max_lines: int = MAX_SDP_LINES
) -> SessionDescription:
    """Parse a session description (RFC 8866 §5), an ``application/sdp`` body.

    Raises :class:`~sipsans.errors.RemoteProtocolError` for a malformed body (status
    hint 400, or 413 past ``max_size``), never another exception.
    """
    if isinstance(data, str):
        text = data
        size = len(text.encode("utf-8", "surrogatepass"))
    else:
        size = len(data)
        text = ""
    if size > max_size:
        raise RemoteProtocolError(
            f"SDP body of {size} bytes exceeds the limit of {max_size}", status_hint=413
        )
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            # Lenient: RFC 8866 text is UTF-8 unless a=charset says otherwise, but old
            # stacks write s= or i= in ISO 8859-1. Every byte is a Latin-1 character,
            # so such a body still parses (and is written back as UTF-8).
            text = bytes(data).decode("latin-1")
    if text.count("\n") + (not text.endswith("\n")) > max_lines:
        raise RemoteProtocolError(f"SDP body has more than {max_lines} lines", status_hint=413)
    if not text.strip(" \t\r\n"):
        raise RemoteProtocolError("SDP body is empty", status_hint=400)

    parts = _SessionParts()
    seen_version = False
    last = 0  # the last line that was not blank, for errors about the whole body
    for number, raw in enumerate(text.split("\n"), start=1):
        # Lenient: lines may end in LF alone (RFC 8866 §5 asks for CRLF but says a
        # parser SHOULD also accept LF), and trailing SP/HTAB is dropped (some stacks
        # pad lines). Blank lines (a body ending in an extra CRLF) are skipped.
        line = raw[:-1] if raw.endswith("\r") else raw
        line = line.rstrip(" \t")
        if not line:
            continue
        last = number
        if "\r" in line or "\x00" in line:
            raise _bad(number, f"bare CR or NUL inside the line: {_shown(line)}")
        match = _LINE.fullmatch(line)
        if match is None:
            raise _bad(number, f"expected '<type>=<value>', got {_shown(line)}")
        letter, value = match.groups()
        if not seen_version:
            if letter != "v":
                raise _bad(number, f"a session description starts with v=0, got {_shown(line)}")
            if value != "0":
                raise _bad(number, f"only SDP version 0 exists (RFC 8866 §5.1), got {_shown(line)}")
            seen_version = True
            continue
        if letter == "m":
            parts.media.append(_media_line(number, line, value))
        elif parts.media:
            _media_field(parts.media[-1], number, letter, value, line)
        else:
            _session_field(parts, number, letter, value, line)
    return _finish(parts, last)


#: Lines whose value is free text (RFC 8866 byte-string), checked as such.
_TEXT_LINES = frozenset("siuepkrz")


def _text(number: int, letter: str, value: str) -> bool:
    """Check a text line's value; False for an empty one, which the caller skips.

    Lenient: an empty optional line (``i=``, ``u=``, ``k=``...) says nothing and is
    ignored rather than refused. An unknown line type may be empty (it is kept).
    """
    known = letter in SESSION_LINE_TYPES
    if not value and known:
        return False
    _build(number, lambda: check_text(value, f"the value of {letter}=", empty_ok=not known))
    return True


def _session_field(parts: _SessionParts, number: int, letter: str, value: str, line: str) -> None:
    if letter == "v":
        raise _bad(number, "a second v= line")
    if letter == "s" and not value:
        # Lenient: an empty s= (the RFC asks for "s= " or "s=-") reads as the blank
        # name "s= ", which is also what dropping trailing whitespace made of "s= ".
        value = " "
    elif (letter in _TEXT_LINES or letter not in SESSION_LINE_TYPES) and not _text(
        number, letter, value
    ):
        return
    if letter in "osuc" and _already(parts, letter):
        raise _bad(number, f"a second {letter}= line in the session section")
    if letter == "o":
        parts.origin = _origin(number, line, value)
    elif letter == "s":
        parts.name = value
    elif letter == "u":
        parts.uri = value
    elif letter == "e":
        parts.emails.append(value)
    elif letter == "p":
        parts.phones.append(value)
    elif letter == "c":
        parts.connection = _connection(number, line, value)
    elif letter == "t":
        parts.times.append(_timing(number, line, value))
    elif letter in "rz":
        if not parts.times:
            raise _bad(number, f"{letter}= before any t= line")
        time = parts.times[-1]
        if letter == "r":
            time.repeats.append(value)
        elif time.zone is not None:
            raise _bad(number, "a second z= line")
        else:
            # RFC 8866 §9 puts z= after the r= lines of its time description, RFC 4566
            # after all of them. Lenient: either way it belongs to the last t= line.
            time.zone = value
    else:
        parts.gather(number, letter, value, line, "in the session section")


def _already(parts: _SessionParts, letter: str) -> bool:
    present = {"o": parts.origin, "s": parts.name, "u": parts.uri, "c": parts.connection}
    return present[letter] is not None


def _media_field(media: _MediaParts, number: int, letter: str, value: str, line: str) -> None:
    if letter in SESSION_LINE_TYPES and letter not in MEDIA_LINE_TYPES:
        raise _bad(
            number,
            f"{letter}= belongs to the session section, not to the media section"
            f" of line {media.number}",
        )
    if (letter in "ik" or letter not in SESSION_LINE_TYPES) and not _text(number, letter, value):
        return
    if letter == "c":
        # Several c= in one media section are legal (layered multicast, §5.7).
        media.connections.append(_connection(number, line, value))
    else:
        # Lenient, as at session level: an unknown line type is kept in its section.
        media.gather(number, letter, value, line, "in a media section")


def _origin(number: int, line: str, value: str) -> Origin:
    words = split_words(value)
    if len(words) != 6 or not is_uint(words[1]) or not is_uint(words[2]):
        raise _bad(
            number,
            "o= needs '<username> <sess-id> <sess-version> <nettype> <addrtype>"
            f" <unicast-address>' (numbers for the id and version), got {_shown(line)}",
        )
    username, session_id, version, net_type, address_type, address = words
    return _build(
        number,
        lambda: Origin(username, int(session_id), int(version), address, net_type, address_type),
    )


def _connection(number: int, line: str, value: str) -> Connection:
    words = split_words(value)
    if len(words) != 3:
        raise _bad(
            number, f"c= needs '<nettype> <addrtype> <connection-address>', got {_shown(line)}"
        )
    net_type, address_type, address = words
    return _build(number, lambda: Connection(address, net_type, address_type))


def _bandwidth(number: int, line: str, value: str) -> Bandwidth:
    # Lenient: whitespace around the colon and the number (b=AS: 64).
    kind, colon, amount = value.partition(":")
    kind, amount = kind.strip(" \t"), amount.strip(" \t")
    if not colon or not is_uint(amount) or int(amount) > MAX_UINT64:
        raise _bad(number, f"b= needs '<bwtype>:<bandwidth>', got {_shown(line)}")
    return _build(number, lambda: Bandwidth(kind, int(amount)))


def _timing(number: int, line: str, value: str) -> _TimeParts:
    words = split_words(value)
    if len(words) != 2 or not all(is_uint(word) and int(word) <= MAX_UINT64 for word in words):
        raise _bad(number, f"t= needs '<start-time> <stop-time>', got {_shown(line)}")
    return _TimeParts(int(words[0]), int(words[1]))


def _attribute(number: int, value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    return _build(number, lambda: Attribute(name, rest if colon else None))


def _media_line(number: int, line: str, value: str) -> _MediaParts:
    words = split_words(value)
    port = _PORT.fullmatch(words[1]) if len(words) >= 3 else None
    # Lenient: a disabled stream (port 0) without formats, which some stacks send
    # when they refuse a stream, although §5.14 asks for at least one.
    if port is None or (len(words) == 3 and port.group(1).strip("0")):
        raise _bad(number, f"m= needs '<media> <port> <proto> <fmt> ...', got {_shown(line)}")
    media, _, proto, *formats = words
    number_of_ports = int(port.group(2)) if port.group(2) else None
    parts = _MediaParts(number, media, int(port.group(1)), number_of_ports, proto, tuple(formats))
    _build(number, lambda: _media_from(parts))  # check the m= line itself now
    return parts


def _media_from(parts: _MediaParts) -> Media:
    return Media(
        parts.media,
        parts.port,
        parts.proto,
        parts.formats,
        parts.port_count,
        parts.information,
        tuple(parts.connections),
        tuple(parts.bandwidths),
        parts.key,
        tuple(parts.attributes),
        tuple(parts.extra),
    )


def _finish(parts: _SessionParts, last: int) -> SessionDescription:
    if parts.origin is None:
        raise _bad(last, "the description has no o= line (RFC 8866 §5.2)")
    media: list[Media] = []
    for section in parts.media:
        if section.port != 0 and not section.connections and parts.connection is None:
            raise _bad(
                section.number,
                f"m={section.media} has no c= line and the session has none (RFC 8866 §5.7)",
            )
        media.append(_build(section.number, partial(_media_from, section)))
    origin = parts.origin
    # Every value was checked on its own line; what is left cannot fail.
    times = tuple(Timing(t.start, t.stop, tuple(t.repeats), t.zone) for t in parts.times)
    return _build(
        last,
        lambda: SessionDescription(
            origin,
            # Lenient: a missing s= reads as "-" and a missing t= as "t=0 0" (the only
            # value SIP uses), rather than refusing a call over them.
            parts.name if parts.name is not None else "-",
            parts.information,
            parts.uri,
            tuple(parts.emails),
            tuple(parts.phones),
            parts.connection,
            tuple(parts.bandwidths),
            times or (Timing(),),
            parts.key,
            tuple(parts.attributes),
            tuple(media),
            tuple(parts.extra),
        ),
    )
