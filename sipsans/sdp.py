"""``sipsans.sdp``: session descriptions (RFC 8866) and offer/answer (RFC 3264).

The implementation lives in the message layer, :mod:`sipsans.message.sdp`; this module
is its public name::

    from sipsans.sdp import Capabilities, make_answer, parse_sdp

    answer = make_answer(parse_sdp(request.body), Capabilities.audio(host="192.0.2.1"))
"""

from __future__ import annotations

from .message.sdp import (
    MAX_SDP_LINES,
    MAX_SDP_SIZE,
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Bandwidth,
    Capabilities,
    Codec,
    Connection,
    Direction,
    Media,
    MediaCapability,
    Origin,
    SessionDescription,
    Timing,
    hold,
    make_answer,
    make_offer,
    parse_sdp,
    resume,
)

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
