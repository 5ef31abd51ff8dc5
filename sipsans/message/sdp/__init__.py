"""SDP, the Session Description Protocol (RFC 8866), and the offer/answer model of
RFC 3264: the media half of a call, without any media. Imported as :mod:`sipsans.sdp`.

* :mod:`.model`: :class:`SessionDescription` and its parts (:class:`Origin`,
  :class:`Connection`, :class:`Bandwidth`, :class:`Timing`, :class:`Media`,
  :class:`Attribute`, :class:`Direction`); ``bytes(sd)`` is the wire form.
* :mod:`.parser`: :func:`parse_sdp`, lenient where peers slip, a
  :class:`~sipsans.errors.RemoteProtocolError` naming the line otherwise.
* :mod:`.codecs`: :class:`Codec`, RFC 3551 static payload types, telephone-event lists.
* :mod:`.offer_answer`: :class:`Capabilities`, :func:`make_offer`, :func:`make_answer`,
  :func:`hold`, :func:`resume`.

Pure: no I/O, no clock; randomness (the o= session id) comes from an injected ``rng``.
"""

from __future__ import annotations

from .codecs import STATIC_PAYLOAD_TYPES, Codec
from .model import (
    Attribute,
    Bandwidth,
    Connection,
    Direction,
    Media,
    Origin,
    SessionDescription,
    Timing,
)
from .offer_answer import Capabilities, MediaCapability, hold, make_answer, make_offer, resume
from .parser import MAX_SDP_LINES, MAX_SDP_SIZE, parse_sdp

__all__ = [
    "MAX_SDP_LINES",
    "MAX_SDP_SIZE",
    "STATIC_PAYLOAD_TYPES",
    "Attribute",
    "Bandwidth",
    "Capabilities",
    "Codec",
    "Connection",
    "Direction",
    "Media",
    "MediaCapability",
    "Origin",
    "SessionDescription",
    "Timing",
    "hold",
    "make_answer",
    "make_offer",
    "parse_sdp",
    "resume",
]
