"""Frozen configuration objects with safe defaults.

Every hard limit of the core lives here, so that no input can make sipsans use
unbounded memory or time (DESIGN.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EndpointConfig", "ParserLimits"]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointConfig:
    """Settings of an :class:`sipsans.Endpoint` (the transaction layer).

    The timer defaults are RFC 3261's (§17.1.1.1, Table 4 of Appendix A).
    """

    #: The advertised address put in the Via sent-by of every request (§18.1.1) and
    #: checked in the top Via of every response (§18.1.2). Not the bind address.
    advertised_host: str = "127.0.0.1"
    advertised_port: int = 5060
    #: RTT estimate, the base of every retransmission interval.
    t1: float = 0.5
    #: Longest retransmission interval for non-INVITE requests and INVITE responses.
    t2: float = 4.0
    #: Longest time a message may linger in the network.
    t4: float = 5.0
    #: Timer D on unreliable transports; §17.1.1.2 asks for at least 32 s.
    timer_d: float = 32.0
    #: An INVITE server transaction sends 100 Trying itself when the TU has not
    #: answered within this many seconds (§17.2.1); None never sends one.
    trying_delay: float | None = 0.2
    #: Path MTU for §18.1.1: a UDP request larger than ``mtu - 200`` bytes goes over TCP.
    mtu: int = 1500
    #: Most transactions (client and server) in flight, i.e. not yet settled: a server
    #: transaction settles once its final response is sent, a client one once its final
    #: response arrives. Past it, new requests from the network get a stateless 503 with
    #: Retry-After and send_request raises.
    max_transactions: int = 65_536
    #: Most settled transactions kept to absorb retransmissions until their timer ends
    #: them (Timers D, I, J, K, L, M: up to 32 s on UDP, so a UAS taking 3,000 calls/s
    #: keeps about 192,000; some 1 KB each). Past it, the one that settled first ends
    #: early, as if its timer had fired: under such a load a late retransmission of its
    #: request is then taken for a new request rather than the memory growing unbounded.
    max_lingering: int = 262_144
    #: Seconds in the Retry-After of that 503 (§20.33).
    retry_after: int = 5
    #: Answer a request that merges with an ongoing transaction (same From tag,
    #: Call-ID and CSeq, no To tag, different transaction) with 482 (§8.2.2.2).
    #: A UAS wants this; a proxy that may see spirals does not.
    detect_merged_requests: bool = True
    #: On a CANCEL for an INVITE still in Proceeding, answer the INVITE with 487 at
    #: once (§9.2). False leaves the 487 to the TU, told by CancelReceived.
    answer_cancelled_invite: bool = True
    #: Parser and framer limits for everything received.
    limits: ParserLimits = ParserLimits()

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4", "timer_d"):
            if not getattr(self, name) > 0:
                raise ValueError(f"EndpointConfig.{name} must be positive")
        if self.t2 < self.t1:
            raise ValueError("EndpointConfig.t2 must not be smaller than t1 (RFC 3261 §17.1.2.2)")
        if self.trying_delay is not None and self.trying_delay < 0:
            raise ValueError("EndpointConfig.trying_delay must be >= 0 or None")
        if self.mtu <= 200:
            raise ValueError("EndpointConfig.mtu must exceed 200 bytes (RFC 3261 §18.1.1)")
        if self.max_transactions <= 0 or self.max_lingering <= 0:
            raise ValueError("EndpointConfig.max_transactions and max_lingering must be positive")
        if self.retry_after < 0:
            raise ValueError("EndpointConfig.retry_after must be >= 0 seconds")
        if not 0 < self.advertised_port < 65536:
            raise ValueError("EndpointConfig.advertised_port must be 1-65535")
