"""RTP payload formats as SDP names them.

* :class:`Codec`: one payload format, what ``a=rtpmap`` says (RFC 8866 §6.6) plus its
  ``a=fmtp`` (§6.15) and payload type.
* The static payload types of RFC 3551 §6 (Tables 4 and 5), which a peer may list
  without an ``a=rtpmap``: ``m=audio 4000 RTP/AVP 0 8`` means PCMU and PCMA.
* ``parse_rtpmap`` for the attribute's value, and the event lists of
  ``telephone-event`` (RFC 4733 §2.4.1) that offer/answer intersects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipsans.errors import LocalProtocolError

from .grammar import check_text, check_token, check_uint

__all__ = [
    "AUXILIARY_ENCODINGS",
    "STATIC_PAYLOAD_TYPES",
    "Codec",
    "format_events",
    "parse_events",
    "parse_rtpmap",
    "static_payload_type",
]

#: Clock rates and channel counts are small numbers; a bound keeps ``int()`` cheap.
_MAX_CLOCK_RATE = 10**9
_MAX_CHANNELS = 255


@dataclass(frozen=True, slots=True)
class Codec:
    """One RTP payload format: encoding name, clock rate, channels, fmtp, payload type.

    In a parsed description the payload type is always set. In
    :class:`~sipsans.message.sdp.offer_answer.Capabilities` it may be None, and
    ``make_offer`` picks one (the RFC 3551 static type, else a dynamic one).
    Encoding names compare case-insensitively (RFC 4855 §3: media subtype names are
    case-insensitive), see :meth:`matches`.
    """

    encoding: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None
    payload_type: int | None = None

    def __post_init__(self) -> None:
        check_token(self.encoding, "a codec's encoding name")
        if "/" in self.encoding:  # a token may hold '/', but rtpmap uses it as separator
            raise LocalProtocolError(f"an encoding name cannot contain '/': {self.encoding!r}")
        check_uint(self.clock_rate, "a codec's clock rate", low=1, high=_MAX_CLOCK_RATE)
        check_uint(self.channels, "a codec's channel count", low=1, high=_MAX_CHANNELS)
        if self.fmtp is not None:
            check_text(self.fmtp, "a codec's fmtp parameters", empty_ok=True)
        if self.payload_type is not None:
            check_uint(self.payload_type, "an RTP payload type", high=127)

    @property
    def rtpmap(self) -> str:
        """``<encoding name>/<clock rate>[/<channels>]``; one channel is the default and
        is not written (RFC 8866 §6.6)."""
        if self.channels == 1:
            return f"{self.encoding}/{self.clock_rate}"
        return f"{self.encoding}/{self.clock_rate}/{self.channels}"

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies the format across payload numbers: (lower-case name, rate, channels)."""
        return (self.encoding.lower(), self.clock_rate, self.channels)

    def matches(self, other: Codec) -> bool:
        """Same encoding (case-insensitive), clock rate and channel count."""
        return self.key == other.key

    @classmethod
    def from_name(cls, name: str) -> Codec:
        """A codec from ``"PCMU"``, ``"telephone-event"``, ``"opus/48000/2"``, ...

        A bare name takes its clock rate (and static payload type, and for
        telephone-event the events ``0-16``) from the table of well-known formats;
        any other codec is written ``name/rate[/channels]``.
        """
        if not isinstance(name, str):
            raise LocalProtocolError(f"a codec name must be a string, got {name!r}")
        encoding, _, rest = name.partition("/")
        if not rest:
            known = _WELL_KNOWN.get(encoding.lower())
            if known is None:
                raise LocalProtocolError(
                    f"unknown codec {name!r}: write it as 'NAME/CLOCK_RATE[/CHANNELS]'"
                )
            return known
        rate, _, channels = rest.partition("/")
        if not _NUMBER.fullmatch(rate) or (channels and not _NUMBER.fullmatch(channels)):
            raise LocalProtocolError(f"a codec is 'NAME/CLOCK_RATE[/CHANNELS]', got {name!r}")
        codec = cls(encoding, int(rate), int(channels) if channels else 1)
        static = _STATIC_BY_KEY.get(codec.key)
        fmtp = _DEFAULT_FMTP.get(codec.encoding.lower())
        return cls(codec.encoding, codec.clock_rate, codec.channels, fmtp, static)


_NUMBER = re.compile(r"[0-9]{1,10}")

#: RFC 3551 §6, Table 4 (audio) and Table 5 (video): payload type -> format. Types 1
#: and 2 are reserved (FS-1016 and G721 were withdrawn), 19 to 24 and 27, 29, 30 too.
STATIC_PAYLOAD_TYPES: dict[int, Codec] = {
    pt: Codec(name, rate, channels, None, pt)
    for pt, name, rate, channels in (
        (0, "PCMU", 8000, 1),
        (3, "GSM", 8000, 1),
        (4, "G723", 8000, 1),
        (5, "DVI4", 8000, 1),
        (6, "DVI4", 16000, 1),
        (7, "LPC", 8000, 1),
        (8, "PCMA", 8000, 1),
        (9, "G722", 8000, 1),  # 16 kHz audio, but 8000 by RFC 3551's historical error
        (10, "L16", 44100, 2),
        (11, "L16", 44100, 1),
        (12, "QCELP", 8000, 1),
        (13, "CN", 8000, 1),
        (14, "MPA", 90000, 1),
        (15, "G728", 8000, 1),
        (16, "DVI4", 11025, 1),
        (17, "DVI4", 22050, 1),
        (18, "G729", 8000, 1),
        (25, "CelB", 90000, 1),
        (26, "JPEG", 90000, 1),
        (28, "nv", 90000, 1),
        (31, "H261", 90000, 1),
        (32, "MPV", 90000, 1),
        (33, "MP2T", 90000, 1),
        (34, "H263", 90000, 1),
    )
}
_STATIC_BY_KEY: dict[tuple[str, int, int], int] = {}
for _pt, _codec in STATIC_PAYLOAD_TYPES.items():
    _STATIC_BY_KEY.setdefault(_codec.key, _pt)


def static_payload_type(codec: Codec) -> int | None:
    """The RFC 3551 static payload type of ``codec`` (by name, rate, channels), if any."""
    return _STATIC_BY_KEY.get(codec.key)


#: Formats that only make sense beside a real codec: DTMF events (RFC 4733) and
#: comfort noise (RFC 3389). A stream whose only common format is one of these is
#: refused, as PJSIP's negotiator does.
AUXILIARY_ENCODINGS = frozenset({"telephone-event", "cn"})

#: RFC 4733 §2.4.1: DTMF 0-15; PJSIP and most PBXes also offer 16 (flash).
_DEFAULT_FMTP = {"telephone-event": "0-16"}

# Bare names for Codec.from_name: the static types (the first of a name wins, so
# "DVI4" is 8 kHz) and common dynamic formats at their usual rates.
_WELL_KNOWN: dict[str, Codec] = {}
for _codec in STATIC_PAYLOAD_TYPES.values():
    _WELL_KNOWN.setdefault(_codec.encoding.lower(), _codec)
del _WELL_KNOWN["l16"]  # 44.1 kHz mono or stereo: ambiguous, write it out
for _name, _rate, _channels in (
    ("telephone-event", 8000, 1),
    ("opus", 48000, 2),  # RFC 7587 §7: always opus/48000/2
    ("iLBC", 8000, 1),
    ("G726-32", 8000, 1),
    ("AMR", 8000, 1),
    ("AMR-WB", 16000, 1),
    ("speex", 8000, 1),
    ("H264", 90000, 1),
    ("VP8", 90000, 1),
    ("VP9", 90000, 1),
):
    _WELL_KNOWN[_name.lower()] = Codec(_name, _rate, _channels, _DEFAULT_FMTP.get(_name.lower()))

# a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
_RTPMAP = re.compile(r"([0-9]{1,3})[ \t]+([^/ \t]+)/([0-9]{1,10})(?:/([0-9]{1,3}))?")


def parse_rtpmap(value: str) -> Codec:
    """The codec an ``a=rtpmap`` value describes (RFC 8866 §6.6); LocalProtocolError
    when it is malformed (the parser reports it as the peer's error, naming the line).

    Leniencies: whitespace before the payload type (``a=rtpmap: 0 PCMU/8000``) and
    SP or HTAB runs between the fields, both seen from real stacks.
    """
    match = _RTPMAP.fullmatch(value.lstrip(" \t"))
    if match is None:
        raise LocalProtocolError(
            "a=rtpmap needs '<payload type> <encoding name>/<clock rate>[/<channels>]',"
            f" got {value!r}"
        )
    pt, encoding, rate, channels = match.groups()
    return Codec(encoding, int(rate), int(channels) if channels else 1, None, int(pt))


# RFC 4733 §2.4.1: events = 1#(event / event "-" event), each 0-255.
_EVENT_RANGE = re.compile(r"([0-9]{1,3})(?:-([0-9]{1,3}))?")
#: Without an fmtp, a telephone-event receiver supports the DTMF events 0-15.
_DTMF_EVENTS = frozenset(range(16))


def parse_events(fmtp: str | None) -> frozenset[int]:
    """The event numbers of a telephone-event fmtp (``"0-15,66,70"``).

    None (no fmtp) means 0-15 (RFC 4733 §2.4.1). Lenient: a list we cannot read
    also counts as 0-15 rather than costing the call its DTMF; spaces are ignored.
    """
    if fmtp is None:
        return _DTMF_EVENTS
    events: set[int] = set()
    for part in fmtp.replace(" ", "").replace("\t", "").split(","):
        match = _EVENT_RANGE.fullmatch(part)
        if match is None:
            return _DTMF_EVENTS
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if not first <= last <= 255:
            return _DTMF_EVENTS
        events.update(range(first, last + 1))
    return frozenset(events)


def format_events(events: frozenset[int]) -> str:
    """``{0, 1, ..., 15, 16, 66}`` -> ``"0-16,66"``: runs of consecutive events as ranges."""
    parts: list[str] = []
    ordered = sorted(events)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = ordered[start], ordered[end]
        parts.append(str(first) if first == last else f"{first}-{last}")
        start = end + 1
    return ",".join(parts)
