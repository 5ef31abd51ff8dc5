"""The SDP model (RFC 8866): immutable values that ``bytes()`` writes as a description.

Every class is a frozen dataclass holding tuples, so a description can be shared,
compared and hashed; ``replace()`` makes a changed copy. Each constructor checks its
fields (``LocalProtocolError`` names the field), so that whatever a model holds,
``bytes(sd)`` writes lines that :func:`~sipsans.message.sdp.parser.parse_sdp` reads back
to an equal model.

Attributes and lines the model does not interpret are kept as written: ``a=`` lines as
:class:`Attribute` (name and value, in order), and lines of a type SDP does not define
(``y=``, ``f=`` of some gateways) as ``extra_lines``, written back after the attributes
of their section. Views such as :attr:`Media.codecs`, :attr:`Media.direction` or
:attr:`Media.ptime` read the attributes on demand and never raise.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Self, cast

from sipsans.errors import LocalProtocolError

from .codecs import STATIC_PAYLOAD_TYPES, Codec, parse_rtpmap
from .grammar import (
    check_proto,
    check_text,
    check_token,
    check_uint,
    check_word,
    is_uint,
    split_words,
)

__all__ = [
    "Attribute",
    "Bandwidth",
    "Connection",
    "Direction",
    "Media",
    "Origin",
    "SessionDescription",
    "Timing",
]


class Direction(enum.StrEnum):
    """The direction attributes of RFC 8866 §6.7 (sendrecv is the default)."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def of(cls, *, sends: bool, receives: bool) -> Direction:
        """The direction that sends and/or receives."""
        if sends:
            return cls.SENDRECV if receives else cls.SENDONLY
        return cls.RECVONLY if receives else cls.INACTIVE

    def mirrored(self) -> Direction:
        """The direction the other side sees: sendonly <-> recvonly (RFC 3264 §6.1)."""
        return Direction.of(sends=self.receives, receives=self.sends)

    def __and__(self, other: object) -> Direction:
        """What both allow: ``SENDRECV & RECVONLY`` is ``RECVONLY``."""
        if not isinstance(other, Direction):
            return NotImplemented
        return Direction.of(
            sends=self.sends and other.sends, receives=self.receives and other.receives
        )


_DIRECTIONS = {d.value: d for d in Direction}


def _check_tuple(value: object, kind: type, what: str) -> None:
    if not isinstance(value, tuple) or not all(isinstance(item, kind) for item in value):
        raise LocalProtocolError(f"{what} must be a tuple of {kind.__name__}, got {value!r}")


def _check_optional_text(value: object, what: str) -> None:
    if value is not None:
        check_text(value, what)


#: Line types RFC 8866 defines; anything else read from a peer is an extra line.
SESSION_LINE_TYPES = frozenset("vosiuepcbtrzkam")
#: Of those, the ones a media section may hold (§5: m=, then i=, c=, b=, k=, a=).
MEDIA_LINE_TYPES = frozenset("icbka")


def _check_extra_lines(value: object) -> None:
    if not isinstance(value, tuple):
        raise LocalProtocolError(f"extra_lines must be a tuple, got {value!r}")
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise LocalProtocolError(f"an extra line is a (type, value) pair, got {item!r}")
        letter, text = item
        if len(letter) != 1 or not "a" <= letter <= "z" or letter in SESSION_LINE_TYPES:
            raise LocalProtocolError(
                f"an extra line's type must be a letter SDP does not define, got {letter!r}"
            )
        check_text(text, f"the value of an extra {letter}= line", empty_ok=True)


class _Replace:
    """``replace(**changes)``: a copy with some fields changed (checked again)."""

    __slots__ = ()

    def replace(self, **changes: Any) -> Self:
        return cast(Self, dataclasses.replace(cast(Any, self), **changes))


def _typed_lines(*runs: tuple[str, object]) -> Iterator[str]:
    """``<type>=<value>`` lines (RFC 8866 §5) for ``(type, value)`` runs, in order: a
    tuple gives a line per item, None no line, any other value one line."""
    for letter, value in runs:
        if isinstance(value, tuple):
            yield from (f"{letter}={item}" for item in value)
        elif value is not None:
            yield f"{letter}={value}"


def _check_address(where: Origin | Connection, line: str) -> None:
    """Check the ``<nettype> <addrtype> <address>`` that ends both o= and c= lines
    (RFC 8866 §5.2, §5.7)."""
    check_token(where.net_type, f"{line} network type")
    check_token(where.address_type, f"{line} address type")
    check_word(where.address, f"{line} address")


@dataclass(frozen=True, slots=True)
class Origin(_Replace):
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>``
    (RFC 8866 §5.2). RFC 3264 §5 keeps the id and version within 64 bits. The address
    comes before the network and address types here so that those can default to
    ``IN IP4``."""

    username: str
    session_id: int
    session_version: int
    address: str
    net_type: str = "IN"
    address_type: str = "IP4"

    def __post_init__(self) -> None:
        check_word(self.username, "o= username")
        check_uint(self.session_id, "o= session id")
        check_uint(self.session_version, "o= session version")
        _check_address(self, "o=")

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version}"
            f" {self.net_type} {self.address_type} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection(_Replace):
    """``c=<nettype> <addrtype> <connection-address>`` (RFC 8866 §5.7). A multicast
    address keeps its ``/ttl/count`` suffix as written."""

    address: str
    net_type: str = "IN"
    address_type: str = "IP4"

    def __post_init__(self) -> None:
        _check_address(self, "c=")

    @classmethod
    def for_host(cls, host: str) -> Connection:
        """``IN IP6`` when ``host`` is an IPv6 address (it holds a colon), else ``IN IP4``."""
        return cls(host, "IN", "IP6" if ":" in host else "IP4")

    def __str__(self) -> str:
        return f"{self.net_type} {self.address_type} {self.address}"


@dataclass(frozen=True, slots=True)
class Bandwidth(_Replace):
    """``b=<bwtype>:<bandwidth>`` (RFC 8866 §5.8): ``AS`` and ``CT`` in kbit/s, ``TIAS``
    (RFC 3890) in bit/s; other types are kept as written."""

    type: str
    value: int

    def __post_init__(self) -> None:
        check_token(self.type, "b= bandwidth type")
        check_uint(self.value, "b= bandwidth")

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(frozen=True, slots=True)
class Timing(_Replace):
    """A time description (RFC 8866 §5.9-5.11): ``t=<start> <stop>``, its ``r=`` lines
    and its ``z=`` line, the last two kept as text. ``t=0 0`` (the default) is a session
    not bounded in time, which is what SIP uses."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()
    zone: str | None = None

    def __post_init__(self) -> None:
        check_uint(self.start, "t= start time")
        check_uint(self.stop, "t= stop time")
        _check_tuple(self.repeats, str, "r= lines")
        for repeat in self.repeats:
            check_text(repeat, "an r= line")
        _check_optional_text(self.zone, "z= line")


@dataclass(frozen=True, slots=True)
class Attribute(_Replace):
    """``a=<name>`` (a property, ``value`` None) or ``a=<name>:<value>`` (RFC 8866 §5.13).

    ``a=rtpmap`` and ``a=fmtp`` are checked against their grammar (§6.6, §6.15), since
    offer/answer depends on them; other attributes are free text.
    """

    name: str
    value: str | None = None

    def __post_init__(self) -> None:
        check_token(self.name, "an attribute name")
        if self.value is not None:
            check_text(self.value, f"the value of a={self.name}", empty_ok=True)
        key = self.name.lower()
        if key == "rtpmap":
            parse_rtpmap(self.value or "")
        elif key == "fmtp" and _fmtp_parts(self.value) is None:
            raise LocalProtocolError(f"a=fmtp needs '<format> <parameters>', got {self.value!r}")

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


# a=fmtp:<format> <format specific parameters>; lenient: whitespace before the format,
# and a missing parameter list (``a=fmtp:101``) reads as empty.
_FMTP = re.compile(r"[ \t]*([^ \t]+)(?:[ \t]+(.*))?", re.DOTALL)


def _fmtp_parts(value: str | None) -> tuple[str, str] | None:
    """``(format, parameters)`` of an fmtp value, None when it has no format."""
    match = _FMTP.fullmatch(value) if value is not None else None
    if match is None:
        return None
    return match.group(1), match.group(2) or ""


def _direction_in(attributes: tuple[Attribute, ...]) -> Direction | None:
    # Two direction attributes in one section contradict each other; the first wins.
    for attribute in attributes:
        direction = _DIRECTIONS.get(attribute.name.lower())
        if direction is not None:
            return direction
    return None


@dataclass(frozen=True, slots=True)
class Media(_Replace):
    """A media section: ``m=<media> <port>[/<count>] <proto> <fmt> ...`` and its
    ``i=``, ``c=``, ``b=``, ``k=`` and ``a=`` lines (RFC 8866 §5.14).

    A port of 0 is a disabled stream (RFC 3264 §5.1, §6). A disabled stream may have
    no format: some stacks refuse a stream with ``m=video 0 RTP/AVP``, and the parser
    accepts that; every other m= line has at least one format, as §5.14 requires.
    """

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    information: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    extra_lines: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_token(self.media, "m= media type")
        check_uint(self.port, "m= port", high=65535)
        if self.port_count is not None:
            check_uint(self.port_count, "m= number of ports", low=1, high=65535)
        check_proto(self.proto, "m= proto")
        _check_tuple(self.formats, str, "m= formats")
        for fmt in self.formats:
            check_token(fmt, "an m= format")
        if not self.formats and self.port != 0:
            raise LocalProtocolError(f"m={self.media} needs at least one format (RFC 8866 §5.14)")
        _check_optional_text(self.information, "i= line")
        _check_tuple(self.connections, Connection, "media c= lines")
        _check_tuple(self.bandwidths, Bandwidth, "media b= lines")
        _check_optional_text(self.key, "k= line")
        _check_tuple(self.attributes, Attribute, "media attributes")
        _check_extra_lines(self.extra_lines)

    # -- views -------------------------------------------------------------------

    @property
    def is_rtp(self) -> bool:
        """True for RTP profiles (``RTP/AVP``, ``RTP/SAVPF``, ``UDP/TLS/RTP/SAVPF``...),
        whose formats are payload type numbers."""
        return "RTP" in self.proto.upper().split("/")

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=<name>`` (case-insensitive); ``""`` for a
        property attribute, None when there is none."""
        key = name.lower()
        for attribute in self.attributes:
            if attribute.name.lower() == key:
                return "" if attribute.value is None else attribute.value
        return None

    @property
    def direction(self) -> Direction | None:
        """This section's own direction attribute, None when it has none (the session's
        or sendrecv then applies: :meth:`SessionDescription.direction_of`)."""
        return _direction_in(self.attributes)

    @property
    def codecs(self) -> tuple[Codec, ...]:
        """The RTP payload formats in the order of the m= line, each from its
        ``a=rtpmap`` (the first one for a payload type wins) or, without one, from the
        static types of RFC 3551, with its ``a=fmtp``. Formats that are neither (a
        dynamic type without rtpmap, a non-number) are left out; so is everything of
        a stream that is not RTP."""
        if not self.is_rtp:
            return ()
        rtpmaps: dict[int, Codec] = {}
        fmtps: dict[str, str] = {}
        for attribute in self.attributes:
            key = attribute.name.lower()
            if key == "rtpmap":
                codec = parse_rtpmap(attribute.value or "")  # checked in Attribute
                assert codec.payload_type is not None
                rtpmaps.setdefault(codec.payload_type, codec)
            elif key == "fmtp":
                parts = _fmtp_parts(attribute.value)
                if parts is not None:
                    fmtps.setdefault(parts[0], parts[1])
        found: list[Codec] = []
        seen: set[int] = set()
        for fmt in self.formats:
            # A payload type is written in decimal, "8" and not "08" (the answer must
            # repeat the offer's format as written, and compares formats as text).
            if not is_uint(fmt) or str(int(fmt)) != fmt or int(fmt) > 127 or int(fmt) in seen:
                continue
            pt = int(fmt)
            seen.add(pt)
            mapped = rtpmaps.get(pt) or STATIC_PAYLOAD_TYPES.get(pt)
            if mapped is not None:
                found.append(dataclasses.replace(mapped, fmtp=fmtps.get(fmt), payload_type=pt))
        return tuple(found)

    def fmtp(self, fmt: str | int) -> str | None:
        """The parameters of the first ``a=fmtp`` for format ``fmt``."""
        wanted = str(fmt)
        for attribute in self.attributes:
            if attribute.name.lower() == "fmtp":
                parts = _fmtp_parts(attribute.value)
                if parts is not None and parts[0] == wanted:
                    return parts[1]
        return None

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in milliseconds (RFC 8866 §6.4); None when absent or not a whole
        number (lenient: ``20.0`` reads as 20)."""
        value = self.attribute("ptime")
        if value is None:
            return None
        whole, _, fraction = value.strip(" \t").partition(".")
        if not is_uint(whole) or (fraction and fraction.strip("0")) or len(whole) > 6:
            return None
        return int(whole)

    @property
    def mid(self) -> str | None:
        """``a=mid`` (RFC 5888 §4), the stream's identification tag."""
        return self.attribute("mid")

    @property
    def rtcp_port(self) -> int | None:
        """The port of ``a=rtcp`` (RFC 3605), None when absent or unreadable."""
        value = self.attribute("rtcp")
        words = split_words(value) if value else []
        if not words or not is_uint(words[0]) or int(words[0]) > 65535:
            return None
        return int(words[0])

    # -- changed copies ----------------------------------------------------------

    def with_direction(self, direction: Direction) -> Media:
        """A copy whose only direction attribute is ``direction`` (at the place of the
        first one it had, else last)."""
        kept: list[Attribute] = []
        placed = False
        for attribute in self.attributes:
            if attribute.name.lower() in _DIRECTIONS:
                if not placed:
                    kept.append(Attribute(direction.value))
                    placed = True
            else:
                kept.append(attribute)
        if not placed:
            kept.append(Attribute(direction.value))
        return dataclasses.replace(self, attributes=tuple(kept))

    def lines(self) -> list[str]:
        """The section's lines in RFC 8866 §5 order, without line ends."""
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        lines = [" ".join([f"m={self.media}", port, self.proto, *self.formats])]
        lines.extend(
            _typed_lines(
                ("i", self.information),
                ("c", self.connections),
                ("b", self.bandwidths),
                ("k", self.key),
                ("a", self.attributes),
                *self.extra_lines,
            )
        )
        return lines


@dataclass(frozen=True, slots=True)
class SessionDescription(_Replace):
    """A whole session description (RFC 8866 §5); ``bytes(sd)`` is its wire form.

    ``v=0`` is implied. Every active media section (port not 0) needs a connection
    address, its own ``c=`` or the session's (§5.7). Build one by hand, with
    :func:`~sipsans.message.sdp.parser.parse_sdp`, or with ``make_offer`` /
    ``make_answer``.
    """

    origin: Origin
    session_name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    times: tuple[Timing, ...] = (Timing(),)
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[Media, ...] = ()
    extra_lines: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, Origin):
            raise LocalProtocolError(f"origin must be an Origin, got {self.origin!r}")
        # RFC 8866 §5.3 recommends "s= " (a single space) for a session without a name.
        if self.session_name != " ":
            check_text(self.session_name, "s= session name")
        _check_optional_text(self.information, "i= line")
        _check_optional_text(self.uri, "u= line")
        _check_tuple(self.emails, str, "e= lines")
        for email in self.emails:
            check_text(email, "an e= line")
        _check_tuple(self.phones, str, "p= lines")
        for phone in self.phones:
            check_text(phone, "a p= line")
        if self.connection is not None and not isinstance(self.connection, Connection):
            raise LocalProtocolError(f"connection must be a Connection, got {self.connection!r}")
        _check_tuple(self.bandwidths, Bandwidth, "session b= lines")
        _check_tuple(self.times, Timing, "time descriptions")
        if not self.times:
            raise LocalProtocolError("a session description needs a t= line (RFC 8866 §5.9)")
        _check_optional_text(self.key, "k= line")
        _check_tuple(self.attributes, Attribute, "session attributes")
        _check_tuple(self.media, Media, "media sections")
        _check_extra_lines(self.extra_lines)
        if self.connection is None:
            for index, media in enumerate(self.media):
                if media.port != 0 and not media.connections:
                    raise LocalProtocolError(
                        f"m={media.media} (media section {index + 1}) has no c= line and"
                        " the session has none (RFC 8866 §5.7)"
                    )

    # -- views -------------------------------------------------------------------

    @property
    def session_id(self) -> int:
        return self.origin.session_id

    @property
    def version(self) -> int:
        """The o= session version, which RFC 3264 §8 increments on every change."""
        return self.origin.session_version

    @property
    def direction(self) -> Direction | None:
        """The session-level direction attribute, None when there is none."""
        return _direction_in(self.attributes)

    def attribute(self, name: str) -> str | None:
        """The value of the first session-level ``a=<name>`` (see :meth:`Media.attribute`)."""
        key = name.lower()
        for attribute in self.attributes:
            if attribute.name.lower() == key:
                return "" if attribute.value is None else attribute.value
        return None

    def direction_of(self, media: Media) -> Direction:
        """The direction of a stream: its own attribute, else the session's, else
        sendrecv (RFC 8866 §6.7: a media-level attribute overrides the session's)."""
        return media.direction or self.direction or Direction.SENDRECV

    def connection_of(self, media: Media) -> Connection | None:
        """The address of a stream: its first ``c=``, else the session's (§5.7)."""
        return media.connections[0] if media.connections else self.connection

    def with_version(self, version: int) -> SessionDescription:
        """A copy whose o= carries ``version``."""
        return dataclasses.replace(
            self, origin=dataclasses.replace(self.origin, session_version=version)
        )

    # -- wire form ---------------------------------------------------------------

    def lines(self) -> list[str]:
        """The description's lines in RFC 8866 §5 order, without line ends."""
        lines = list(
            _typed_lines(
                ("v", 0),
                ("o", self.origin),
                ("s", self.session_name),
                ("i", self.information),
                ("u", self.uri),
                ("e", self.emails),
                ("p", self.phones),
                ("c", self.connection),
                ("b", self.bandwidths),
            )
        )
        for timing in self.times:
            time = f"{timing.start} {timing.stop}"
            lines.extend(_typed_lines(("t", time), ("r", timing.repeats), ("z", timing.zone)))
        lines.extend(_typed_lines(("k", self.key), ("a", self.attributes), *self.extra_lines))
        for media in self.media:
            lines.extend(media.lines())
        return lines

    def __str__(self) -> str:
        return "".join(line + "\r\n" for line in self.lines())

    def __bytes__(self) -> bytes:
        """The wire form: UTF-8, every line ended by CRLF (RFC 8866 §5)."""
        return str(self).encode("utf-8")
