"""The media side of ``sipsans call`` and ``sipsans uas``: SDP offers and answers made
with :mod:`sipsans.sdp` (RFC 3264), and the UDP port they advertise.

No media is produced: :class:`MediaPort` binds a UDP socket of its own (never the SIP
socket, so RTP never reaches the SIP parser) and reads and drops what arrives, counting
it. :class:`Negotiator` makes this side's offers and answers from ``--codecs``: the
codecs both sides have (in the offerer's order), telephone-event when both have it,
and the offer's direction mirrored (a ``sendonly`` hold is answered ``recvonly``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket

import sipsans
from sipsans._speed import remember
from sipsans.sdp import Capabilities, Codec, SessionDescription, make_answer, make_offer, parse_sdp

from .common import CommandError

__all__ = [
    "DEFAULT_CODECS",
    "MediaPort",
    "Negotiated",
    "Negotiator",
    "add_media_options",
    "codec_list",
    "codec_of",
]

#: What a ``sipsans`` UA offers and accepts unless ``--codecs`` says otherwise.
DEFAULT_CODECS = ("PCMU", "PCMA", "telephone-event")
#: Codecs that carry no audio of their own: never "the codec" of a call.
_SIDE_CODECS = frozenset({"telephone-event", "cn"})


def codec_list(text: str) -> tuple[str, ...]:
    """An argparse type: ``PCMA,telephone-event`` (names as :meth:`Codec.from_name`)."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("name at least one codec")
    for name in names:
        try:
            Codec.from_name(name)
        except sipsans.LocalProtocolError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def add_media_options(sub: argparse.ArgumentParser) -> None:
    media = sub.add_argument_group("media (SDP, RFC 3264; no media is sent)")
    media.add_argument(
        "--codecs",
        type=codec_list,
        default=DEFAULT_CODECS,
        metavar="LIST",
        help="codecs offered and accepted, in order of preference (default:"
        f" {','.join(DEFAULT_CODECS)})",
    )
    media.add_argument(
        "--media-port",
        type=int,
        default=0,
        metavar="PORT",
        help="UDP port advertised for RTP (0: a free one; never the SIP port)",
    )


def codec_of(sd: SessionDescription) -> str:
    """The codec a description settles on: its first active stream's first codec that
    carries audio (``"PCMA/8000"``), or ``"none"``."""
    for media in sd.media:
        if media.port == 0:
            continue
        for codec in media.codecs:
            if codec.encoding.lower() not in _SIDE_CODECS:
                return f"{codec.encoding}/{codec.clock_rate}"
    return "none"


class MediaPort:
    """A UDP socket bound for RTP and read to nothing: what the SDP advertises.

    ``port`` 0 takes a free one; the SIP ports in ``avoid`` are refused, as the OS
    never gives one of them for 0.
    """

    def __init__(self, host: str, port: int = 0, *, avoid: tuple[int, ...] = ()) -> None:
        if port and port in avoid:
            raise CommandError(f"--media-port {port} is the SIP port: RTP needs one of its own")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise CommandError(
                f"cannot bind the media port {host}:{port}: {exc.strerror}"
            ) from None
        self._sock.setblocking(False)
        self.port: int = self._sock.getsockname()[1]
        #: Datagrams received (and dropped).
        self.received = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._drain)

    def _drain(self) -> None:
        for _ in range(64):
            try:
                self._sock.recv(2048)
            except OSError:  # (BlockingIOError: drained; an ICMP error: nothing to do)
                return
            self.received += 1

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()


class Negotiated:
    """An answer (or offer) made: its bytes, the codec it settled on and the description
    (kept when it was built; else parsed again when asked for).

    A plain slotted class rather than a frozen dataclass: ``sipsans uas`` makes one per
    call, and a frozen dataclass's ``__init__`` costs three times as much."""

    __slots__ = ("body", "codec", "description")

    def __init__(
        self, body: bytes, codec: str, description: SessionDescription | None = None
    ) -> None:
        self.body = body
        self.codec = codec
        self.description = description

    def sdp(self) -> SessionDescription:
        """The description (parsed again when only the bytes were kept)."""
        return self.description if self.description is not None else parse_sdp(self.body)


#: The answer of make_answer() with this session id is the template of a memoised answer.
_SENTINEL_ID = 4_611_686_018_427_387_000
#: Offers longer than this are answered without the memo (each entry keeps its key).
_MEMO_KEY_LENGTH = 2048
#: Memoised initial answers, by offer bytes: head, tail (the o= ids go between), codec.
_AnswerTemplate = tuple[bytes, bytes, str]


class Negotiator:
    """This side's offers and answers for ``caps``; ``rng`` draws the o= session ids.

    Initial answers are memoised by the offer's bytes: a peer sends the same offer
    call after call (sipp does, and so do most phones), and parsing and negotiating it
    again (about 90 µs) would cost a loaded ``sipsans uas`` a third of its calls per
    second. The memo keeps the answer's bytes with a hole for the o= session id, which
    stays new for every call (RFC 8866 §5.2: the o= line names one session). It is
    bounded (:func:`sipsans._memo.remember`) and holds only bytes.
    """

    def __init__(self, caps: Capabilities, rng: random.Random) -> None:
        self.caps = caps
        self._rng = rng
        self._answers: dict[bytes, _AnswerTemplate] = {}
        self._last_id = rng.getrandbits(62)

    def _session_id(self) -> int:
        """A new o= session id: one after the last, from a random start below 2**62
        (RFC 3264 §5: it fits a signed 64-bit integer; RFC 8866 §5.2 leaves how it is
        chosen to the tool, which must make it unique for its address)."""
        self._last_id = (self._last_id + 1) % (2**62)
        return self._last_id

    def offer(self, previous: SessionDescription | None = None) -> Negotiated:
        """An offer (RFC 3264 §5), or a new one in the session of ``previous`` (§8)."""
        sd = make_offer(self.caps, previous=previous, rng=self._rng)
        return Negotiated(bytes(sd), codec_of(sd), sd)

    def answer(self, offer: bytes, previous: SessionDescription | None = None) -> Negotiated:
        """The answer to ``offer`` (RFC 3264 §6); a new answer in the session of
        ``previous`` for a re-INVITE or UPDATE. Raises RemoteProtocolError: 400 for a
        body that does not parse, 488 when nothing can be accepted."""
        if previous is None and len(offer) <= _MEMO_KEY_LENGTH:
            found = self._answers.get(offer) or self._template(offer)
            if found is not None:
                head, tail, codec = found
                ids = str(self._session_id()).encode()
                return Negotiated(head + ids + b" " + ids + tail, codec)
        sd = make_answer(parse_sdp(offer), self.caps, previous=previous, rng=self._rng)
        return Negotiated(bytes(sd), codec_of(sd), sd)

    def _template(self, offer: bytes) -> _AnswerTemplate | None:
        sd = make_answer(parse_sdp(offer), self.caps, session_id=_SENTINEL_ID)
        parts = bytes(sd).split(str(_SENTINEL_ID).encode())
        if len(parts) != 3 or parts[1] != b" ":
            return None  # (the number appears elsewhere too: answered without the memo)
        return remember(self._answers, offer, (parts[0], parts[2], codec_of(sd)), 256)
