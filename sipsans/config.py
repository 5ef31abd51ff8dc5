"""Frozen configuration objects with safe defaults.

Every hard limit of the core lives here, so that no input can make sipsans use
unbounded memory or time (DESIGN.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ParserLimits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParserLimits:
    """Bounds applied by :func:`sipsans.parse_message` and :class:`sipsans.StreamFramer`.

    The defaults accept every real capture we know of (the 9.5 KB datagrams of
    ``sip-long-via-paths.pcap`` included) while keeping the worst case small.
    """

    #: Largest message, start line to end of body (a UDP datagram cannot exceed 65,535).
    max_message_size: int = 65_535
    #: Largest header section (start line and headers, without the body).
    max_header_size: int = 32_768
    #: Most header lines (after unfolding) in one message.
    max_headers: int = 256
    #: Longest single header line after unfolding.
    max_line_length: int = 16_384
    #: Largest body a Content-Length may announce.
    max_body_size: int = 65_535
    #: Most bytes a StreamFramer buffers for one connection while a message is incomplete.
    max_buffer_size: int = 131_072

    def __post_init__(self) -> None:
        for name in (
            "max_message_size",
            "max_header_size",
            "max_headers",
            "max_line_length",
            "max_body_size",
            "max_buffer_size",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"ParserLimits.{name} must be a positive integer")
