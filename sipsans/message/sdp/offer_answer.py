"""The offer/answer model of RFC 3264 over the SDP model, as pure functions.

:class:`Capabilities` says what the local side can do: an address, and per stream a
media type, port, transport and codecs. From it:

* :func:`make_offer` writes an offer (§5), or a new offer in an existing session (§8)
  when given the previous description;
* :func:`make_answer` answers a peer's offer (§6): one m= line per offered one, in the
  same order; each stream takes the codecs both sides have, in the offerer's order and
  with its payload numbers, and the mirrored direction; a stream nothing matches gets
  port 0;
* :func:`hold` and :func:`resume` turn a description into the offer that puts its
  streams on hold (§8.4) and the one that takes them off.

The o= line follows §5 and §8: a new session id (from the injected ``rng``), and in a
later description of the same session the same id with the version incremented only
when something else changed. The reference behaviour for what the RFC leaves open is
PJSIP's negotiator (``pjmedia/sdp_neg.c``); the differences are noted where they are.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sipsans.errors import LocalProtocolError, RemoteProtocolError

from .codecs import (
    AUXILIARY_ENCODINGS,
    Codec,
    format_events,
    parse_events,
    static_payload_type,
)
from .grammar import check_proto, check_text, check_token, check_uint, check_word
from .model import (
    Attribute,
    Connection,
    Direction,
    Media,
    Origin,
    SessionDescription,
    Timing,
)

__all__ = ["Capabilities", "MediaCapability", "hold", "make_answer", "make_offer", "resume"]

#: Dynamic RTP payload types (RFC 3551 §3).
_DYNAMIC_PAYLOAD_TYPES = range(96, 128)
#: The number most stacks (PJSIP, baresip, Asterisk) give telephone-event.
_TELEPHONE_EVENT_PAYLOAD_TYPE = 101
#: An offered a=ptime in this range (milliseconds) is echoed in the answer when the
#: local side has no preference; outside it, it is more likely a mistake than a wish.
_SENSIBLE_PTIME = range(10, 201)
#: RFC 3264 §5: the initial version must be below 2**62 - 1, so that it cannot roll
#: over; a new session's version starts at its id, as in PJSIP and the RFC's examples.
_SESSION_ID_LIMIT = 2**62 - 1


@dataclass(frozen=True, slots=True)
class MediaCapability:
    """One stream the local side can take part in: ``m=<media> <port> <proto>`` with
    these codecs, in order of preference.

    ``direction`` is what the local side wants (an answer never goes beyond it);
    ``ptime`` the packetization it asks for; ``host`` a c= address for this stream
    when it differs from :attr:`Capabilities.host`. Codecs without a payload type get
    one in the offer (:func:`make_offer`).
    """

    media: str
    port: int
    codecs: tuple[Codec, ...]
    proto: str = "RTP/AVP"
    direction: Direction = Direction.SENDRECV
    ptime: int | None = None
    host: str | None = None

    def __post_init__(self) -> None:
        check_token(self.media, "a capability's media type")
        check_uint(self.port, "a capability's port", low=1, high=65535)
        check_proto(self.proto, "a capability's proto")
        if not isinstance(self.codecs, tuple) or not self.codecs:
            raise LocalProtocolError(f"a capability needs a tuple of codecs, got {self.codecs!r}")
        numbers: set[int] = set()
        for codec in self.codecs:
            if not isinstance(codec, Codec):
                raise LocalProtocolError(f"codecs must be Codec values, got {codec!r}")
            if codec.payload_type is not None:
                if codec.payload_type in numbers:
                    raise LocalProtocolError(f"payload type {codec.payload_type} used twice")
                numbers.add(codec.payload_type)
        if not isinstance(self.direction, Direction):
            raise LocalProtocolError(f"direction must be a Direction, got {self.direction!r}")
        if self.ptime is not None:
            check_uint(self.ptime, "ptime (milliseconds)", low=1, high=10_000)
        if self.host is not None:
            check_word(self.host, "a capability's host")

    @classmethod
    def of(
        cls, media: str, port: int, codecs: Iterable[str | Codec], **options: Any
    ) -> MediaCapability:
        """A capability whose codecs may be given by name (``"PCMU"``,
        ``"opus/48000/2"``: see :meth:`Codec.from_name`); ``options`` are the other
        fields (``proto=``, ``direction=``, ``ptime=``, ``host=``)."""
        if isinstance(codecs, str):
            raise LocalProtocolError("codecs is a sequence of names, not one string")
        resolved = tuple(c if isinstance(c, Codec) else Codec.from_name(c) for c in codecs)
        return cls(media, port, resolved, **options)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the local side can do: its address (the c= and o= lines) and its streams.

    ``Capabilities.audio(...)`` covers the common case of one audio stream; for more,
    pass several :class:`MediaCapability` (``MediaCapability.of("video", ...)``).
    """

    host: str
    media: tuple[MediaCapability, ...]
    username: str = "-"
    session_name: str = "-"

    def __post_init__(self) -> None:
        check_word(self.host, "Capabilities.host")
        if not isinstance(self.media, tuple) or not all(
            isinstance(m, MediaCapability) for m in self.media
        ):
            raise LocalProtocolError(
                f"media must be a tuple of MediaCapability, got {self.media!r}"
            )
        check_word(self.username, "Capabilities.username")
        if self.session_name != " ":
            check_text(self.session_name, "Capabilities.session_name")

    @classmethod
    def audio(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 40000,
        codecs: Iterable[str | Codec] = ("PCMU", "PCMA", "telephone-event"),
        ptime: int | None = None,
        direction: Direction = Direction.SENDRECV,
        username: str = "-",
        session_name: str = "-",
    ) -> Capabilities:
        """One RTP/AVP audio stream at ``host:port`` with ``codecs`` (by name or
        :class:`Codec`), in order of preference."""
        stream = MediaCapability.of("audio", port, codecs, ptime=ptime, direction=direction)
        return cls(host, (stream,), username, session_name)


# -- offers --------------------------------------------------------------------------


def make_offer(
    capabilities: Capabilities,
    *,
    previous: SessionDescription | None = None,
    session_id: int | None = None,
    rng: random.Random | None = None,
) -> SessionDescription:
    """An offer with one m= line per stream of ``capabilities`` (RFC 3264 §5).

    Without ``previous`` this starts a session: its id is ``session_id`` or drawn from
    ``rng`` (``random.SystemRandom()`` when neither is given), and its version starts
    at the id. With ``previous`` (the last description this side sent in the session)
    it is a new offer in that session (§8): the same o= line, the version incremented
    only if something changed (the same description comes back unchanged otherwise);
    the m= lines keep their places, a stream of the same media type keeps its dynamic
    payload numbers, and a previous stream with no capability left is disabled with
    port 0 (§8.2).
    """
    _check_args(capabilities, previous, session_id)
    slots = previous.media if previous is not None else ()
    media: list[Media] = []
    for index, stream in enumerate(capabilities.media):
        earlier = slots[index] if index < len(slots) else None
        if earlier is not None and earlier.media.lower() != stream.media.lower():
            earlier = None  # §8.3.3 lets a slot change media type; nothing carries over
        media.append(_offer_media(stream, earlier))
    media.extend(_disabled(earlier) for earlier in slots[len(capabilities.media) :])
    return _session(
        capabilities, media, (Timing(),), previous=previous, session_id=session_id, rng=rng
    )


def _offer_media(stream: MediaCapability, earlier: Media | None) -> Media:
    codecs = _numbered(stream.codecs, earlier.codecs if earlier is not None else ())
    return _own_media(
        stream.media, stream.proto, stream, codecs, ptime=stream.ptime, direction=stream.direction
    )


def _own_media(
    media: str,
    proto: str,
    stream: MediaCapability,
    codecs: list[Codec],
    *,
    ptime: int | None,
    direction: Direction,
    mid: str | None = None,
) -> Media:
    """Our m= section for *stream*, offered or answered (RFC 3264 §5.1, §6.1): its port
    and connection, *codecs* in order with their rtpmap/fmtp lines, then ``a=ptime``,
    the direction and, in an answer, the offer's ``a=mid`` (RFC 5888 §9.1)."""
    attributes = _codec_attributes(codecs)
    if ptime is not None:
        attributes.append(Attribute("ptime", str(ptime)))
    attributes.append(Attribute(direction.value))
    if mid is not None:
        attributes.append(Attribute("mid", mid))
    return Media(
        media,
        stream.port,
        proto,
        tuple(str(codec.payload_type) for codec in codecs),
        connections=_own_connection(stream),
        attributes=tuple(attributes),
    )


def _numbered(codecs: tuple[Codec, ...], earlier: tuple[Codec, ...]) -> list[Codec]:
    """``codecs`` with payload types: their own, else the one the same codec had in the
    previous offer, else the RFC 3551 static type, else 101 for telephone-event, else
    the first free dynamic type.

    RFC 3264 §8.3.2: within a stream, a dynamic payload number keeps its codec for the
    whole session. So a codec keeps its number, and a new codec avoids the numbers the
    previous offer gave to codecs now dropped (as far as the previous offer tells; only
    when no other number is left is one of them reused).
    """
    taken = {codec.payload_type for codec in codecs if codec.payload_type is not None}
    dropped = {
        old.payload_type
        for old in earlier
        if old.payload_type is not None and not any(old.matches(new) for new in codecs)
    }
    numbered: list[Codec] = []
    for codec in codecs:
        number = codec.payload_type
        if number is None:
            number = _free_payload_type(codec, earlier, taken | dropped)
            if number is None:
                number = _free_payload_type(codec, earlier, taken)
            if number is None:
                raise LocalProtocolError(
                    "more codecs than the 32 dynamic RTP payload types (96-127)"
                )
            taken.add(number)
        numbered.append(codec if number == codec.payload_type else _renumbered(codec, number))
    return numbered


def _free_payload_type(codec: Codec, earlier: tuple[Codec, ...], taken: set[int]) -> int | None:
    candidates = [c.payload_type for c in earlier if c.matches(codec)]
    candidates.append(static_payload_type(codec))
    if codec.encoding.lower() == "telephone-event":
        candidates.append(_TELEPHONE_EVENT_PAYLOAD_TYPE)
    candidates.extend(_DYNAMIC_PAYLOAD_TYPES)
    for number in candidates:
        if number is not None and number not in taken:
            return number
    return None


def _renumbered(codec: Codec, number: int) -> Codec:
    return Codec(codec.encoding, codec.clock_rate, codec.channels, codec.fmtp, number)


def _codec_attributes(codecs: Iterable[Codec]) -> list[Attribute]:
    """An a=rtpmap for every format (static ones too, as PJSIP and browsers write them:
    it costs a line and spares the peer a table), each followed by its a=fmtp."""
    attributes: list[Attribute] = []
    for codec in codecs:
        attributes.append(Attribute("rtpmap", f"{codec.payload_type} {codec.rtpmap}"))
        if codec.fmtp:
            attributes.append(Attribute("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    return attributes


def _own_connection(stream: MediaCapability) -> tuple[Connection, ...]:
    return (Connection.for_host(stream.host),) if stream.host is not None else ()


def _disabled(media: Media) -> Media:
    """A stream taken out of an offer or refused in an answer: port 0, its formats kept
    (§6: the formats are ignored, but the m= line needs them), no attributes but a=mid,
    so that a peer grouping streams (RFC 5888) can still tell which one it is."""
    mid = media.mid
    return Media(
        media.media,
        0,
        media.proto,
        media.formats,
        attributes=(Attribute("mid", mid),) if mid is not None else (),
    )


# -- answers -------------------------------------------------------------------------


def make_answer(
    offer: SessionDescription,
    capabilities: Capabilities,
    *,
    previous: SessionDescription | None = None,
    session_id: int | None = None,
    rng: random.Random | None = None,
) -> SessionDescription:
    """The answer to ``offer`` (RFC 3264 §6).

    * The same number of m= lines, in the same order; t= as in the offer.
    * Each offered stream takes the first unused capability of the same media type and
      transport that shares a codec with it (PJSIP's rule). The answer lists the
      shared codecs in the offer's order, with the offer's payload numbers and rtpmap;
      an fmtp is the local codec's, else the offer's. telephone-event is kept when both
      sides have it, with the events both support (RFC 4733 §2.4.1); it, like comfort
      noise, does not count as a shared codec by itself.
    * Direction (§6.1): the offer's mirrored (sendonly -> recvonly, recvonly ->
      sendonly, inactive -> inactive), within what the capability allows. An offer
      whose c= address is 0.0.0.0 (the RFC 2543 hold, §8.4) is not sent to.
    * A stream the offer disabled, a multicast stream (§6.2 is not implemented), an
      unknown media type or transport, or one without a shared codec gets port 0.
    * ptime: the capability's, else the offer's when it is 10-200 ms.

    ``previous`` (the last description this side sent in the session), ``session_id``
    and ``rng`` make the o= line as in :func:`make_offer`.

    Raises :class:`~sipsans.errors.RemoteProtocolError` with status hint 488 (Not
    Acceptable Here) when the offer has active streams and none can be accepted: a
    UAS answers the request with that status rather than with an answer refusing
    everything, as PJSIP does.
    """
    if not isinstance(offer, SessionDescription):
        raise LocalProtocolError(f"offer must be a SessionDescription, got {offer!r}")
    _check_args(capabilities, previous, session_id)
    used: set[int] = set()
    media = [_answer_media(offer, offered, capabilities, used) for offered in offer.media]
    if any(m.port for m in offer.media) and not any(m.port for m in media):
        raise RemoteProtocolError(
            "SDP offer: no offered stream can be accepted (no shared media type, transport"
            " and codec)",
            status_hint=488,
        )
    return _session(
        capabilities, media, offer.times, previous=previous, session_id=session_id, rng=rng
    )


def _answer_media(
    offer: SessionDescription, offered: Media, capabilities: Capabilities, used: set[int]
) -> Media:
    address = offer.connection_of(offered)
    if offered.port == 0 or address is None or _is_multicast(address):
        return _disabled(offered)
    for index, stream in enumerate(capabilities.media):
        if (
            index in used
            or stream.media.lower() != offered.media.lower()
            or stream.proto.upper() != offered.proto.upper()
        ):
            continue
        codecs = _shared_codecs(offered, stream)
        if codecs:
            used.add(index)
            break
    else:
        return _disabled(offered)
    wanted = offer.direction_of(offered)
    if _is_unspecified(address) and not _uses_ice(offer, offered):
        wanted = wanted & Direction.SENDONLY  # §8.4: "neither RTP nor RTCP" to 0.0.0.0
    ptime = stream.ptime
    if ptime is None and offered.ptime in _SENSIBLE_PTIME:
        ptime = offered.ptime
    return _own_media(
        offered.media,
        offered.proto,
        stream,
        codecs,
        ptime=ptime,
        direction=wanted.mirrored() & stream.direction,
        mid=offered.mid,
    )


def _shared_codecs(offered: Media, stream: MediaCapability) -> list[Codec]:
    """The offered codecs the stream also has, in the offer's order; empty when only
    auxiliary formats (telephone-event, CN) are shared."""
    shared: list[Codec] = []
    real_codec = False
    for codec in offered.codecs:
        local = next((c for c in stream.codecs if c.matches(codec)), None)
        if local is None:
            continue
        name = codec.encoding.lower()
        if name == "telephone-event":
            events = parse_events(codec.fmtp) & parse_events(local.fmtp)
            if not events:
                continue
            fmtp: str | None = format_events(events)
        else:
            fmtp = local.fmtp if local.fmtp is not None else codec.fmtp
        shared.append(
            Codec(codec.encoding, codec.clock_rate, codec.channels, fmtp, codec.payload_type)
        )
        real_codec = real_codec or name not in AUXILIARY_ENCODINGS
    return shared if real_codec else []


def _ip(connection: Connection) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(connection.address.split("/", 1)[0])
    except ValueError:
        return None  # a host name


def _is_multicast(connection: Connection) -> bool:
    address = _ip(connection)
    return address is not None and address.is_multicast


def _is_unspecified(connection: Connection) -> bool:
    address = _ip(connection)
    return address is not None and address.is_unspecified


def _uses_ice(offer: SessionDescription, media: Media) -> bool:
    """With ICE, c=0.0.0.0 (and port 9) is the placeholder of an offer whose candidates
    come later (trickle ICE, RFC 8840), not the RFC 2543 hold."""
    return media.attribute("ice-ufrag") is not None or offer.attribute("ice-ufrag") is not None


# -- hold and resume -----------------------------------------------------------------


def hold(sd: SessionDescription) -> SessionDescription:
    """The offer that puts the streams of ``sd`` (this side's last description) on
    hold (RFC 3264 §8.4): each active stream stops receiving, so sendrecv becomes
    sendonly and recvonly becomes inactive. The version is incremented; a description
    already on hold comes back unchanged."""
    return _redirect(sd, lambda direction, index: direction & Direction.SENDONLY)


def resume(
    sd: SessionDescription, *, original: SessionDescription | None = None
) -> SessionDescription:
    """The offer that takes the streams of ``sd`` off hold: each active stream receives
    again (sendonly -> sendrecv, inactive -> recvonly), the reverse of :func:`hold`.
    With ``original`` (the description before the hold), each stream gets its
    direction from there instead, so that a stream that was inactive stays so."""

    def restored(direction: Direction, index: int) -> Direction:
        if original is not None and index < len(original.media):
            return original.direction_of(original.media[index])
        return Direction.of(sends=direction.sends, receives=True)

    return _redirect(sd, restored)


def _redirect(
    sd: SessionDescription, rule: Callable[[Direction, int], Direction]
) -> SessionDescription:
    """``sd`` with each active stream's direction replaced by ``rule(direction, index)``
    (written on the m= line, the session-level one dropped), version incremented."""
    if not isinstance(sd, SessionDescription):
        raise LocalProtocolError(f"expected a SessionDescription, got {sd!r}")
    current = [sd.direction_of(m) for m in sd.media]
    wanted = [rule(d, i) for i, d in enumerate(current)]
    active = [m.port != 0 for m in sd.media]
    if all(w == c for w, c, a in zip(wanted, current, active, strict=True) if a):
        return sd
    media = tuple(
        m.with_direction(w) if a else m for m, w, a in zip(sd.media, wanted, active, strict=True)
    )
    attributes = tuple(a for a in sd.attributes if a.name.lower() not in _DIRECTION_NAMES)
    return _versioned(sd.replace(attributes=attributes, media=media), sd)


_DIRECTION_NAMES = frozenset(d.value for d in Direction)


# -- o= and versions -----------------------------------------------------------------


def _check_args(
    capabilities: Capabilities, previous: SessionDescription | None, session_id: int | None
) -> None:
    if not isinstance(capabilities, Capabilities):
        raise LocalProtocolError(f"capabilities must be Capabilities, got {capabilities!r}")
    if previous is not None:
        if not isinstance(previous, SessionDescription):
            raise LocalProtocolError(f"previous must be a SessionDescription, got {previous!r}")
        if session_id is not None:
            raise LocalProtocolError("a later description keeps the previous session id")
    if session_id is not None:
        check_uint(session_id, "session_id", high=_SESSION_ID_LIMIT - 1)


def _session(
    capabilities: Capabilities,
    media: list[Media],
    times: tuple[Timing, ...],
    *,
    previous: SessionDescription | None,
    session_id: int | None,
    rng: random.Random | None,
) -> SessionDescription:
    if previous is not None:
        origin = previous.origin  # RFC 3264 §8: the o= line stays, but for the version
    else:
        if session_id is None:
            session_id = (rng if rng is not None else random.SystemRandom()).randrange(
                1, _SESSION_ID_LIMIT
            )
        host = capabilities.host
        origin = Origin(
            capabilities.username,
            session_id,
            session_id,
            host,
            "IN",
            "IP6" if ":" in host else "IP4",
        )
    candidate = SessionDescription(
        origin,
        capabilities.session_name,
        connection=Connection.for_host(capabilities.host),
        times=times,
        media=tuple(media),
    )
    return candidate if previous is None else _versioned(candidate, previous)


def _versioned(candidate: SessionDescription, previous: SessionDescription) -> SessionDescription:
    """``previous`` itself when ``candidate`` (which carries previous's o= line) says
    the same, else ``candidate`` with the version incremented (RFC 3264 §8)."""
    if candidate == previous:
        return previous
    return candidate.with_version(previous.version + 1)
